package main

import (
	"html/template"
	"net/http"
	"strings"

	"github.com/switchyard/switchyard/config"
)

// statusTmpl is the human status page: what an operator checks first.
var statusTmpl = template.Must(template.New("status").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>lb status</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin-bottom:1.5em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.healthy{color:#080}.unhealthy{color:#b00}.draining,.initial{color:#a60}
code{font-size:13px}
</style></head><body>
<h1>lb {{.Version}}</h1>
<p>{{if .Ready}}ready{{else}}<b>not ready (draining or starting)</b>{{end}} ·
config <code>{{.Hash}}</code> from {{.Source}}, loaded {{.LoadedAt}}</p>
<h2>Listeners</h2>
{{range .Listeners}}
<h3>{{.Name}} — {{.Protocol}} {{.Address}}</h3>
<table><tr><th>priority</th><th>conditions</th><th>action</th></tr>
{{range .Rules}}<tr><td>{{.Priority}}</td><td><code>{{.Conditions}}</code></td><td><code>{{.Action}}</code></td></tr>
{{end}}</table>
{{end}}
<h2>Target groups</h2>
{{range .Groups}}
<h3>{{.Name}} ({{.Protocol}})</h3>
<table><tr><th>target</th><th>state</th><th>reason</th><th>in flight</th></tr>
{{range .Targets}}<tr><td>{{.ID}}</td><td class="{{.State}}">{{.State}}</td><td>{{.Reason}}</td><td>{{.InFlight}}</td></tr>
{{else}}<tr><td colspan="4">no registered targets</td></tr>
{{end}}</table>
{{end}}
<p><a href="metrics">metrics</a> · <a href="api/v1/config">config</a> · <a href="api/v1/target-groups">target groups</a></p>
</body></html>
`))

type statusRule struct {
	Priority   string
	Conditions string
	Action     string
}

type statusListener struct {
	Name, Protocol, Address string
	Rules                   []statusRule
}

func (a *app) statusPage(w http.ResponseWriter, r *http.Request) {
	s := a.snapshot()
	data := struct {
		Version, Hash, Source, LoadedAt string
		Ready                           bool
		Listeners                       []statusListener
		Groups                          []groupView
	}{
		Version: buildVersion(), Hash: s.hash, Source: s.source,
		LoadedAt: s.loadedAt.UTC().Format("2006-01-02 15:04:05 MST"),
		Ready:    a.health.Ready(), Groups: a.groupViews(),
	}
	for _, l := range s.cfg.Listeners {
		sl := statusListener{Name: l.Name, Protocol: l.Protocol, Address: a.boundAddr(sockKey(l))}
		for _, rl := range l.Rules {
			sl.Rules = append(sl.Rules, statusRule{Priority: itoa(rl.Priority), Conditions: describeConditions(rl.Conditions), Action: describeAction(rl.Action)})
		}
		sl.Rules = append(sl.Rules, statusRule{Priority: "default", Conditions: "-", Action: describeAction(l.DefaultAction)})
		data.Listeners = append(data.Listeners, sl)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	statusTmpl.Execute(w, data)
}

func describeConditions(c config.Conditions) string {
	var parts []string
	add := func(kind string, vals []string) {
		if len(vals) > 0 {
			parts = append(parts, kind+"="+strings.Join(vals, "|"))
		}
	}
	add("host", c.Host)
	add("path", c.Path)
	add("method", c.Method)
	add("source_ip", c.SourceIP)
	for k, v := range c.Header {
		add("header["+k+"]", v)
	}
	for _, q := range c.Query {
		parts = append(parts, "query["+q.Key+"]="+q.Value)
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " AND ")
}

func describeAction(a config.Action) string {
	switch {
	case a.Forward != nil:
		f := a.Forward
		if f.TargetGroup != "" {
			return "forward " + f.TargetGroup
		}
		var gs []string
		for _, g := range f.TargetGroups {
			w := "1"
			if g.Weight != nil {
				w = itoa(*g.Weight)
			}
			gs = append(gs, g.Name+":"+w)
		}
		return "forward " + strings.Join(gs, ", ")
	case a.Redirect != nil:
		return "redirect " + itoa(a.Redirect.Status)
	case a.FixedResponse != nil:
		return "fixed_response " + itoa(a.FixedResponse.Status)
	}
	return "-"
}
