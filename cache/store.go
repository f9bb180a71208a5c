package cache

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// Status is the outcome of a lookup.
type Status uint8

const (
	// Miss: nothing usable is stored under the key.
	Miss Status = iota
	// Fresh: serve the entry as a Hit.
	Fresh
	// Stale: the entry has expired. It may still be served while
	// revalidating (Entry.StaleWhileRevalidate) or when the origin fails
	// (Entry.StaleIfError), and its validators make the revalidation
	// conditional.
	Stale
)

func (s Status) String() string {
	switch s {
	case Fresh:
		return "fresh"
	case Stale:
		return "stale"
	}
	return "miss"
}

// Options configure a Store.
type Options struct {
	// MaxSize bounds the bytes held (cost = key + headers + body + a fixed
	// per-entry overhead). Required.
	MaxSize int64
	// MaxObjectSize is the largest entry stored; the edge streams bigger
	// answers through uncached. 0 means MaxSize/8.
	MaxObjectSize int64
	// KeepExpired is how long an entry stays stored after its TTL (plus
	// any stale window the origin granted) so that it can be revalidated
	// with a conditional request or served on origin errors. 0 means 24 h;
	// the LFU policy still evicts it earlier under memory pressure.
	KeepExpired time.Duration
	// Now is the clock; nil means time.Now. Tests use testing/synctest
	// rather than a fake Now, because ristretto's expiry runs on time.Now.
	Now func() time.Time
}

// Store is the object store: a ristretto cache bounded by bytes, whose
// entries carry their full key (ristretto keys only by hash) and are checked
// against it, and against the invalidations recorded since they were stored,
// on every hit. Safe for concurrent use; Close it when done.
type Store struct {
	c           *ristretto.Cache[[]byte, *Entry]
	maxObject   int64
	keepExpired time.Duration
	now         func() time.Time

	seq atomic.Uint64
	// maxLifetime is the longest ristretto TTL ever given, in ns: an
	// invalidation older than that can no longer match a stored entry.
	maxLifetime atomic.Int64

	invMu sync.Mutex // serialises writers of inv
	inv   atomic.Pointer[invTable]

	hits, misses, rejected, truncated atomic.Uint64
}

var (
	hashSeed1 = maphash.MakeSeed()
	hashSeed2 = maphash.MakeSeed()
)

// NewStore builds a store.
func NewStore(o Options) (*Store, error) {
	if o.MaxSize <= 0 {
		return nil, errors.New("cache: new store: max_size must be positive")
	}
	if o.MaxObjectSize <= 0 {
		o.MaxObjectSize = o.MaxSize / 8
	}
	if o.MaxObjectSize > o.MaxSize {
		return nil, fmt.Errorf("cache: new store: max_object_size %d exceeds max_size %d", o.MaxObjectSize, o.MaxSize)
	}
	if o.KeepExpired <= 0 {
		o.KeepExpired = 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// Ten counters per expected object (ristretto's advice), objects
	// assumed to be 4 KiB on average.
	counters := min(max(o.MaxSize/4096*10, 10_000), 1<<24)
	c, err := ristretto.NewCache(&ristretto.Config[[]byte, *Entry]{
		NumCounters: counters,
		MaxCost:     o.MaxSize,
		BufferItems: 64,
		Metrics:     true,
		KeyToHash: func(k []byte) (uint64, uint64) {
			return maphash.Bytes(hashSeed1, k), maphash.Bytes(hashSeed2, k)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("cache: new store: %w", err)
	}
	return &Store{c: c, maxObject: o.MaxObjectSize, keepExpired: o.KeepExpired, now: o.Now}, nil
}

// Close stops the store's goroutines and drops every entry.
func (s *Store) Close() { s.c.Close() }

// Wait blocks until earlier Sets are applied (ristretto applies them
// asynchronously, and may drop them under contention).
func (s *Store) Wait() { s.c.Wait() }

// MaxObjectSize is the largest entry the store accepts; the edge streams
// answers with a larger Content-Length through without buffering them.
func (s *Store) MaxObjectSize() int64 { return s.maxObject }

// Get looks key up. The full key is compared, and an entry stored before a
// matching invalidation is a miss. A Fresh or Stale entry is returned for
// the caller to serve or revalidate; it must not be modified. Get allocates
// nothing.
func (s *Store) Get(key []byte) (*Entry, Status) { return s.GetAt(key, s.now()) }

// GetAt is Get with the caller's reading of the store's clock (a request
// that already read it spares a second read on the hit path).
func (s *Store) GetAt(key []byte, now time.Time) (*Entry, Status) {
	e, ok := s.c.Get(key)
	if !ok || e == nil || !bytes.Equal(e.key, key) || s.invalidated(e) {
		s.misses.Add(1)
		return nil, Miss
	}
	if e.Fresh(now) {
		s.hits.Add(1)
		return e, Fresh
	}
	s.misses.Add(1)
	return e, Stale
}

// Set stores e under key (copied) and reports whether the store accepted it
// for admission; ristretto applies it asynchronously and its admission
// policy may still drop it. Set refuses entries whose Decision says not to
// store, entries over MaxObjectSize, entries already stored, entries whose
// Content-Length disagrees with the body (a truncated answer, or a HEAD
// answer that must never stand in for the GET sharing its key), and entries
// whose origin request started before a matching invalidation (so a fetch in
// flight during an invalidation cannot put old content back). Set takes
// ownership of e; call it before sharing e with other goroutines (inside the
// coalesced fetch).
func (s *Store) Set(key []byte, e *Entry) bool {
	if e == nil || !e.decision.Store || e.key != nil {
		return false
	}
	now := s.now()
	if e.storedAt.IsZero() {
		e.storedAt = now
	}
	if e.requestTime.IsZero() {
		e.requestTime = e.storedAt
	}
	cost := e.size() + int64(len(key))
	if cost > s.maxObject {
		s.rejected.Add(1)
		return false
	}
	if !e.complete() {
		s.truncated.Add(1)
		return false
	}
	if s.invalidatedSince(key, e.requestTime) {
		return false
	}
	if e.file == nil {
		e.file = newBodyFile(e.Body)
	}
	if e.file != nil {
		// The body is in memory twice: max_size counts both copies
		// (max_object_size the object once).
		cost += int64(len(e.Body))
	}
	e.key = bytes.Clone(key)
	e.cost = cost
	e.seq = s.seq.Add(1)
	remaining := max(e.decision.TTL-e.initialAge, 0)
	life := remaining + max(s.keepExpired, e.decision.StaleWhileRevalidate, e.decision.StaleIfError)
	for {
		cur := s.maxLifetime.Load()
		if int64(life) <= cur || s.maxLifetime.CompareAndSwap(cur, int64(life)) {
			break
		}
	}
	return s.c.SetWithTTL(e.key, e, e.cost, life)
}

// Stats are the counters of GET /api/v1/cache.
type Stats struct {
	Objects  int64   `json:"objects"`
	Bytes    int64   `json:"bytes"`
	Hits     uint64  `json:"hits"`
	Misses   uint64  `json:"misses"`
	HitRatio float64 `json:"hit_ratio"`
	// Rejected counts Sets refused for exceeding MaxObjectSize, Truncated
	// those whose body disagreed with their Content-Length.
	Rejected  uint64 `json:"rejected"`
	Truncated uint64 `json:"truncated"`
}

// Stats returns the current counters. Hits are lookups that found a fresh
// entry; every other lookup (miss, stale) counts as a miss. Objects and Bytes
// trail Sets until ristretto has applied them.
func (s *Store) Stats() Stats {
	st := Stats{Hits: s.hits.Load(), Misses: s.misses.Load(), Rejected: s.rejected.Load(), Truncated: s.truncated.Load()}
	if m := s.c.Metrics; m != nil {
		st.Objects = int64(m.KeysAdded()) - int64(m.KeysEvicted())
	}
	st.Bytes = s.c.MaxCost() - s.c.RemainingCost()
	if total := st.Hits + st.Misses; total > 0 {
		st.HitRatio = float64(st.Hits) / float64(total)
	}
	return st
}
