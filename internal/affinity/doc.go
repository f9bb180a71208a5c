// Package affinity makes and checks the opaque, authenticated cookies of
// sticky sessions: AWSALB (lb_cookie target stickiness), AWSALBAPP-0
// (app_cookie stickiness) and AWSALBTG (weighted target-group stickiness).
// A cookie value carries a kind, a scope (the target group, or the rule for
// AWSALBTG), an expiry and an id (the target address, or the group name),
// sealed with AES-256-GCM under a process key. A value that was forged,
// tampered with, truncated, sealed under another key, for another kind or
// scope, or is past its expiry opens as "none": the caller picks a target
// as if there were no cookie and writes a new one.
//
// It does not pick targets, parse Cookie headers or decide when a target is
// no longer fit (Find returns nil for a target not in the view's Routable
// set); l7 does that.
//
//	s, err := affinity.New(nil) // random per-process key; pass a secret to share it between instances
//	// response: pin the client to t for the stickiness duration
//	v := s.Seal(nil, affinity.KindTarget, "web", t.Addr, now.Add(24*time.Hour))
//	hdr := affinity.AppendSetCookie(nil, affinity.CookieLB, v, now.Add(7*24*time.Hour), false)
//	// request: the cookie value from the client
//	if t := s.OpenTarget(view, "web", value, now); t != nil { /* use t */ }
package affinity
