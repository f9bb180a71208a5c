// Package geo answers "which country is this viewer in?" and "may that
// country come in?" for the edge's geo restriction, and formats the
// CloudFront-Viewer-* facts derived from a viewer (device class from
// User-Agent, address, TLS) so the edge can forward them to origins.
//
// Countries come from a MaxMind DB file: the embedded database (built from
// the regional internet registries' data, CC BY 4.0, Number Resource
// Organization) by default, or any GeoLite2 / DB-IP country or city file.
// Lookups of a netip.Addr allocate nothing: the record of each distinct
// data offset is decoded once and remembered.
//
// It does not know about HTTP servers or requests: callers pass addresses,
// header bytes and strings, so the package stays testable and usable by lb
// and edge alike.
//
//	db, _ := geo.OpenEmbedded()
//	cc, ok := db.Lookup(netip.MustParseAddr("81.2.69.142")) // "GB", true
//	r, _ := geo.NewRestriction("blacklist", []string{"KP", "IR"}, "allow")
//	if !r.Allow(cc, ok) { /* 403 with geo.BlockedPage(requestID) */ }
package geo
