package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/switchyard/switchyard/config"
)

// The config seam. The strict loader of package config (line numbers,
// defaults, cross-checks) is being written beside this; until it lands,
// these functions decode strictly with yaml.v3, apply the defaults the
// wiring needs, and report errors in the FILE:LINE:COL: path: message form.

// loadLB reads, decodes and defaults an lb config file.
func loadLB(path string) (*config.LB, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("lb: read config %s: %w", path, err)
	}
	return parseLB(path, data)
}

var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// parseLB decodes data (named name in errors) strictly.
func parseLB(name string, data []byte) (*config.LB, error) {
	var cfg config.LB
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		var lines []string
		if errors.As(err, &te) {
			lines = te.Errors
		} else {
			lines = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
		}
		var errs configErrors
		for _, l := range lines {
			if m := yamlLine.FindStringSubmatch(l); m != nil {
				errs = append(errs, fmt.Sprintf("%s:%s:1: %s", name, m[1], m[2]))
			} else {
				errs = append(errs, fmt.Sprintf("%s:1:1: %s", name, l))
			}
		}
		return nil, errs
	}
	var errs configErrors
	applyDefaults(&cfg)
	if len(cfg.Listeners) == 0 {
		errs = append(errs, fmt.Sprintf("%s:1:1: listeners: at least one listener is required", name))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &cfg, nil
}

// configErrors prints one FILE:LINE:COL: path: message per line.
type configErrors []string

func (e configErrors) Error() string { return strings.Join(e, "\n") }

func applyDefaults(c *config.LB) {
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = config.Duration(30 * time.Second)
	}
	if c.AccessLog.Format == "" {
		c.AccessLog.Format = "alb"
	}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		if l.Protocol == "" {
			l.Protocol = "HTTP"
		}
		if l.IdleTimeout == 0 {
			l.IdleTimeout = config.Duration(60 * time.Second)
		}
		if l.XFF == "" {
			l.XFF = "append"
		}
		if l.DesyncMitigation == "" {
			l.DesyncMitigation = "defensive"
		}
	}
	for i := range c.TargetGroups {
		g := &c.TargetGroups[i]
		if g.Protocol == "" {
			g.Protocol = "HTTP"
		}
		if g.Algorithm == "" {
			g.Algorithm = "round_robin"
		}
		if g.DeregistrationDelay == nil {
			d := config.Duration(300 * time.Second)
			g.DeregistrationDelay = &d
		}
	}
}

// hashLB is the config hash shown by validate and the admin API.
func hashLB(c *config.LB) string {
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// summaryLB is the one line validate prints on success.
func summaryLB(path string, c *config.LB) string {
	rules := 0
	for _, l := range c.Listeners {
		rules += len(l.Rules)
	}
	return fmt.Sprintf("%s: ok: %d listeners, %d rules, %d target groups, hash %s",
		path, len(c.Listeners), rules, len(c.TargetGroups), hashLB(c))
}

// printConfigErrors writes every error line of err.
func printConfigErrors(w io.Writer, path string, err error) {
	fmt.Fprintln(w, err.Error())
}

// configErrorLines splits err into its lines, for logging one record each.
func configErrorLines(err error) []string {
	return strings.Split(strings.TrimSpace(err.Error()), "\n")
}
