package rawsock

import (
	"syscall"
	"testing"
	"time"
)

func TestAccept4Outcome(t *testing.T) {
	for e, want := range map[syscall.Errno]AcceptOutcome{
		0: Accepted, syscall.EAGAIN: AcceptEmpty,
		syscall.EINTR: AcceptRetry, syscall.ECONNABORTED: AcceptRetry, syscall.EPROTO: AcceptRetry,
		syscall.EMFILE: AcceptPause, syscall.ENFILE: AcceptPause, syscall.ENOBUFS: AcceptPause, syscall.ENOMEM: AcceptPause,
		syscall.EINVAL: AcceptStop, syscall.EBADF: AcceptStop,
	} {
		if got := Accept4Outcome(e); got != want {
			t.Errorf("%v: %v, want %v", e, got, want)
		}
	}
}

func TestAcceptBackoff(t *testing.T) {
	var d time.Duration
	var seq []time.Duration
	for range 10 {
		d = AcceptBackoff(d)
		seq = append(seq, d)
	}
	if seq[0] != 5*time.Millisecond || seq[1] != 10*time.Millisecond || seq[7] != 640*time.Millisecond || seq[8] != time.Second || seq[9] != time.Second {
		t.Fatalf("back-off %v", seq)
	}
}

// Accept4 on a listening socket with nothing queued says EAGAIN, then
// takes a connection with the peer's address.
func TestAccept4(t *testing.T) {
	ln, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(ln)
	if err := syscall.Bind(ln, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(ln, 8); err != nil {
		t.Fatal(err)
	}
	var rsa syscall.RawSockaddrAny
	if _, e := Accept4(ln, &rsa); Accept4Outcome(e) != AcceptEmpty {
		t.Fatalf("empty queue: %v", e)
	}
	local := LocalAddrPort(ln)
	c, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(c)
	if err := syscall.Connect(c, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: int(local.Port())}); err != nil {
		t.Fatal(err)
	}
	fd, e := Accept4(ln, &rsa)
	if e != 0 {
		t.Fatalf("accept4: %v", e)
	}
	defer syscall.Close(fd)
	if got, want := AddrPort(&rsa), LocalAddrPort(c); got != want {
		t.Fatalf("peer %v, want %v", got, want)
	}
	if got := LocalAddrPort(fd); got != local {
		t.Fatalf("accepted socket's local address %v, want %v", got, local)
	}
}
