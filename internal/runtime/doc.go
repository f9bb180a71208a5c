// Package runtime holds the state that outlives a config snapshot: the
// target-state registry (health, draining, in-flight counts per target
// group and address), listening sockets kept across reloads by address
// (Socket), the drain coordinator for process shutdown, and the process
// shape both binaries share: the signal loop (SignalLoop), the
// command-line plumbing (Command, ServeFlags, exit codes) and the Go
// runtime setting a serving process starts with (KeepSysmonAwake, called
// by Command.Main). A
// reload compiles a new snapshot of listeners and rules, but the targets it
// names are looked up here by group and address, so a target that stays
// keeps its health and its in-flight requests, and a target that leaves
// drains instead of being cut.
//
// It does not probe targets (package health does) nor pick among them (the
// balancers in l7 and l4 do): it only records state and publishes, for each
// group, an immutable View of the targets that may take new traffic.
//
//	reg := runtime.NewRegistry(nil) // nil: wall clock
//	g := reg.Group("web")
//	g.SetSlowStart(30 * time.Second)
//	g.Sync([]runtime.TargetSpec{{Addr: "127.0.0.1:9001"}}, 300*time.Second)
//	stop := g.Watch(func(v *runtime.View) { rebuildBalancer(v) })
//	defer stop()
//	v := g.View() // lock-free; rebuilt on every state change
//	t := v.Routable[0]
//	w := float64(t.Weight) * t.SlowStartFactor(time.Now(), 30*time.Second)
//	t.Acquire(); defer t.Release()
//
// On SIGTERM:
//
//	d := runtime.NewDrainer(reg)
//	d.Begin() // readiness 503, listeners stop accepting
//	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
//	err := d.Wait(ctx) // nil when everything finished in time
//
// A serving main:
//
//	sigs, stop := runtime.NotifySignals(nil) // before listening
//	defer stop()
//	sock := runtime.NewSocket(addr, ln, listenerMetrics) // kept by a reload
//	go srv.Serve(sock.Handoff())                        // a reload swaps the Handoff
//	return runtime.SignalLoop{Signals: sigs, Reload: reload, Drain: drain}.Run()
package runtime
