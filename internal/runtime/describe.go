package runtime

// TargetHealth is one target as the admin API shows it, in the shape of
// ELB's describe-target-health.
type TargetHealth struct {
	ID       string `json:"id"`
	State    string `json:"state"`
	Reason   string `json:"reason,omitempty"`
	InFlight int64  `json:"in_flight"`
	Weight   int    `json:"weight"`
}

// Describe returns the health of every target of the group, draining ones
// included, in registration order. A target whose deregistration delay has
// ended has left the group and is not listed (ELB would show it unused
// briefly).
func (g *Group) Describe() []TargetHealth {
	ts := g.Targets()
	out := make([]TargetHealth, 0, len(ts))
	for _, t := range ts {
		st, reason := t.Status()
		out = append(out, TargetHealth{
			ID:       t.Addr,
			State:    st.String(),
			Reason:   reason,
			InFlight: max(t.InFlight(), 0),
			Weight:   t.Weight,
		})
	}
	return out
}
