package geo

import (
	"math"

	"github.com/oschwald/maxminddb-golang/v2/mmdbdata"
)

// The records borderwatch reads decode themselves (mmdbdata's
// CursorUnmarshaler) instead of through maxminddb's reflection: a flood of
// flows to random addresses decodes an ASN record for every sixth new flow
// (the record caches miss), and reflection was a tenth of the CPU time of
// reading a flood (pprof). They decode what reflection decodes, field for
// field, and fail where it fails (a value of another type, an integer out of
// range): TestRecordDecoders compares them on every record of the embedded
// databases and of written ones.

// readMap reads the map at c, of the record type T (named in errors):
// field reads each key's value and returns the cursor after it (v.Skip()
// for a key it does not read). It returns the cursor after the map.
func readMap[T any](c mmdbdata.Cursor, field func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error)) (mmdbdata.Cursor, error) {
	m, err := c.Map()
	if err != nil {
		return mmdbdata.Cursor{}, mmdbdata.NormalizeUnmarshalError[T](err)
	}
	var next mmdbdata.Cursor
	for {
		key, v, ok := m.Next(next)
		if !ok {
			break
		}
		if next, err = field(key, v); err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return m.End()
}

// UnmarshalMaxMindDBCursor decodes an ASN record.
func (r *asnRecord) UnmarshalMaxMindDBCursor(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	return readMap[asnRecord](c, func(key []byte, v mmdbdata.Cursor) (next mmdbdata.Cursor, err error) {
		switch string(key) {
		case "autonomous_system_number":
			var n uint64
			if n, next, err = v.ReadUint(); err != nil {
				return next, mmdbdata.NormalizeUnmarshalError[uint32](err)
			}
			if n > math.MaxUint32 {
				return next, mmdbdata.NewUnmarshalTypeError[uint32](n)
			}
			r.ASN = uint32(n)
			return next, nil
		case "autonomous_system_organization":
			r.Org, next, err = readString(v)
			return next, err
		}
		return v.Skip()
	})
}

// UnmarshalMaxMindDBCursor decodes an IPinfo Lite record (or a flat
// country record, country_code only).
func (r *ipinfoRecord) UnmarshalMaxMindDBCursor(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	return readMap[ipinfoRecord](c, func(key []byte, v mmdbdata.Cursor) (next mmdbdata.Cursor, err error) {
		switch string(key) {
		case "country_code":
			r.CountryCode, next, err = readString(v)
		case "asn":
			r.ASN, next, err = readString(v)
		case "as_name":
			r.ASName, next, err = readString(v)
		default:
			next, err = v.Skip()
		}
		return next, err
	})
}

// UnmarshalMaxMindDBCursor decodes a MaxMind-schema country record
// (country and registered_country's iso_code).
func (r *countryRecord) UnmarshalMaxMindDBCursor(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	return readMap[countryRecord](c, func(key []byte, v mmdbdata.Cursor) (next mmdbdata.Cursor, err error) {
		switch string(key) {
		case "country":
			r.Country.ISOCode, next, err = readISOCode(v)
		case "registered_country":
			r.RegisteredCountry.ISOCode, next, err = readISOCode(v)
		default:
			next, err = v.Skip()
		}
		return next, err
	})
}

// readISOCode reads a map's iso_code (a country's).
func readISOCode(c mmdbdata.Cursor) (code string, next mmdbdata.Cursor, err error) {
	next, err = readMap[struct{ ISOCode string }](c, func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
		if string(key) != "iso_code" {
			return v.Skip()
		}
		var next mmdbdata.Cursor
		var err error
		code, next, err = readString(v)
		return next, err
	})
	if err != nil {
		return "", mmdbdata.Cursor{}, err
	}
	return code, next, nil
}

func readString(c mmdbdata.Cursor) (string, mmdbdata.Cursor, error) {
	s, next, err := c.ReadString()
	if err != nil {
		return "", mmdbdata.Cursor{}, mmdbdata.NormalizeUnmarshalError[string](err)
	}
	return s, next, nil
}
