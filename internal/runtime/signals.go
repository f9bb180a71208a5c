package runtime

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// NotifySignals returns the channel a serving command reads SIGHUP,
// SIGTERM and SIGINT from, and the function that stops delivery. Commands
// call it before they listen, so a SIGHUP during start-up cannot kill the
// process (its default action). A non-nil override (tests deliver signals
// through it) is returned as is and nothing is registered.
func NotifySignals(override chan os.Signal) (<-chan os.Signal, func()) {
	if override != nil {
		return override, func() {}
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	return sigs, func() { signal.Stop(sigs) }
}

// Again says what a signal that arrives while a drain runs does.
type Again int

const (
	// KeepDraining ignores the signal and keeps waiting for the drain.
	KeepDraining Again = iota
	// CancelDrain cancels the drain's context and waits for it to return;
	// its result is the loop's.
	CancelDrain
	// ExitNow returns SignalLoop.ExitNowCode at once, without waiting for
	// the drain.
	ExitNow
)

// SignalLoop is the life of a serving process after start-up: SIGHUP
// reloads, the first stop signal drains, a second one cuts the drain
// short. Both binaries share it so their signal handling cannot drift
// apart (SPEC §1).
type SignalLoop struct {
	// Signals is what NotifySignals returned.
	Signals <-chan os.Signal
	// Reload runs on every SIGHUP before the drain, in the loop's
	// goroutine: the next signal waits for it.
	Reload func(sig os.Signal)
	// Drain runs on the first other signal, in its own goroutine; ctx is
	// cancelled when Again says CancelDrain. Its result is Run's.
	Drain func(ctx context.Context, sig os.Signal) int
	// Again decides what each signal during the drain does; nil means
	// ExitNow for any signal.
	Again func(sig os.Signal) Again
	// ExitNowCode is what Run returns when Again says ExitNow.
	ExitNowCode int
	// ClosedCode is what Run returns when Signals is closed before any
	// stop signal.
	ClosedCode int
}

// Run blocks until the drain ends (its result), Again says ExitNow
// (ExitNowCode), or Signals is closed (ClosedCode).
func (l SignalLoop) Run() int {
	for sig := range l.Signals {
		if sig == syscall.SIGHUP {
			l.Reload(sig)
			continue
		}
		return l.drain(sig)
	}
	return l.ClosedCode
}

func (l SignalLoop) drain(first os.Signal) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- l.Drain(ctx, first) }()
	for {
		select {
		case code := <-done:
			return code
		case sig, ok := <-l.Signals:
			if !ok {
				// No more signals can come: only the drain ends the loop.
				return <-done
			}
			a := ExitNow
			if l.Again != nil {
				a = l.Again(sig)
			}
			switch a {
			case KeepDraining:
				continue
			case CancelDrain:
				cancel()
				return <-done
			default:
				return l.ExitNowCode
			}
		}
	}
}
