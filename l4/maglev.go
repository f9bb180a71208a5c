package l4

import (
	"net/netip"
)

// DefaultTableSize is Maglev's lookup-table size M when targets are few: the
// prime the paper, Envoy and Katran use. Larger groups get the smallest prime
// ≥ 100×N so that every target's share stays within about 1 % of 1/N.
const DefaultTableSize = 65537

// maxTableSize bounds M (Envoy's limit); beyond 50 000 targets the balance
// guarantee weakens instead of the table growing without end.
const maxTableSize = 5000011

const emptySlot = ^uint32(0)

// Maglev is an immutable Maglev lookup table (Eisenbud et al., NSDI 2016,
// §3.4) over a list of named entries. Entry i owns about
// weight[i]/Σweight of the M slots. The table depends only on the set of
// (name, weight) pairs: permutations are seeded by the names and turns are
// taken in name order, so two processes given the same targets build
// identical tables whatever order they list them in. Safe for concurrent
// use; Lookup is allocation-free.
type Maglev struct {
	table []uint32
	m     uint64
	n     int
}

// TableSize returns the M used for n targets: DefaultTableSize, or the
// smallest prime ≥ 100·n when that is larger (capped at 5 000 011).
func TableSize(n int) int {
	want := 100 * n
	if want <= DefaultTableSize {
		return DefaultTableSize
	}
	if want >= maxTableSize {
		return maxTableSize
	}
	for m := want | 1; ; m += 2 {
		if isPrime(m) {
			return m
		}
	}
}

func isPrime(n int) bool {
	if n < 2 {
		return false
	}
	if n%2 == 0 {
		return n == 2
	}
	for d := 3; d*d <= n; d += 2 {
		if n%d == 0 {
			return false
		}
	}
	return true
}

// NewMaglev builds the table for entries named names with the given weights
// (nil or a weight ≤ 0 means 1). m is the table size; 0 picks TableSize(len(names)),
// other values must be prime (a non-prime is replaced by TableSize). Names should
// be unique; a duplicate name gets the same permutation as its twin and the
// two share its slots. Building costs O(M log M) and allocates the table; do
// it off the data path.
func NewMaglev(names []string, weights []int, m int) *Maglev {
	n := len(names)
	if m <= 0 || !isPrime(m) {
		m = TableSize(n)
	}
	t := &Maglev{m: uint64(m), n: n}
	if n == 0 {
		return t
	}
	// Turn order is the sorted name order, so the result does not depend on
	// the order the caller lists targets in (a config file and an API
	// registration may differ).
	order := sortedOrder(names)
	offset := make([]uint64, n)
	skip := make([]uint64, n)
	next := make([]uint64, n) // current permutation position, as a slot
	w := make([]int, n)
	for i, name := range names {
		h := hashString(name)
		offset[i] = mix64(h^0x6a09e667f3bcc908) % uint64(m)
		skip[i] = mix64(h^0xbb67ae8584caa73b)%uint64(m-1) + 1
		next[i] = offset[i]
		w[i] = 1
		if weights != nil && i < len(weights) && weights[i] > 0 {
			w[i] = weights[i]
		}
	}
	table := make([]uint32, m)
	for i := range table {
		table[i] = emptySlot
	}
	filled := 0
	mm := uint64(m)
	for filled < m {
		for _, i := range order {
			// A weight is that many turns per round (weighted Maglev as
			// Katran and Envoy do it).
			for range w[i] {
				s := next[i]
				for table[s] != emptySlot {
					s += skip[i]
					if s >= mm {
						s -= mm
					}
				}
				table[s] = uint32(i)
				s += skip[i]
				if s >= mm {
					s -= mm
				}
				next[i] = s
				filled++
				if filled == m {
					break
				}
			}
			if filled == m {
				break
			}
		}
	}
	t.table = table
	return t
}

// sortedOrder returns the indices of names in name order (insertion sort:
// groups are small and this runs off the data path; ties keep list order).
func sortedOrder(names []string) []int {
	idx := make([]int, len(names))
	for i := range idx {
		idx[i] = i
	}
	for i := 1; i < len(idx); i++ {
		for j := i; j > 0 && names[idx[j]] < names[idx[j-1]]; j-- {
			idx[j], idx[j-1] = idx[j-1], idx[j]
		}
	}
	return idx
}

// Size is the table size M.
func (t *Maglev) Size() int { return int(t.m) }

// Len is the number of entries the table was built over.
func (t *Maglev) Len() int { return t.n }

// Lookup returns the entry index owning hash h, or -1 when the table is empty.
func (t *Maglev) Lookup(h uint64) int {
	if t.n == 0 {
		return -1
	}
	return int(t.table[h%t.m])
}

// Alternate returns a second choice for h different from Lookup(h) — the
// owner of the next slot that belongs to another entry — or -1 when the
// table has fewer than two entries. Every instance with the same entries
// agrees on it, like Lookup. Used for the one retry after a failed connect.
func (t *Maglev) Alternate(h uint64) int {
	if t.n < 2 {
		return -1
	}
	s := h % t.m
	first := t.table[s]
	// Start from a remixed position so that the retry spreads over all
	// targets instead of always favouring the neighbour slot's owner.
	s = mix64(h^0x3c6ef372fe94f82b) % t.m
	for range t.m {
		if e := t.table[s]; e != first {
			return int(e)
		}
		s++
		if s == t.m {
			s = 0
		}
	}
	return -1
}

// Counts returns how many slots each entry owns (for tests and the status page).
func (t *Maglev) Counts() []int {
	c := make([]int, t.n)
	for _, e := range t.table {
		c[e]++
	}
	return c
}

// FNV-1a 64 and the splitmix64 finaliser: fixed constants, no random seed,
// so that every lb process computes the same hashes (the property that lets
// instances behind ECMP agree without sharing state).
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func hashString(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func hashBytes(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

func hashPort(h uint64, p uint16) uint64 {
	h ^= uint64(p >> 8)
	h *= fnvPrime
	h ^= uint64(p & 0xff)
	h *= fnvPrime
	return h
}

// protoTCP is the IP protocol number hashed into the 5-tuple.
const protoTCP = 6

// HashFlow hashes the TCP 5-tuple (protocol, source address and port,
// destination address and port). IPv4 and IPv4-mapped IPv6 addresses hash
// alike. There is no per-connection salt: NLB adds the TCP sequence number,
// which a user-space proxy cannot see, and a random salt would make two lb
// instances disagree; the client's ephemeral port already varies per
// connection. Allocation-free.
func HashFlow(src, dst netip.AddrPort) uint64 {
	h := uint64(fnvOffset)
	h ^= protoTCP
	h *= fnvPrime
	a := src.Addr().As16()
	h = hashBytes(h, a[:])
	h = hashPort(h, src.Port())
	a = dst.Addr().As16()
	h = hashBytes(h, a[:])
	h = hashPort(h, dst.Port())
	return mix64(h)
}

// HashSource hashes the client address only (the source_ip algorithm, NLB
// stickiness): every connection from one address lands on one target while
// the routable set is unchanged. Allocation-free.
func HashSource(src netip.Addr) uint64 {
	a := src.As16()
	return mix64(hashBytes(fnvOffset, a[:]))
}
