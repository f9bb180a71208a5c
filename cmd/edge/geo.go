package main

import (
	"flag"
	"fmt"
	"io"
	"net/netip"

	"github.com/switchyard/switchyard/geo"
)

// runGeo is `edge geo IP... [-db FILE]`: one "IP<TAB>CC" line per address,
// "--" when the database has no country for it.
func runGeo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edge geo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbPath := fs.String("db", "", "MaxMind DB file (GeoLite2/DB-IP country or city); default: the embedded database")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: edge geo [-db FILE] IP...")
		fs.PrintDefaults()
	}
	// Accept flags after the addresses too ("edge geo 8.8.8.8 -db x.mmdb").
	var ips []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		ips = append(ips, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(ips) == 0 {
		fs.Usage()
		return 2
	}
	addrs := make([]netip.Addr, len(ips))
	for i, s := range ips {
		a, err := netip.ParseAddr(s)
		if err != nil {
			fmt.Fprintf(stderr, "edge geo: invalid IP address %q\n", s)
			return 2
		}
		addrs[i] = a
	}
	db, err := geo.Open(*dbPath)
	if err != nil {
		fmt.Fprintf(stderr, "edge geo: %v\n", err)
		return 1
	}
	for i, a := range addrs {
		c, _ := db.Lookup(a)
		fmt.Fprintf(stdout, "%s\t%s\n", ips[i], c)
	}
	return 0
}
