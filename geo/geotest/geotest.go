// Package geotest builds small MaxMind DB files for tests, so a test can
// make loopback and documentation addresses "come from" any country.
package geotest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Shape is the record layout of the database.
type Shape int

const (
	// CountryCode records are {"country_code": "XX"}, like the embedded database.
	CountryCode Shape = iota
	// GeoLite2 records are {"country": {"iso_code": "XX"}}, like GeoLite2-Country.
	GeoLite2
)

// Build returns a MaxMind DB mapping each CIDR to a country code.
func Build(shape Shape, networks map[string]string) ([]byte, error) {
	dbType := "Switchyard-Test-Country"
	if shape == GeoLite2 {
		dbType = "GeoLite2-Country"
	}
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            dbType,
		IncludeReservedNetworks: true,
		BuildEpoch:              1767225600, // 2026-01-01
		RecordSize:              24,
	})
	if err != nil {
		return nil, fmt.Errorf("geotest: new tree: %w", err)
	}
	for cidr, cc := range networks {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			return nil, fmt.Errorf("geotest: %w", err)
		}
		var rec mmdbtype.Map
		if shape == GeoLite2 {
			rec = mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(cc)}}
		} else {
			rec = mmdbtype.Map{"country_code": mmdbtype.String(cc)}
		}
		if err := tree.Insert(n, rec); err != nil {
			return nil, fmt.Errorf("geotest: insert %s: %w", cidr, err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("geotest: write: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteFile builds a database into dir and returns its path.
func WriteFile(dir string, shape Shape, networks map[string]string) (string, error) {
	b, err := Build(shape, networks)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "test-country.mmdb")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return "", fmt.Errorf("geotest: %w", err)
	}
	return p, nil
}
