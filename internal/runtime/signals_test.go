package runtime_test

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/runtime"
)

func TestSignalLoopReloadsThenDrains(t *testing.T) {
	sigs := make(chan os.Signal, 4)
	reloads := 0
	sigs <- syscall.SIGHUP
	sigs <- syscall.SIGHUP
	sigs <- syscall.SIGTERM
	code := runtime.SignalLoop{
		Signals: sigs,
		Reload:  func(os.Signal) { reloads++ },
		Drain: func(_ context.Context, sig os.Signal) int {
			if sig != syscall.SIGTERM {
				t.Errorf("drain got %v, want SIGTERM", sig)
			}
			return 7
		},
	}.Run()
	if code != 7 || reloads != 2 {
		t.Fatalf("code %d reloads %d, want 7 and 2", code, reloads)
	}
}

func TestSignalLoopSecondSignal(t *testing.T) {
	for _, tc := range []struct {
		name string
		act  runtime.Again
		want int
	}{
		{"exit now", runtime.ExitNow, 1},
		{"cancel drain", runtime.CancelDrain, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sigs := make(chan os.Signal, 4)
			sigs <- syscall.SIGTERM
			started := make(chan struct{})
			release := make(chan struct{})
			defer close(release)
			var againSeen []os.Signal
			go func() {
				<-started
				sigs <- syscall.SIGHUP // ignored
				sigs <- syscall.SIGINT
			}()
			code := runtime.SignalLoop{
				Signals: sigs,
				Reload:  func(os.Signal) { t.Error("reload during drain") },
				Drain: func(ctx context.Context, _ os.Signal) int {
					close(started)
					select {
					case <-ctx.Done():
						return 5
					case <-release:
						return 0
					case <-time.After(10 * time.Second):
						return 9
					}
				},
				Again: func(sig os.Signal) runtime.Again {
					againSeen = append(againSeen, sig)
					if sig == syscall.SIGHUP {
						return runtime.KeepDraining
					}
					return tc.act
				},
				ExitNowCode: 1,
			}.Run()
			if code != tc.want {
				t.Fatalf("code %d, want %d", code, tc.want)
			}
			if len(againSeen) != 2 || againSeen[0] != syscall.SIGHUP || againSeen[1] != syscall.SIGINT {
				t.Fatalf("Again saw %v, want [hangup interrupt]", againSeen)
			}
		})
	}
}

func TestSignalLoopClosed(t *testing.T) {
	sigs := make(chan os.Signal)
	close(sigs)
	if code := (runtime.SignalLoop{Signals: sigs, ClosedCode: 3}).Run(); code != 3 {
		t.Fatalf("code %d, want 3", code)
	}
}
