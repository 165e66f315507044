package geo

import _ "embed"

// The embedded defaults, rebuilt by `make geodb` (tools/geodb): see NOTICE.
var (
	//go:embed data/country.mmdb.gz
	embeddedCountry []byte
	//go:embed data/asn.mmdb.gz
	embeddedASN []byte
)
