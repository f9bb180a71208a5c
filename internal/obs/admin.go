package obs

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// WriteJSON answers with v as indented JSON and status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		WriteError(w, http.StatusInternalServerError, "encode response: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// WriteError answers {"error": msg} with status (SPEC §4: 400 bad body,
// 401 token, 404 unknown name, 405 method, 409 conflict).
func WriteError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// Methods wraps h so that other methods get a JSON 405 with an Allow
// header (net/http's own 405 is plain text). HEAD is allowed with GET.
func Methods(h http.HandlerFunc, methods ...string) http.Handler {
	allow := strings.Join(methods, ", ")
	getOK := slices.Contains(methods, http.MethodGet)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slices.Contains(methods, r.Method) || (getOK && r.Method == http.MethodHead) {
			h(w, r)
			return
		}
		w.Header().Set("Allow", allow)
		WriteError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path+"; use "+allow)
	})
}

// Health is the process's liveness and readiness. The zero value is alive
// and not ready. Safe for concurrent use.
type Health struct {
	ready    atomic.Bool
	draining atomic.Bool
}

// SetReady marks the process configured and listening.
func (h *Health) SetReady(ok bool) { h.ready.Store(ok) }

// SetDraining makes readiness 503 for good: a draining process never
// becomes ready again.
func (h *Health) SetDraining() { h.draining.Store(true) }

// Ready reports whether /readyz answers 200.
func (h *Health) Ready() bool { return h.ready.Load() && !h.draining.Load() }

// Draining reports whether a drain has started.
func (h *Health) Draining() bool { return h.draining.Load() }

// Healthz answers 200 while the process runs.
func (h *Health) Healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte("ok\n"))
}

// Readyz answers 200 when ready, 503 while starting or draining.
func (h *Health) Readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case h.draining.Load():
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("draining\n"))
	case !h.ready.Load():
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("starting\n"))
	default:
		w.Write([]byte("ready\n"))
	}
}

// AdminCookie is the cookie a browser gets after opening an admin page
// with ?token=.
const AdminCookie = "switchyard_admin"

// OpenPaths are served without a token so probes need no secret.
var OpenPaths = []string{"/healthz", "/readyz"}

// TokenAuth requires "Authorization: Bearer <token>" on every request but
// those of OpenPaths, answering 401 JSON otherwise. A browser may pass
// ?token=<token> once: it gets an HttpOnly, SameSite=Strict cookie and a
// redirect to the same URL without the token, so the secret leaves the
// address bar and history. The cookie holds a hash of the token, never the
// token. An empty token turns the check off. token is read through fn at
// each request so a reload can change it.
func TokenAuth(token func() string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := token()
		if tok == "" || slices.Contains(OpenPaths, r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		if auth := r.Header.Get("Authorization"); auth != "" {
			const prefix = "bearer "
			if len(auth) > len(prefix) && strings.EqualFold(auth[:len(prefix)], prefix) &&
				equal(auth[len(prefix):], tok) {
				next.ServeHTTP(w, r)
				return
			}
			WriteError(w, http.StatusUnauthorized, "admin token wrong")
			return
		}
		want := cookieValue(tok)
		if c, err := r.Cookie(AdminCookie); err == nil && equal(c.Value, want) {
			next.ServeHTTP(w, r)
			return
		}
		q := r.URL.Query()
		if q.Has("token") {
			if !equal(q.Get("token"), tok) || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
				WriteError(w, http.StatusUnauthorized, "admin token wrong")
				return
			}
			http.SetCookie(w, &http.Cookie{
				Name: AdminCookie, Value: want, Path: "/", HttpOnly: true,
				SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
			})
			q.Del("token")
			u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="switchyard admin"`)
		WriteError(w, http.StatusUnauthorized, "admin token missing: send Authorization: Bearer <token>")
	})
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func cookieValue(token string) string {
	sum := sha256.Sum256([]byte("switchyard-admin-session\x00" + token))
	return hex.EncodeToString(sum[:])
}

// NewAdminServer returns an http.Server for the admin API with explicit
// limits: the admin port faces operators, not the internet, but a stuck
// client must still not hold a goroutine forever.
func NewAdminServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// ReadJSON decodes a request body of at most limit bytes into v, strictly
// (unknown fields are errors). The error text is fit for a 400 answer.
func ReadJSON(r *http.Request, limit int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errTrailing
	}
	return nil
}

type adminError string

func (e adminError) Error() string { return string(e) }

const errTrailing = adminError("obs: read json body: trailing data after the object")
