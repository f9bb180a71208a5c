package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// demoKeyID names the throw-away key pair of the embedded default.
const demoKeyID = "KDEMO0SWITCHYARD"

// demo is the embedded default's origin and key pair (SPEC §3.2).
type demo struct {
	dir    string // holds the key pair; removed by Close
	origin string // host:port of the demo origin
	srv    *http.Server
}

// startDemo starts the demo origin on addr and writes a fresh ECDSA P-256
// key pair (the signing key to sign URLs with, the public key the edge
// trusts).
func startDemo(addr string) (*demo, error) {
	dir, err := os.MkdirTemp("", "edge-demo-")
	if err != nil {
		return nil, fmt.Errorf("edge: demo: %w", err)
	}
	d := &demo{dir: dir}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("edge: demo key: %w", err)
	}
	priv, _ := x509.MarshalPKCS8PrivateKey(key)
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err := errors.Join(
		os.WriteFile(filepath.Join(dir, "private.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv}), 0o600),
		os.WriteFile(filepath.Join(dir, "public.pem"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644),
	); err != nil {
		d.Close()
		return nil, fmt.Errorf("edge: demo key: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("edge: demo origin listen %s: %w (change it with -origin)", addr, err)
	}
	d.origin = ln.Addr().String()
	d.srv = &http.Server{Handler: demoOrigin(), ReadHeaderTimeout: 5 * time.Second}
	go d.srv.Serve(ln) //nolint:errcheck // ends at Close
	return d, nil
}

// Close stops the origin and removes the key pair.
func (d *demo) Close() {
	if d.srv != nil {
		d.srv.Close()
	}
	os.RemoveAll(d.dir)
}

func (d *demo) configYAML(httpAddr, adminAddr string) []byte {
	return []byte(fmt.Sprintf(`# The embedded default of edge (SPEC §3.2).
admin: {address: %q}
access_log: {path: stdout, format: cloudfront}
listeners:
  - {protocol: HTTP, address: %q}
cache: {max_size: 256MiB, max_object_size: 16MiB}
key_groups:
  - name: demo
    keys: [{id: %s, public_key: %q}]
distributions:
  - name: demo
    origins:
      - {id: demo-origin, url: "http://%s", custom_headers: {X-Origin-Verify: demo-secret}}
    default_cache_behavior:
      target_origin: demo-origin
      compress: true
      cache_key: {query_strings: none, headers: [], cookies: none}
    cache_behaviors:
      - path_pattern: /private/*
        target_origin: demo-origin
        trusted_key_groups: [demo]
        compress: true
    custom_error_responses:
      - {error_code: 404, response_code: 404, response_page_path: /404.html, error_caching_min_ttl: 10s}
`, adminAddr, httpAddr, demoKeyID, filepath.Join(d.dir, "public.pem"), d.origin))
}

func (d *demo) printTry(w io.Writer, edgeAddr, adminAddr string) {
	fmt.Fprintf(w, `edge: embedded default — demo origin on http://%[3]s, edge on http://%[1]s, admin on http://%[2]s
try:
  curl -si http://%[1]s/                      # twice: X-Cache Miss, then Hit with Age
  curl -si -H 'Accept-Encoding: br' http://%[1]s/style.css   # compressed, cached per encoding
  curl -s -o /dev/null -w '%%{time_total}s\n' http://%[1]s/slow   # 2 s, then instant from cache
  curl -si http://%[1]s/img/logo.png -o /dev/null -D -
  curl -si http://%[1]s/private/report.txt     # 403 MissingKey: needs a signed URL
  curl -si "$(edge sign url -key-pair-id %[4]s -private-key %[5]s -url http://%[1]s/private/report.txt -expires +1h)"
  curl -s -XPOST -d '{"paths":["/*"]}' http://%[2]s/api/v1/distributions/demo/invalidations
  curl -s http://%[2]s/api/v1/cache
`, edgeAddr, adminAddr, d.origin, demoKeyID, filepath.Join(d.dir, "private.pem"))
}

// demoOrigin serves cacheable pages, an image, a slow page and a
// /private/ area.
func demoOrigin() http.Handler {
	mux := http.NewServeMux()
	page := func(title, body string) string {
		return "<!doctype html><html><head><title>" + title + "</title><link rel=stylesheet href=/style.css></head><body><h1>" +
			title + "</h1>" + body + "</body></html>\n"
	}
	filler := strings.Repeat("<p>Switchyard edge demo origin: this page is cacheable for 60 seconds and compressible.</p>\n", 20)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page("Switchyard demo origin", fmt.Sprintf("<p>generated at %s</p>%s", time.Now().UTC().Format(time.RFC3339Nano), filler)))
	})
	mux.HandleFunc("GET /style.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Content-Type", "text/css")
		io.WriteString(w, strings.Repeat("body { font-family: sans-serif; margin: 2em; color: #222; }\n", 40))
	})
	logo := demoPNG()
	mux.HandleFunc("GET /img/logo.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=86400")
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("ETag", `"logo-1"`)
		w.Write(logo)
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Cache-Control", "max-age=30")
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "slow answer, cached for 30 s\n")
	})
	mux.HandleFunc("GET /private/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "private report for signed viewers only: "+r.URL.Path+"\n")
	})
	mux.HandleFunc("GET /404.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, page("Not found", "<p>The demo origin has no such page.</p>"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "not found\n")
	})
	return mux
}

func demoPNG() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for y := range 64 {
		for x := range 64 {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 4), 160, 255})
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}
