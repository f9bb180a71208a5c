// Command lb is an Elastic Load Balancing–style load balancer: HTTP(S)
// listeners with ALB rules and actions (package l7), TCP/TLS listeners with
// NLB flow hashing and PROXY v2 (package l4), certificates and ACME (package
// tls), target groups with health checks and draining (packages health and
// internal/runtime), and around them the process: flags, signals, exit
// codes, the admin API with Prometheus metrics, the access log, SIGHUP
// reloads and SIGTERM drains.
//
//	lb                           run on the embedded lab default
//	lb -config FILE              run on FILE (-log-level, -log-format, -admin)
//	lb validate -config FILE     check FILE, print every error, exit 0 or 2
//	lb version
//
// app.go compiles a config into a snapshot (a router per HTTP listener, an
// l4 config per TCP listener, target groups, pre-resolved metrics) and
// applies it over what outlives snapshots: sockets keyed by address,
// target state, connection pools, health checkers, certificate stores.
// It does not route, balance or probe itself: those live in the packages
// it wires. docs/operations.md is the user-facing reference.
package main
