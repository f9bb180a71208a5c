package obs

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// The fixed log keys of STYLE.md §6. Using the constants keeps lb and edge
// logs greppable with one vocabulary.
const (
	KeyListener    = "listener"
	KeyRule        = "rule"
	KeyTargetGroup = "target_group"
	KeyTarget      = "target"
	KeyClientIP    = "client_ip"
	KeyStatus      = "status"
	KeyCache       = "cache"
	KeyDuration    = "dur_s"
	KeyErr         = "err"
)

// ParseLevel maps debug|info|warn|error (case-insensitive) to a slog level.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("obs: parse log level %q: want debug, info, warn or error", s)
}

// NewLogger returns a logger writing to w at level ("debug", "info",
// "warn", "error"; "" is info) in format ("text" or "json"; "" is text).
// Unknown values are an error, so a typo in a flag fails at start-up.
func NewLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	lv, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("obs: parse log format %q: want text or json", format)
}
