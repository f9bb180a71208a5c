package config

import (
	"fmt"
	"sort"
	"strings"
)

// FieldError is one problem in a config file, located by position and by
// the dotted path of the field (listeners[0].rules[1].conditions.path[0]).
// A missing field is reported at the mapping that should have held it.
type FieldError struct {
	File      string
	Line, Col int
	Path      string
	Msg       string
}

// Error formats the error as FILE:LINE:COL: path: message, the form editors
// and CI annotations jump to.
func (e *FieldError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", e.File, e.Line, e.Col, e.Path, e.Msg)
}

// Errors is every problem found in one file, sorted by position. Loading
// reports all of them at once so a user fixes a file in one pass.
type Errors []*FieldError

// Error is one line per error.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sort orders errors by line, column, then path and message so the output
// is stable whatever order the checks ran in; exact duplicates are dropped.
func (es Errors) sort() Errors {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Msg < b.Msg
	})
	out := make(Errors, 0, len(es))
	for _, e := range es {
		if len(out) > 0 && *e == *out[len(out)-1] {
			continue
		}
		out = append(out, e)
	}
	return out
}
