package geo

import _ "embed"

// The embedded default databases, rebuilt by `make geodb` (tools/geodb;
// sources and licences in NOTICE). They are stored uncompressed (19 MB):
// the reader works on the bytes in the binary's data segment directly, so
// opening them costs no decompression (which took 270 ms for the gzip
// files) and no heap; the kernel pages in only what lookups touch.
var (
	//go:embed data/country.mmdb
	embeddedCountry []byte
	//go:embed data/asn.mmdb
	embeddedASN []byte
)
