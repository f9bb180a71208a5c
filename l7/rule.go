package l7

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/config"
)

// Rule is a compiled listener rule. The default action is a Rule with
// Priority 0 and no conditions.
type Rule struct {
	// Priority is 1..50000, or 0 for the default action.
	Priority int
	conds    []condition
	action   action
}

// Matches reports whether every condition of r holds for v.
func (r *Rule) Matches(v *RequestView) bool {
	for i := range r.conds {
		c := &r.conds[i]
		if !c.match(c, v) {
			return false
		}
	}
	return true
}

// Action returns the kind of r's action (ActionForward, ActionRedirect or
// ActionFixedResponse).
func (r *Rule) Action() Actions { return r.action.kind }

type xffMode uint8

const (
	xffAppend xffMode = iota
	xffPreserve
	xffRemove
)

type desyncMode uint8

const (
	desyncDefensive desyncMode = iota
	desyncMonitor
	desyncStrictest
)

// Router is a listener's compiled rules and per-request settings: one
// immutable snapshot. Build a new one on every reload and hand it to
// Server.SetRouter; requests in flight keep the one they started with.
// Safe for concurrent use.
type Router struct {
	listener string
	rules    []Rule // ascending priority
	def      Rule
	xff      xffMode
	xffPort  bool
	desync   desyncMode
	https    bool
	now      func() time.Time
}

// RouterOptions are optional settings of NewRouter.
type RouterOptions struct {
	// Now is the clock for cookie expiry (default time.Now).
	Now func() time.Time
}

// maxPriority is ALB's highest rule priority.
const maxPriority = 50000

// NewRouter compiles lc's rules and default action against groups (by
// name). It returns every problem it finds, joined, so a reload can log
// them all.
func NewRouter(lc config.Listener, groups map[string]*TargetGroup, o RouterOptions) (*Router, error) {
	r := &Router{listener: lc.Name, now: o.Now}
	if r.now == nil {
		r.now = time.Now
	}
	var errs []string
	bad := func(path string, err error) { errs = append(errs, path+": "+err.Error()) }

	switch strings.ToUpper(lc.Protocol) {
	case "", "HTTP":
	case "HTTPS":
		r.https = true
	default:
		bad("protocol", fmt.Errorf("%q is not an HTTP protocol", lc.Protocol))
	}
	switch lc.XFF {
	case "", "append":
		r.xff = xffAppend
	case "preserve":
		r.xff = xffPreserve
	case "remove":
		r.xff = xffRemove
	default:
		bad("xff", fmt.Errorf("want append, preserve or remove, not %q", lc.XFF))
	}
	r.xffPort = lc.XFFClientPort
	switch lc.DesyncMitigation {
	case "", "defensive":
		r.desync = desyncDefensive
	case "monitor":
		r.desync = desyncMonitor
	case "strictest":
		r.desync = desyncStrictest
	default:
		bad("desync_mitigation", fmt.Errorf("want monitor, defensive or strictest, not %q", lc.DesyncMitigation))
	}

	seen := make(map[int]bool, len(lc.Rules))
	for i := range lc.Rules {
		rc := &lc.Rules[i]
		path := "rules[" + strconv.Itoa(i) + "]"
		if rc.Priority < 1 || rc.Priority > maxPriority {
			bad(path+".priority", fmt.Errorf("%d is outside 1..%d", rc.Priority, maxPriority))
			continue
		}
		if seen[rc.Priority] {
			bad(path+".priority", fmt.Errorf("%d is used by another rule", rc.Priority))
			continue
		}
		seen[rc.Priority] = true
		conds, err := compileConditions(&rc.Conditions)
		if err != nil {
			bad(path+".conditions", err)
			continue
		}
		if len(conds) == 0 {
			bad(path+".conditions", fmt.Errorf("a rule needs at least one condition"))
			continue
		}
		a, err := compileAction(&rc.Action, groups)
		if err != nil {
			bad(path+".action", err)
			continue
		}
		r.rules = append(r.rules, Rule{Priority: rc.Priority, conds: conds, action: a})
	}
	slices.SortFunc(r.rules, func(a, b Rule) int { return a.Priority - b.Priority })
	a, err := compileAction(&lc.DefaultAction, groups)
	if err != nil {
		bad("default_action", err)
	}
	r.def = Rule{Priority: 0, action: a}
	if len(errs) > 0 {
		return nil, fmt.Errorf("l7: listener %s: %s", lc.Name, strings.Join(errs, "; "))
	}
	return r, nil
}

// Listener returns the listener name the router was built for.
func (r *Router) Listener() string { return r.listener }

// Match returns the first rule, by ascending priority, whose conditions all
// hold for v, or the default rule. It never allocates.
func (r *Router) Match(v *RequestView) *Rule {
	for i := range r.rules {
		if r.rules[i].Matches(v) {
			return &r.rules[i]
		}
	}
	return &r.def
}
