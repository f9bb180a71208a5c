package l7

import (
	"net"
	"testing"
	"time"
)

type deadlineRecorder struct {
	net.Conn
	reads, writes []time.Time
}

func (d *deadlineRecorder) SetReadDeadline(t time.Time) error {
	d.reads = append(d.reads, t)
	return nil
}

func (d *deadlineRecorder) SetWriteDeadline(t time.Time) error {
	d.writes = append(d.writes, t)
	return nil
}

// Redundant deadline updates are dropped; earlier, cleared or much later
// deadlines always reach the connection.
func TestDeadlineConnCoalesces(t *testing.T) {
	rec := &deadlineRecorder{}
	c := &deadlineConn{Conn: rec}
	t0 := time.Now().Add(time.Minute)
	steps := []struct {
		at    time.Time
		apply bool
	}{
		{t0, true},
		{t0.Add(100 * time.Millisecond), false}, // within the slack: the earlier one stays
		{t0.Add(time.Second), true},
		{t0, true},                  // earlier: always applied
		{time.Now(), true},          // a wake-up (drain)
		{time.Time{}, true},         // cleared
		{t0.Add(time.Second), true}, // after a clear
	}
	want := 0
	for i, s := range steps {
		_ = c.SetReadDeadline(s.at)
		_ = c.SetWriteDeadline(s.at)
		if s.apply {
			want++
		}
		if len(rec.reads) != want || len(rec.writes) != want {
			t.Fatalf("step %d: %d read / %d write deadlines applied, want %d", i, len(rec.reads), len(rec.writes), want)
		}
		if s.apply && !rec.reads[want-1].Equal(s.at) {
			t.Fatalf("step %d: applied %v, want %v", i, rec.reads[want-1], s.at)
		}
	}
}
