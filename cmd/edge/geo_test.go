package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/geo/geotest"
)

func TestGeoCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runGeo([]string{"8.8.8.8", "127.0.0.1", "2001:4860:4860::8888"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	want := "8.8.8.8\tUS\n127.0.0.1\t--\n2001:4860:4860::8888\tUS\n"
	if out.String() != want {
		t.Fatalf("output %q, want %q", out.String(), want)
	}

	p, err := geotest.WriteFile(t.TempDir(), geotest.GeoLite2, map[string]string{"127.0.0.2/32": "FR"})
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := runGeo([]string{"127.0.0.2", "-db", p}, &out, &errb); code != 0 || out.String() != "127.0.0.2\tFR\n" {
		t.Fatalf("with -db: exit %d, %q %s", code, out.String(), errb.String())
	}

	errb.Reset()
	if code := runGeo([]string{"not-an-ip"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `invalid IP address "not-an-ip"`) {
		t.Fatalf("bad ip: exit %d, %q", code, errb.String())
	}
	if code := runGeo(nil, &out, &errb); code != 2 {
		t.Fatalf("no args: exit %d", code)
	}
	errb.Reset()
	if code := runGeo([]string{"-db", "/nonexistent.mmdb", "8.8.8.8"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "/nonexistent.mmdb") {
		t.Fatalf("missing db: exit %d, %q", code, errb.String())
	}
}
