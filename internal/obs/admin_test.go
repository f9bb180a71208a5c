package obs

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWriteErrorShape(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, 409, `conflict "x"`)
	if rec.Code != 409 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["error"] != `conflict "x"` || len(body) != 1 {
		t.Errorf("body %q: %v", rec.Body.String(), err)
	}
}

func TestMethods(t *testing.T) {
	h := Methods(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hi")) }, "GET")
	for _, c := range []struct {
		method string
		code   int
	}{{"GET", 200}, {"HEAD", 200}, {"POST", 405}, {"DELETE", 405}} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, "/x", nil))
		if rec.Code != c.code {
			t.Errorf("%s: %d, want %d", c.method, rec.Code, c.code)
		}
		if c.code == 405 && (rec.Header().Get("Allow") != "GET" || !strings.Contains(rec.Body.String(), `"error"`)) {
			t.Errorf("%s: 405 without Allow or JSON: %v %s", c.method, rec.Header(), rec.Body)
		}
	}
}

func TestHealth(t *testing.T) {
	var h Health
	code := func(f http.HandlerFunc) int {
		rec := httptest.NewRecorder()
		f(rec, httptest.NewRequest("GET", "/", nil))
		return rec.Code
	}
	if code(h.Healthz) != 200 || code(h.Readyz) != 503 {
		t.Error("a starting process must be alive and not ready")
	}
	h.SetReady(true)
	if code(h.Readyz) != 200 || !h.Ready() {
		t.Error("ready process not ready")
	}
	h.SetDraining()
	if code(h.Readyz) != 503 || h.Ready() || code(h.Healthz) != 200 {
		t.Error("draining process must be alive and not ready")
	}
	h.SetReady(true)
	if code(h.Readyz) != 503 {
		t.Error("a draining process became ready again")
	}
}

func TestTokenAuth(t *testing.T) {
	token := "s3cret"
	var reached int
	h := TokenAuth(func() string { return token }, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached++
		w.Write([]byte("inside"))
	}))
	do := func(method, target string, hdr map[string]string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	cases := []struct {
		name   string
		target string
		hdr    map[string]string
		code   int
	}{
		{"healthz open", "/healthz", nil, 200},
		{"readyz open", "/readyz", nil, 200},
		{"missing", "/api/v1/config", nil, 401},
		{"wrong bearer", "/api/v1/config", map[string]string{"Authorization": "Bearer nope"}, 401},
		{"basic scheme", "/api/v1/config", map[string]string{"Authorization": "Basic czNjcmV0"}, 401},
		{"right bearer", "/api/v1/config", map[string]string{"Authorization": "Bearer s3cret"}, 200},
		{"lower-case scheme", "/metrics", map[string]string{"Authorization": "bearer s3cret"}, 200},
		{"wrong query token", "/?token=nope", nil, 401},
	}
	for _, c := range cases {
		before := reached
		rec := do("GET", c.target, c.hdr)
		if rec.Code != c.code {
			t.Errorf("%s: %d, want %d (%s)", c.name, rec.Code, c.code, rec.Body)
		}
		if c.code == 401 {
			if reached != before {
				t.Errorf("%s: handler reached without auth", c.name)
			}
			var body map[string]string
			if json.Unmarshal(rec.Body.Bytes(), &body) != nil || body["error"] == "" {
				t.Errorf("%s: 401 body not JSON error: %s", c.name, rec.Body)
			}
		}
	}

	// ?token= sets a hardened cookie and redirects to the URL without it.
	rec := do("GET", "/?token=s3cret&view=1", nil)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/?view=1" {
		t.Fatalf("token login: %d Location=%q", rec.Code, rec.Header().Get("Location"))
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie not HttpOnly+SameSite=Strict: %+v", cookies)
	}
	if strings.Contains(cookies[0].Value, token) {
		t.Error("cookie carries the token itself")
	}
	if rec := do("GET", "/", nil, cookies[0]); rec.Code != 200 {
		t.Errorf("cookie not accepted: %d", rec.Code)
	}
	if rec := do("GET", "/", nil, &http.Cookie{Name: AdminCookie, Value: "forged"}); rec.Code != 401 {
		t.Errorf("forged cookie accepted: %d", rec.Code)
	}
	// A token change (reload) invalidates old cookies.
	token = "other"
	if rec := do("GET", "/", nil, cookies[0]); rec.Code != 401 {
		t.Errorf("old cookie accepted after token change: %d", rec.Code)
	}
	token = ""
	if rec := do("GET", "/api/v1/config", nil); rec.Code != 200 {
		t.Errorf("no token configured but request refused: %d", rec.Code)
	}
}

func TestReadJSON(t *testing.T) {
	var v struct {
		Targets []string `json:"targets"`
	}
	for body, ok := range map[string]bool{
		`{"targets":["127.0.0.1:1"]}`: true,
		`{"targets":["a"],"x":1}`:     false,
		`{"targets":["a"]} {}`:        false,
		`nope`:                        false,
		`{"targets":["` + strings.Repeat("a", 2000) + `"]}`: false,
	} {
		req := httptest.NewRequest("POST", "/", strings.NewReader(body))
		err := ReadJSON(req, 1024, &v)
		if (err == nil) != ok {
			t.Errorf("ReadJSON(%.30q) err=%v, want ok=%v", body, err, ok)
		}
	}
}
