package main

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/internal/obs"
	"github.com/switchyard/switchyard/internal/runtime"
	tlsx "github.com/switchyard/switchyard/tls"
)

// maxAdminBody bounds a register/deregister body: 1 000 targets fit.
const maxAdminBody = 64 << 10

// adminHandler is the admin API of SPEC §4 over a.
func (a *app) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/healthz", obs.Methods(a.health.Healthz, http.MethodGet))
	mux.Handle("/readyz", obs.Methods(a.health.Readyz, http.MethodGet))
	mux.Handle("/metrics", obs.Methods(a.metrics.Handler().ServeHTTP, http.MethodGet))
	mux.Handle("/api/v1/config", obs.Methods(a.apiConfig, http.MethodGet))
	mux.Handle("/api/v1/target-groups", obs.Methods(a.apiTargetGroups, http.MethodGet))
	mux.Handle("/api/v1/target-groups/{name}/register", obs.Methods(a.apiRegister, http.MethodPost))
	mux.Handle("/api/v1/target-groups/{name}/deregister", obs.Methods(a.apiDeregister, http.MethodPost))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			obs.WriteError(w, http.StatusNotFound, "no admin endpoint "+r.URL.Path)
			return
		}
		obs.Methods(a.statusPage, http.MethodGet).ServeHTTP(w, r)
	})
	return obs.TokenAuth(func() string { return string(a.snapshot().cfg.Admin.Token) }, mux)
}

// configView is GET /api/v1/config: the running config, secrets redacted
// (config.Secret marshals as "[redacted]"), and its hash.
type configView struct {
	Hash     string     `json:"hash"`
	Source   string     `json:"source"`
	LoadedAt string     `json:"loaded_at"`
	Config   *config.LB `json:"config"`
	// Certificates are the served certificates of each HTTPS/TLS listener,
	// by listener name: names, key type, serial, expiry — never a key.
	Certificates map[string][]tlsx.CertInfo `json:"certificates,omitempty"`
}

func (a *app) apiConfig(w http.ResponseWriter, r *http.Request) {
	s := a.snapshot()
	obs.WriteJSON(w, http.StatusOK, configView{
		Hash: s.hash, Source: s.source, LoadedAt: s.loadedAt.UTC().Format("2006-01-02T15:04:05Z07:00"), Config: s.cfg,
		Certificates: a.certificates(),
	})
}

// groupView and targetView are the exact shape of SPEC §4.
type groupView struct {
	Name     string       `json:"name"`
	Protocol string       `json:"protocol"`
	Targets  []targetView `json:"targets"`
}

type targetView struct {
	ID       string `json:"id"`
	State    string `json:"state"`
	Reason   string `json:"reason"`
	InFlight int64  `json:"in_flight"`
}

// groupViews lists the running config's groups, in config order, with
// their live target state (draining targets included).
func (a *app) groupViews() []groupView {
	s := a.snapshot()
	out := make([]groupView, 0, len(s.cfg.TargetGroups))
	for _, tg := range s.cfg.TargetGroups {
		out = append(out, a.groupView(tg))
	}
	return out
}

func (a *app) groupView(tg config.TargetGroup) groupView {
	gv := groupView{Name: tg.Name, Protocol: tg.Protocol, Targets: []targetView{}}
	g := a.reg.Lookup(tg.Name)
	if g == nil {
		return gv
	}
	for _, t := range g.Targets() {
		gv.Targets = append(gv.Targets, targetView{
			ID: t.Addr, State: t.State().String(), Reason: t.Reason(), InFlight: max(t.InFlight(), 0),
		})
	}
	return gv
}

func (a *app) apiTargetGroups(w http.ResponseWriter, r *http.Request) {
	obs.WriteJSON(w, http.StatusOK, a.groupViews())
}

// targetsBody is the body of register and deregister.
type targetsBody struct {
	Targets []string `json:"targets"`
}

// maxTargetsPerCall mirrors the ELB API's limit on one RegisterTargets call.
const maxTargetsPerCall = 1000

// targetRequest decodes and checks a register/deregister call; on error
// it has answered already.
func (a *app) targetRequest(w http.ResponseWriter, r *http.Request) (config.TargetGroup, *runtime.Group, []string, bool) {
	name := r.PathValue("name")
	s := a.snapshot()
	var tg config.TargetGroup
	found := false
	for _, g := range s.cfg.TargetGroups {
		if g.Name == name {
			tg, found = g, true
			break
		}
	}
	if !found {
		obs.WriteError(w, http.StatusNotFound, fmt.Sprintf("target group %q not found", name))
		return tg, nil, nil, false
	}
	var body targetsBody
	if err := obs.ReadJSON(r, maxAdminBody, &body); err != nil {
		obs.WriteError(w, http.StatusBadRequest, "bad body: "+err.Error()+`; want {"targets":["127.0.0.1:9003"]}`)
		return tg, nil, nil, false
	}
	if len(body.Targets) == 0 {
		obs.WriteError(w, http.StatusBadRequest, `bad body: "targets" is empty`)
		return tg, nil, nil, false
	}
	if len(body.Targets) > maxTargetsPerCall {
		obs.WriteError(w, http.StatusBadRequest, fmt.Sprintf("bad body: %d targets, at most %d per call", len(body.Targets), maxTargetsPerCall))
		return tg, nil, nil, false
	}
	for i, t := range body.Targets {
		if err := checkTargetAddr(t); err != nil {
			obs.WriteError(w, http.StatusBadRequest, fmt.Sprintf("bad body: targets[%d]: %v", i, err))
			return tg, nil, nil, false
		}
	}
	if a.health.Draining() {
		obs.WriteError(w, http.StatusConflict, "lb is draining: targets cannot change")
		return tg, nil, nil, false
	}
	return tg, a.reg.Group(name), body.Targets, true
}

// checkTargetAddr accepts host:port with a numeric port 1..65535.
func checkTargetAddr(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port", s)
	}
	if host == "" || strings.ContainsAny(host, " /?#@") {
		return fmt.Errorf("%q has no valid host", s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%q: port must be 1..65535", s)
	}
	return nil
}

func (a *app) apiRegister(w http.ResponseWriter, r *http.Request) {
	tg, g, addrs, ok := a.targetRequest(w, r)
	if !ok {
		return
	}
	specs := make([]runtime.TargetSpec, len(addrs))
	for i, ad := range addrs {
		specs[i] = runtime.TargetSpec{Addr: ad}
	}
	added := g.Register(specs)
	a.api.Lock()
	for _, ad := range addrs {
		a.apiTargets[tg.Name+"\x00"+ad] = true
	}
	a.api.Unlock()
	a.log.Info("targets registered", obs.KeyTargetGroup, tg.Name, obs.KeyTarget, strings.Join(addrs, ","), "new", len(added))
	obs.WriteJSON(w, http.StatusOK, a.groupView(tg))
}

func (a *app) apiDeregister(w http.ResponseWriter, r *http.Request) {
	tg, g, addrs, ok := a.targetRequest(w, r)
	if !ok {
		return
	}
	var unknown []string
	for _, ad := range addrs {
		if t := g.Lookup(ad); t == nil || t.Draining() {
			unknown = append(unknown, ad)
		}
	}
	if len(unknown) > 0 {
		// ELB answers InvalidTarget; nothing changes.
		obs.WriteError(w, http.StatusBadRequest, "targets not registered in "+tg.Name+": "+strings.Join(unknown, ", "))
		return
	}
	g.Deregister(addrs, deregistrationDelay(tg))
	a.api.Lock()
	for _, ad := range addrs {
		delete(a.apiTargets, tg.Name+"\x00"+ad)
	}
	a.api.Unlock()
	a.log.Info("targets deregistered", obs.KeyTargetGroup, tg.Name, obs.KeyTarget, strings.Join(addrs, ","))
	obs.WriteJSON(w, http.StatusOK, a.groupView(tg))
}

func deregistrationDelay(tg config.TargetGroup) time.Duration {
	if tg.DeregistrationDelay != nil {
		return tg.DeregistrationDelay.D()
	}
	return defaultDeregistrationDelay
}

// defaultDeregistrationDelay is ALB's.
const defaultDeregistrationDelay = 300 * time.Second

// certificates lists each TLS listener's certificates for the admin API.
func (a *app) certificates() map[string][]tlsx.CertInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out map[string][]tlsx.CertInfo
	for _, ll := range a.live {
		if ll.store == nil {
			continue
		}
		if out == nil {
			out = make(map[string][]tlsx.CertInfo)
		}
		out[ll.cfg.Name] = ll.store.Certificates()
	}
	return out
}
