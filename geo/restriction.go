package geo

import (
	"fmt"
	"sync/atomic"
)

// BlockedReason is the reason line of CloudFront's 403 page for a viewer
// refused by geo restriction.
const BlockedReason = "The Amazon CloudFront distribution is configured to block access from your country."

// Restriction is a distribution's geo restriction, compiled. Safe for
// concurrent use; immutable but for its counters.
type Restriction struct {
	typ         string // none | whitelist | blacklist
	listed      map[Country]bool
	denyUnknown bool
	refused     atomic.Uint64
	refusedUnkn atomic.Uint64
	refusedByCC [26 * 26]atomic.Uint64
}

// NewRestriction compiles a restriction. typ is none, whitelist or
// blacklist; locations are ISO 3166-1 alpha-2 codes; unknown is "allow"
// (the default and CloudFront's behaviour: a viewer whose country cannot
// be determined is let in) or "deny".
func NewRestriction(typ string, locations []string, unknown string) (*Restriction, error) {
	r := &Restriction{typ: typ, listed: make(map[Country]bool, len(locations))}
	switch typ {
	case "", "none":
		r.typ = "none"
	case "whitelist", "blacklist":
		if len(locations) == 0 {
			return nil, fmt.Errorf("geo: restriction %s needs at least one location", typ)
		}
	default:
		return nil, fmt.Errorf("geo: invalid restriction type %q: want none, whitelist or blacklist", typ)
	}
	for _, l := range locations {
		c, err := ParseCountry(l)
		if err != nil {
			return nil, err
		}
		r.listed[c] = true
	}
	switch unknown {
	case "", "allow":
	case "deny":
		r.denyUnknown = true
	default:
		return nil, fmt.Errorf("geo: invalid unknown %q: want allow or deny", unknown)
	}
	return r, nil
}

// Active reports whether the restriction can refuse anybody, so callers
// can skip the lookup when it cannot.
func (r *Restriction) Active() bool { return r != nil && r.typ != "none" }

// Allow decides for a viewer of country c; known is false when the country
// could not be determined. Refusals are counted.
func (r *Restriction) Allow(c Country, known bool) bool {
	if !r.Active() {
		return true
	}
	var ok bool
	switch {
	case !known:
		ok = !r.denyUnknown
	case r.typ == "whitelist":
		ok = r.listed[c]
	default:
		ok = !r.listed[c]
	}
	if !ok {
		r.refused.Add(1)
		if known {
			r.refusedByCC[int(c[0]-'A')*26+int(c[1]-'A')].Add(1)
		} else {
			r.refusedUnkn.Add(1)
		}
	}
	return ok
}

// Refused returns the number of refusals, per country code ("--" for
// unknown), for the metrics.
func (r *Restriction) Refused() map[string]uint64 {
	out := map[string]uint64{}
	if r == nil {
		return out
	}
	for i := range r.refusedByCC {
		if n := r.refusedByCC[i].Load(); n > 0 {
			out[string([]byte{byte('A' + i/26), byte('A' + i%26)})] = n
		}
	}
	if n := r.refusedUnkn.Load(); n > 0 {
		out["--"] = n
	}
	return out
}

// RefusedTotal is the number of refusals.
func (r *Restriction) RefusedTotal() uint64 {
	if r == nil {
		return 0
	}
	return r.refused.Load()
}
