package signing

import (
	"sync"
	"time"
)

// DefaultCacheSize is the number of verified signatures a Verifier keeps
// unless WithCacheSize says otherwise.
const DefaultCacheSize = 16384

// cacheEntry is a signature that verified: the parsed custom policy (nil for
// canned) and when the policy expires, after which the entry is useless.
type cacheEntry struct {
	policy  *Policy
	expires int64
}

// sigCache remembers valid signatures by a SHA-256 of (key id, hash
// algorithm, policy bytes, signature), so a hot signed object costs one
// hash instead of an RSA verify and a JSON parse. Only signatures that
// verified are stored, conditions are still checked on every request, and
// an entry is dropped once its policy has expired. Bounded: when full,
// expired entries go first, then arbitrary ones.
type sigCache struct {
	mu      sync.RWMutex
	max     int
	entries map[[32]byte]cacheEntry
}

func newSigCache(max int) *sigCache {
	if max <= 0 {
		return nil
	}
	return &sigCache{max: max, entries: make(map[[32]byte]cacheEntry)}
}

func (c *sigCache) get(k *[32]byte) (cacheEntry, bool) {
	c.mu.RLock()
	e, ok := c.entries[*k]
	c.mu.RUnlock()
	return e, ok
}

func (c *sigCache) put(k *[32]byte, e cacheEntry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		c.evict(now.Unix())
	}
	c.entries[*k] = e
}

// evict makes room for at least one eighth of the capacity: expired entries
// first, then whatever map iteration yields (Go randomises it).
func (c *sigCache) evict(now int64) {
	for k, e := range c.entries {
		if e.expires <= now {
			delete(c.entries, k)
		}
	}
	target := c.max - c.max/8 - 1
	for k := range c.entries {
		if len(c.entries) <= target {
			break
		}
		delete(c.entries, k)
	}
}

func (c *sigCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
