// Package names learns the name behind remote addresses: DNS answers
// (A/AAAA and CNAME chains), TLS ClientHello SNI, QUIC Initial SNI (v1, v2,
// drafts, gQUIC Q043/Q046/Q050) and HTTP/1.x Host headers.
//
// Parsers take byte slices of untrusted packets and never panic; they
// allocate only when they return a newly found name. A Tracker (one per
// worker goroutine) follows the first client flight of unnamed flows with a
// bounded reassembly pool. A Cache (shared by all workers) maps
// (client, server) address pairs to the name the client resolved, honouring
// DNS TTLs against packet time.
//
// The package knows nothing of Prometheus: counters live in Stats and are
// read by the caller's collector.
package names
