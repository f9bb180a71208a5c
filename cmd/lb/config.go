package main

import (
	"io"
	"strings"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/internal/runtime"
)

// The config seam: package config decodes strictly with positions,
// defaults and cross-checks; these wrappers keep the wiring's names.

// loadLB reads, decodes, defaults and checks an lb config file. A bad
// file's error is a config.Errors with one FILE:LINE:COL line per problem.
func loadLB(path string) (*config.LB, error) { return config.LoadLB(path) }

// parseLB is loadLB on data already in memory (the lab default).
func parseLB(name string, data []byte) (*config.LB, error) { return config.ParseLB(name, data) }

// hashLB is the config hash shown by validate and the admin API.
func hashLB(c *config.LB) string { return config.Hash(c) }

// summaryLB is the one line validate prints on success.
func summaryLB(path string, c *config.LB) string { return config.SummaryLB(path, c) }

// printConfigErrors writes every error line of err.
func printConfigErrors(w io.Writer, path string, err error) { runtime.PrintConfigErrors(w, path, err) }

// configErrorLines splits err into its lines, for logging one record each.
func configErrorLines(err error) []string {
	return strings.Split(strings.TrimSpace(err.Error()), "\n")
}
