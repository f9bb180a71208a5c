package cache

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestStoreFilesLargeBodies: a stored body over FileBodyOver gets a sealed
// memfd holding the same bytes (what sendfile sends), counted twice in the
// store's bytes; a small one does not; a 304 refresh keeps the file; a
// compressed variant gets its own file with the encoded bytes; an entry that
// is never stored gets none.
func TestStoreFilesLargeBodies(t *testing.T) {
	s := newStore(t, Options{MaxSize: 64 << 20})
	p := TTLPolicy{DefaultTTL: time.Hour, MaxTTL: 24 * time.Hour}
	now := time.Now()
	big := strings.Repeat("0123456789abcdef", (FileBodyOver+1000)/16)
	e := entry(t, &p, now, 200, "max-age=600", big)
	if e.File() != nil {
		t.Fatal("an entry has a body file before it is stored")
	}
	small := entry(t, &p, now, 200, "max-age=600", "small")
	if !s.Set(mustKey("d", "/big"), e) || !s.Set(mustKey("d", "/small"), small) {
		t.Fatal("Set refused")
	}
	s.Wait()
	if small.File() != nil {
		t.Fatal("a small body got a file")
	}
	f := e.File()
	if f == nil {
		t.Fatal("a large stored body has no file")
	}
	if got := readBodyFile(t, f, len(big)); got != big {
		t.Fatalf("file holds %d bytes, equal %v", len(got), got == big)
	}
	if _, err := unix.Pwrite(f.Fd(), []byte("x"), 0); err == nil {
		t.Fatal("the body file is writable (not sealed)")
	}
	if st := s.Stats(); st.Bytes < int64(2*len(big)) {
		t.Fatalf("store counts %d bytes, want both copies of %d", st.Bytes, len(big))
	}
	n, _ := e.Refresh(&p, []Field{{"Cache-Control", "max-age=60"}}, now, now)
	if n.File() != f {
		t.Fatal("a refreshed entry does not share its body file")
	}
	c, err := Compress(e, Gzip)
	if err != nil {
		t.Fatal(err)
	}
	if c.File() != nil {
		t.Fatal("a compressed variant kept the identity body's file")
	}
	// The encoded body of this repetitive text is far under FileBodyOver:
	// random bytes do not shrink.
	noisy := make([]byte, FileBodyOver+4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range noisy {
		noisy[i] = byte(rng.Uint32())
	}
	e2 := entry(t, &p, now, 200, "max-age=600", string(noisy))
	c2, err := Compress(e2, Gzip)
	if err != nil {
		t.Fatal(err)
	}
	if len(c2.Body) <= FileBodyOver {
		t.Fatalf("encoded body only %d bytes", len(c2.Body))
	}
	if !s.Set(mustKey("d", "/noisy.gz"), c2) {
		t.Fatal("Set refused the variant")
	}
	if c2.File() == nil || readBodyFile(t, c2.File(), len(c2.Body)) != string(c2.Body) {
		t.Fatal("the compressed variant's file does not hold its encoded body")
	}
}

func readBodyFile(t *testing.T, f *BodyFile, n int) string {
	t.Helper()
	b := make([]byte, n+1)
	got, err := unix.Pread(f.Fd(), b, 0)
	if err != nil {
		t.Fatal(err)
	}
	return string(b[:got])
}
