package cache

import (
	"fmt"
	"maps"
	"strings"
	"time"
)

// Invalidation limits. Ristretto cannot iterate its keys, so an invalidation
// is a record (path or prefix, sequence number, time) checked on every hit;
// these bounds keep that check and the table small. When a distribution
// holds more records than this, they are folded into one "/*" record: more is
// invalidated than asked, never less.
const (
	MaxInvalidationPathLen = 4000
	maxExactRecords        = 10_000
	maxPrefixRecords       = 100
)

type invRecord struct {
	seq uint64
	at  time.Time
}

type prefixRecord struct {
	prefix string
	invRecord
}

type distInvalidations struct {
	exact  map[string]invRecord
	prefix []prefixRecord
	latest uint64 // highest seq in this distribution
}

// invTable is immutable once published; Invalidate copies and swaps it.
type invTable struct {
	dists map[string]*distInvalidations
}

// Invalidate removes every cached variant (all header, cookie, query and
// encoding variants) of the given paths in distribution dist. A path is
// exact, or ends in '*' to match every path with that prefix ("/img/*",
// "/index*", "/*"); '*' elsewhere, a path not starting with '/', or one
// longer than 4,000 bytes is an error and nothing is invalidated. Matching is
// case-sensitive against the canonical path the key was built from. A query
// after '?' is ignored: an exact path invalidates all of its query-string
// variants (CloudFront needs a '*' for that; invalidating more is safe).
// It completes at once: the next lookup of a matching entry is a miss.
func (s *Store) Invalidate(dist string, paths []string) error {
	type item struct {
		path   string
		prefix bool
	}
	items := make([]item, 0, len(paths))
	for _, p := range paths {
		if len(p) > MaxInvalidationPathLen {
			return fmt.Errorf("cache: invalidate %.40q: path longer than %d bytes", p, MaxInvalidationPathLen)
		}
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("cache: invalidate %q: path must start with /", p)
		}
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		star := strings.IndexByte(p, '*')
		switch {
		case star < 0:
			items = append(items, item{p, false})
		case star == len(p)-1:
			items = append(items, item{p[:star], true})
		default:
			return fmt.Errorf("cache: invalidate %q: '*' is allowed only as the last character", p)
		}
	}

	s.invMu.Lock()
	defer s.invMu.Unlock()
	now := s.now()
	old := s.inv.Load()
	t := &invTable{dists: map[string]*distInvalidations{}}
	if old != nil {
		maps.Copy(t.dists, old.dists)
	}
	// Prune what can no longer match anything stored.
	horizon := now.Add(-time.Duration(s.maxLifetime.Load()) - time.Second)
	for name, d := range t.dists {
		t.dists[name] = pruneDist(d, horizon)
		if t.dists[name] == nil {
			delete(t.dists, name)
		}
	}

	d := t.dists[dist]
	if d == nil {
		d = &distInvalidations{exact: map[string]invRecord{}}
	} else {
		d = &distInvalidations{exact: maps.Clone(d.exact), prefix: append([]prefixRecord(nil), d.prefix...), latest: d.latest}
	}
	for _, it := range items {
		rec := invRecord{seq: s.seq.Add(1), at: now}
		d.latest = rec.seq
		if !it.prefix {
			d.exact[it.path] = rec
			continue
		}
		// A new prefix supersedes the older records it covers.
		maps.DeleteFunc(d.exact, func(p string, _ invRecord) bool { return strings.HasPrefix(p, it.path) })
		kept := d.prefix[:0]
		for _, pr := range d.prefix {
			if !strings.HasPrefix(pr.prefix, it.path) {
				kept = append(kept, pr)
			}
		}
		d.prefix = append(kept, prefixRecord{it.path, rec})
	}
	if len(d.exact) > maxExactRecords || len(d.prefix) > maxPrefixRecords {
		rec := invRecord{seq: d.latest, at: now}
		d = &distInvalidations{exact: map[string]invRecord{}, prefix: []prefixRecord{{"/", rec}}, latest: d.latest}
	}
	t.dists[dist] = d
	s.inv.Store(t)
	return nil
}

func pruneDist(d *distInvalidations, horizon time.Time) *distInvalidations {
	stale := false
	for _, r := range d.exact {
		stale = stale || r.at.Before(horizon)
	}
	for _, r := range d.prefix {
		stale = stale || r.at.Before(horizon)
	}
	if !stale {
		return d
	}
	n := &distInvalidations{exact: map[string]invRecord{}, latest: d.latest}
	for p, r := range d.exact {
		if !r.at.Before(horizon) {
			n.exact[p] = r
		}
	}
	for _, r := range d.prefix {
		if !r.at.Before(horizon) {
			n.prefix = append(n.prefix, r)
		}
	}
	if len(n.exact) == 0 && len(n.prefix) == 0 {
		return nil
	}
	return n
}

// InvalidationRecords reports how many invalidation records are held, for
// tests and the status page.
func (s *Store) InvalidationRecords() int {
	t := s.inv.Load()
	if t == nil {
		return 0
	}
	n := 0
	for _, d := range t.dists {
		n += len(d.exact) + len(d.prefix)
	}
	return n
}

// match returns the newest record matching a key's distribution and path.
func (t *invTable) match(dist, path []byte) (invRecord, bool) {
	d := t.dists[string(dist)]
	if d == nil {
		return invRecord{}, false
	}
	best, found := d.exact[string(path)]
	for _, pr := range d.prefix {
		if pr.seq > best.seq && len(path) >= len(pr.prefix) && string(path[:len(pr.prefix)]) == pr.prefix {
			best, found = pr.invRecord, true
		}
	}
	return best, found
}

// invalidated reports whether e was stored before a matching invalidation.
func (s *Store) invalidated(e *Entry) bool {
	t := s.inv.Load()
	if t == nil {
		return false
	}
	dist, path, ok := KeyParts(e.key)
	if !ok {
		return false
	}
	if d := t.dists[string(dist)]; d == nil || d.latest < e.seq {
		return false
	}
	r, ok := t.match(dist, path)
	return ok && r.seq > e.seq
}

// invalidatedSince reports whether a matching invalidation happened at or
// after t (the origin request of an entry about to be stored).
func (s *Store) invalidatedSince(key []byte, t time.Time) bool {
	tab := s.inv.Load()
	if tab == nil {
		return false
	}
	dist, path, ok := KeyParts(key)
	if !ok {
		return false
	}
	r, ok := tab.match(dist, path)
	return ok && !r.at.Before(t)
}
