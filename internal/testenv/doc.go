// Package testenv holds what the commands' tests share: a log buffer safe
// for a server and a test at once, loopback addresses (free and dead),
// waiting for a listener or a condition with a deadline, building a
// binary once per test run, and running a command with a deadline.
//
// It is for tests only: nothing outside _test.go files imports it. It
// never uses an address outside 127.0.0.0/8, and every wait is bounded.
//
//	func TestMain(m *testing.M) { code := m.Run(); testenv.RemoveBuilt(); os.Exit(code) }
//
//	bin := testenv.Build(t, ".", "lb") // go build once per run
//	res := testenv.Run(t, 30*time.Second, bin, "validate", "-config", p)
//	if res.Code != 2 { ... }
//	addr := testenv.DeadAddr(t) // nothing listens there
//	testenv.WaitListening(t, addr, 5*time.Second)
package testenv
