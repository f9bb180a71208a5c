package main

import (
	"errors"
	"fmt"
	"html/template"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/edge"
	"github.com/switchyard/switchyard/internal/obs"
)

// startAdmin serves the admin API of SPEC §4 on addr.
func (a *app) startAdmin(addr string) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("edge: admin listen %s: %w (change %s)", addr, err, a.adminHint)
	}
	a.adminLn = ln
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.health.Healthz)
	mux.HandleFunc("GET /readyz", a.health.Readyz)
	mux.Handle("GET /metrics", a.metrics.Handler())
	mux.HandleFunc("GET /api/v1/config", a.apiConfig)
	mux.HandleFunc("GET /api/v1/cache", func(w http.ResponseWriter, _ *http.Request) { obs.WriteJSON(w, 200, a.e.CacheStats()) })
	mux.HandleFunc("POST /api/v1/distributions/{name}/invalidations", a.apiInvalidate)
	mux.HandleFunc("GET /{$}", a.statusPage)
	methodNotAllowed := func(allow string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			obs.WriteError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path)
		}
	}
	mux.Handle("/api/v1/distributions/{name}/invalidations", methodNotAllowed("POST"))
	mux.Handle("/api/v1/cache", methodNotAllowed("GET"))
	mux.Handle("/api/v1/config", methodNotAllowed("GET"))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		obs.WriteError(w, http.StatusNotFound, "no such admin resource "+r.URL.Path)
	})
	h := obs.TokenAuth(func() string { return a.cfg.Load().Admin.Token.Reveal() }, mux)
	a.admin = obs.NewAdminServer(h, a.log)
	go func() {
		if err := a.admin.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("admin server stopped", "err", err)
		}
	}()
	return nil
}

func (a *app) apiConfig(w http.ResponseWriter, _ *http.Request) {
	cfg := a.cfg.Load()
	obs.WriteJSON(w, 200, map[string]any{"hash": config.Hash(cfg), "config": cfg, "geo": a.db.Info()})
}

type invalidationRequest struct {
	Paths []string `json:"paths"`
}

func (a *app) apiInvalidate(w http.ResponseWriter, r *http.Request) {
	var body invalidationRequest
	if err := obs.ReadJSON(r, 1<<20, &body); err != nil {
		obs.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if len(body.Paths) == 0 {
		obs.WriteError(w, http.StatusBadRequest, "paths: at least one path is required")
		return
	}
	name := r.PathValue("name")
	if err := a.e.Invalidate(name, body.Paths); err != nil {
		if errors.Is(err, edge.ErrUnknownDistribution) {
			obs.WriteError(w, http.StatusNotFound, err.Error())
			return
		}
		obs.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	id := invalidationID()
	a.log.Info("invalidated", "distribution", name, "paths", len(body.Paths), "id", id)
	obs.WriteJSON(w, http.StatusCreated, map[string]string{"id": id, "status": "Completed"})
}

// invalidationID looks like CloudFront's: "I" and 13 upper-case letters and digits.
func invalidationID() string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b strings.Builder
	b.WriteByte('I')
	for range 13 {
		b.WriteByte(chars[rand.IntN(len(chars))])
	}
	return b.String()
}

var statusTmpl = template.Must(template.New("status").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>edge status</title>
<style>body{font-family:sans-serif;margin:2em}td,th{padding:.2em 1em;text-align:left}</style></head><body>
<h1>edge</h1>
<p>config {{.Source}}, hash <code>{{.Hash}}</code>{{if .Draining}}, <b>draining</b>{{end}}</p>
<h2>Listeners</h2><ul>{{range .Listeners}}<li>{{.}}</li>{{end}}</ul>
<h2>Distributions</h2><table><tr><th>name</th><th>aliases</th><th>origins</th><th>behaviours</th></tr>
{{range .Dists}}<tr><td>{{.Name}}</td><td>{{.Aliases}}</td><td>{{len .Origins}}</td><td>{{len .CacheBehaviors}} + default</td></tr>{{end}}</table>
<h2>Cache</h2><p>{{.Cache.Objects}} objects, {{.Cache.Bytes}} bytes; {{.Cache.Hits}} hits, {{.Cache.Misses}} misses, hit ratio {{printf "%.3f" .Cache.HitRatio}}</p>
<h2>Geo</h2><p>{{.Geo.Source}} ({{.Geo.DatabaseType}}, built {{.Geo.BuildTime}})</p>
</body></html>`))

func (a *app) statusPage(w http.ResponseWriter, _ *http.Request) {
	cfg := a.cfg.Load()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = statusTmpl.Execute(w, map[string]any{
		"Source": a.source, "Hash": config.Hash(cfg), "Draining": a.health.Draining(),
		"Listeners": a.addrs(), "Dists": cfg.Distributions, "Cache": a.e.CacheStats(), "Geo": a.db.Info(),
	})
}
