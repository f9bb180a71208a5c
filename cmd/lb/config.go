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
	"strconv"
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

// parseLB decodes data (named name in errors) strictly. Each top-level
// key and each listener and target group is decoded on its own, so one
// bad item does not hide the errors of the others.
func parseLB(name string, data []byte) (*config.LB, error) {
	var cfg config.LB
	var doc yaml.Node
	var errs configErrors
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, append(errs, yamlErrors(name, "", 1, 1, err)...)
	}
	if len(doc.Content) == 0 {
		return nil, append(errs, fmt.Sprintf("%s:1:1: listeners: at least one listener is required", name))
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, append(errs, fmt.Sprintf("%s:%d:%d: want a mapping of admin, listeners, target_groups, ...", name, root.Line, root.Column))
	}
	decode := func(path string, n *yaml.Node, v any) {
		if err := decodeStrict(n, v); err != nil {
			errs = append(errs, yamlErrors(name, path, n.Line, n.Column, err)...)
		}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "admin":
			decode("admin", v, &cfg.Admin)
		case "shutdown_timeout":
			decode("shutdown_timeout", v, &cfg.ShutdownTimeout)
		case "access_log":
			decode("access_log", v, &cfg.AccessLog)
		case "listeners", "target_groups":
			if v.Kind != yaml.SequenceNode {
				errs = append(errs, fmt.Sprintf("%s:%d:%d: %s: want a list", name, v.Line, v.Column, k.Value))
				continue
			}
			for j, item := range v.Content {
				path := fmt.Sprintf("%s[%d]", k.Value, j)
				if k.Value == "listeners" {
					var l config.Listener
					decode(path, item, &l)
					cfg.Listeners = append(cfg.Listeners, l)
				} else {
					var g config.TargetGroup
					decode(path, item, &g)
					cfg.TargetGroups = append(cfg.TargetGroups, g)
				}
			}
		default:
			errs = append(errs, fmt.Sprintf("%s:%d:%d: %s: unknown key", name, k.Line, k.Column, k.Value))
		}
	}
	applyDefaults(&cfg)
	if len(cfg.Listeners) == 0 {
		errs = append(errs, fmt.Sprintf("%s:1:1: listeners: at least one listener is required", name))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &cfg, nil
}

// decodeStrict decodes n into v refusing unknown keys.
func decodeStrict(n *yaml.Node, v any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	err = dec.Decode(v)
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// yamlErrors turns a yaml.v3 error into FILE:LINE:COL: path: message
// lines. Re-encoded nodes number lines from 1, so line numbers inside an
// item are offset by the item's own line.
func yamlErrors(name, path string, line, col int, err error) []string {
	var lines []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		lines = te.Errors
	} else {
		lines = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		ln, c, msg := line, col, l
		if m := yamlLine.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			if path != "" {
				ln, c = line+n-1, 1
			} else {
				ln, c = n, 1
			}
			msg = m[2]
		}
		p := path
		if p == "" {
			p = "config"
		}
		out = append(out, fmt.Sprintf("%s:%d:%d: %s: %s", name, ln, c, p, msg))
	}
	return out
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
