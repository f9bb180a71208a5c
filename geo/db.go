package geo

import (
	_ "embed"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
)

//go:embed data/geo-whois-asn-country.mmdb
var embeddedDB []byte

// EmbeddedName is how the embedded database is named in Info.
const EmbeddedName = "embedded:geo-whois-asn-country (CC BY 4.0, Number Resource Organization)"

// Info describes the database in use, for the admin API.
type Info struct {
	Source       string    `json:"source"`
	DatabaseType string    `json:"database_type"`
	BuildTime    time.Time `json:"build_time"`
	Records      int       `json:"decoded_records"`
}

// DB is a country database that can be swapped at run time. Lookup is safe
// for concurrent use with itself and with Reload.
type DB struct {
	cur     atomic.Pointer[reader]
	lookups atomic.Uint64
	found   atomic.Uint64
}

// reader is one opened database plus the countries decoded from it, keyed
// by data offset. Country databases have a few hundred distinct records, so
// the map stays small; it is copied on write and read without locks.
type reader struct {
	r      *maxminddb.Reader
	source string
	mu     sync.Mutex
	byOff  atomic.Pointer[map[uintptr]Country]
}

// OpenEmbedded opens the database compiled into the binary.
func OpenEmbedded() (*DB, error) {
	rd, err := openBytes(embeddedDB, EmbeddedName)
	if err != nil {
		return nil, err
	}
	db := &DB{}
	db.cur.Store(rd)
	return db, nil
}

// Open opens a MaxMind DB file; path "" means the embedded database.
func Open(path string) (*DB, error) {
	if path == "" {
		return OpenEmbedded()
	}
	rd, err := openFile(path)
	if err != nil {
		return nil, err
	}
	db := &DB{}
	db.cur.Store(rd)
	return db, nil
}

// Reload opens path ("" for the embedded database) and, if it reads, makes
// it the database of every later Lookup. On error the old one stays.
func (db *DB) Reload(path string) error {
	var rd *reader
	var err error
	if path == "" {
		rd, err = openBytes(embeddedDB, EmbeddedName)
	} else {
		rd, err = openFile(path)
	}
	if err != nil {
		return err
	}
	// The old reader is not closed: lookups in flight may still use it, and
	// an in-memory (non-mmap) reader is reclaimed by the collector.
	db.cur.Store(rd)
	return nil
}

func openBytes(b []byte, name string) (*reader, error) {
	r, err := maxminddb.OpenBytes(b)
	if err != nil {
		return nil, fmt.Errorf("geo: open %s: %w", name, err)
	}
	return newReader(r, name)
}

func openFile(path string) (*reader, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geo: open %s: %w", path, err)
	}
	return newReader(r, path)
}

func newReader(r *maxminddb.Reader, source string) (*reader, error) {
	rd := &reader{r: r, source: source}
	m := map[uintptr]Country{}
	rd.byOff.Store(&m)
	// Probe a well-known address so a file of the wrong shape fails at load,
	// not silently at every lookup.
	if _, _, err := rd.decode(netip.MustParseAddr("8.8.8.8")); err != nil {
		return nil, fmt.Errorf("geo: open %s: %w", source, err)
	}
	return rd, nil
}

// record shapes: the embedded database has {"country_code": "XX"};
// GeoLite2 and DB-IP country/city files have {"country": {"iso_code": "XX"}}
// (and "registered_country" when the location is unknown).
type shapedRecord struct {
	CountryCode string `maxminddb:"country_code"`
	Country     struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	Registered struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
}

var errNoCountry = errors.New("record has no country code")

// decode looks ip up and returns its country, decoding a data record only
// the first time its offset is seen.
func (rd *reader) decode(ip netip.Addr) (Country, bool, error) {
	res := rd.r.Lookup(ip)
	if err := res.Err(); err != nil {
		return Country{}, false, err
	}
	if !res.Found() {
		return Country{}, false, nil
	}
	off := res.Offset()
	if c, ok := (*rd.byOff.Load())[off]; ok {
		return c, !c.IsZero(), nil
	}
	var rec shapedRecord
	if err := res.Decode(&rec); err != nil {
		return Country{}, false, err
	}
	code := rec.CountryCode
	if code == "" {
		code = rec.Country.ISOCode
	}
	if code == "" {
		code = rec.Registered.ISOCode
	}
	c, ok := countryFromBytes([]byte(code))
	rd.remember(off, c)
	if !ok {
		if code != "" {
			return Country{}, false, fmt.Errorf("%w: %q", errNoCountry, code)
		}
		return Country{}, false, nil
	}
	return c, true, nil
}

func (rd *reader) remember(off uintptr, c Country) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	old := *rd.byOff.Load()
	if _, ok := old[off]; ok {
		return
	}
	m := make(map[uintptr]Country, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[off] = c
	rd.byOff.Store(&m)
}

// Lookup returns the country of ip; ok is false when the database has no
// country for it (loopback, private ranges, unallocated space). It
// allocates nothing once the record of ip's network has been seen.
func (db *DB) Lookup(ip netip.Addr) (c Country, ok bool) {
	db.lookups.Add(1)
	rd := db.cur.Load()
	c, ok, err := rd.decode(ip.Unmap())
	if err != nil || !ok {
		return Country{}, false
	}
	db.found.Add(1)
	return c, true
}

// Stats returns the number of lookups and of lookups that found a country.
func (db *DB) Stats() (lookups, found uint64) {
	return db.lookups.Load(), db.found.Load()
}

// Info describes the database in use.
func (db *DB) Info() Info {
	rd := db.cur.Load()
	md := rd.r.Metadata
	return Info{
		Source:       rd.source,
		DatabaseType: md.DatabaseType,
		BuildTime:    md.BuildTime().UTC(),
		Records:      len(*rd.byOff.Load()),
	}
}
