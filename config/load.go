package config

import (
	"fmt"
	"os"
	"path/filepath"
)

// LoadLB reads, decodes, defaults and validates an lb config file. On a
// bad file the error is an Errors listing every problem found.
func LoadLB(path string) (*LB, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	return ParseLB(path, data)
}

// ParseLB is LoadLB on data already read; filename names it in errors and
// relative file paths in it (certificates, ACME cache and roots, the
// access log) are resolved against filename's directory, in place, so the
// returned config holds paths usable from the process's working directory.
func ParseLB(filename string, data []byte) (*LB, error) {
	var c LB
	d, err := parse(filename, data, &c)
	if err != nil {
		return nil, err
	}
	defaultsLB(&c, d.has)
	resolveLB(&c, filepath.Dir(filename))
	validateLB(&c, d)
	if len(d.errs) > 0 {
		return nil, d.result()
	}
	return &c, nil
}

// LoadEdge reads, decodes, defaults and validates an edge config file.
func LoadEdge(path string) (*Edge, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	return ParseEdge(path, data)
}

// ParseEdge is LoadEdge on data already read; relative paths (certificates,
// public keys, the geo database, function files, the access log) are
// resolved against filename's directory, in place.
func ParseEdge(filename string, data []byte) (*Edge, error) {
	var c Edge
	d, err := parse(filename, data, &c)
	if err != nil {
		return nil, err
	}
	defaultsEdge(&c, d.has)
	resolveEdge(&c, filepath.Dir(filename))
	validateEdge(&c, d)
	if len(d.errs) > 0 {
		return nil, d.result()
	}
	return &c, nil
}

// result is the sorted error list, with a last line when it was cut short.
func (d *decoder) result() Errors {
	es := d.errs.sort()
	if d.capped {
		last := es[len(es)-1]
		es = append(es, &FieldError{File: d.file, Line: last.Line, Col: last.Col, Msg: fmt.Sprintf("too many errors: only the first %d are shown", maxErrors)})
	}
	return es
}
