// Package l4 carries TCP like an AWS Network Load Balancer: TCP and TLS
// listeners that forward each flow to a target picked by a Maglev table over
// the 5-tuple (or the client address), PROXY protocol v2 towards targets,
// PROXY protocol v1/v2 from a trusted load balancer in front, an event
// loop of its own (one goroutine and one epoll instance per CPU) that
// accepts and carries plain TCP flows to IP targets as HAProxy does, and a goroutine
// copy that lets Linux splice between the two sockets for bulk transfers,
// slow receivers and TLS. The event loop and splice are Linux's (epoll,
// splice(2)); on other systems every flow takes the goroutine copy, bulk
// transfers go through its buffer, and listeners are accepted in Go.
//
// It does not parse HTTP, run health checks (package health does; l4 gives
// it DialLocal for PROXY v2 LOCAL headers), own listening sockets across
// reloads (cmd/lb does), or export Prometheus metrics (callers read
// Counters and the per-flow Record).
//
//	reg := runtime.NewRegistry(nil)
//	g := reg.Group("db")
//	g.Sync([]runtime.TargetSpec{{Addr: "127.0.0.1:5432"}}, 300*time.Second)
//	p, err := l4.NewProxy(l4.Config{Listener: "stream", Group: g, ProxyProtocolV2: true}, nil, logger)
//	ln, _ := net.Listen("tcp", "127.0.0.1:9000")
//	go p.Serve(ln)
//	defer p.Shutdown(ctx) // stop accepting, wait for flows, reset the rest at the deadline
//
// On a listening socket lent by the listener registry the event loops
// accept themselves (accept4 in the loop; see DirectListener):
//
//	sock := runtime.NewSocket(addr, ln, listenerMetrics)
//	go p.Serve(sock.Direct())
//
// A PROXY-protocol listener in front of any server (HTTP too):
//
//	ln = l4.NewProxyProtocolListener(ln, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, 5*time.Second)
//	c, _ := ln.Accept() // header already read: c.RemoteAddr() is the carried client
//
// One PROXY v2 header on a fresh target connection (HTTP target groups
// too; such a connection then belongs to that client only):
//
//	hdr, err := l4.AppendHeaderV2(buf[:0], client, listenerAddr, &l4.HeaderOptions{Authority: sni})
//	_, err = targetConn.Write(hdr)
//
// Health checks of a group with proxy_protocol_v2 dial with
// l4.DialLocal(&net.Dialer{}), which sends a LOCAL header first.
package l4
