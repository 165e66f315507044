package names

import "sync/atomic"

// Source tells where a name was learned.
type Source uint8

// Sources of names.
const (
	SourceNone Source = iota
	SourceDNS
	SourceSNI
	SourceQUIC
	SourceHTTP
	// NumSources is the number of sources (a new one goes before it).
	NumSources
)

// String returns the lower-case label of the source.
func (s Source) String() string {
	switch s {
	case SourceDNS:
		return "dns"
	case SourceSNI:
		return "sni"
	case SourceQUIC:
		return "quic"
	case SourceHTTP:
		return "http"
	}
	return "none"
}

// Stats counts what the parsers saw. All fields are updated with atomics
// and may be read at any time (for example by a metrics collector). One Stats
// may be shared by several Trackers.
type Stats struct {
	DNSMessages  atomic.Uint64 // DNS messages parsed (responses and queries)
	DNSMalformed atomic.Uint64 // DNS messages rejected as malformed or hostile
	DNSAnswers   atomic.Uint64 // (name, address) answers reported

	TLSHellos    atomic.Uint64 // ClientHellos parsed with an SNI
	TLSNoSNI     atomic.Uint64 // ClientHellos parsed without an SNI
	TLSMalformed atomic.Uint64 // ClientHellos rejected as malformed
	TLSECH       atomic.Uint64 // ClientHellos carrying Encrypted Client Hello

	QUICInitials      atomic.Uint64 // client Initial packets decrypted
	QUICDecryptFailed atomic.Uint64 // Initial packets that failed to decrypt
	QUICHellos        atomic.Uint64 // QUIC ClientHellos (TLS or gQUIC CHLO) with an SNI
	QUICMalformed     atomic.Uint64 // QUIC Initials or CRYPTO streams rejected

	HTTPHosts atomic.Uint64 // HTTP/1.x requests with a Host name

	AddressLiterals atomic.Uint64 // SNIs and HTTP Hosts that are IP address literals: no name

	ReassemblyOverflow atomic.Uint64 // flows given up: byte/segment limits or no free slot
	SlotsRecycled      atomic.Uint64 // reassembly slots taken from another unfinished flow
}
