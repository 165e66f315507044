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

// UnmarshalMaxMindDBCursor decodes an ASN record.
func (r *asnRecord) UnmarshalMaxMindDBCursor(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	m, err := c.Map()
	if err != nil {
		return mmdbdata.Cursor{}, mmdbdata.NormalizeUnmarshalError[asnRecord](err)
	}
	var next mmdbdata.Cursor
	for {
		key, v, ok := m.Next(next)
		if !ok {
			break
		}
		switch string(key) {
		case "autonomous_system_number":
			var n uint64
			if n, next, err = v.ReadUint(); err != nil {
				err = mmdbdata.NormalizeUnmarshalError[uint32](err)
			} else if n > math.MaxUint32 {
				err = mmdbdata.NewUnmarshalTypeError[uint32](n)
			} else {
				r.ASN = uint32(n)
			}
		case "autonomous_system_organization":
			r.Org, next, err = readString(v)
		default:
			next, err = v.Skip()
		}
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return m.End()
}

// UnmarshalMaxMindDBCursor decodes an IPinfo Lite record (or a flat
// country record, country_code only).
func (r *ipinfoRecord) UnmarshalMaxMindDBCursor(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	m, err := c.Map()
	if err != nil {
		return mmdbdata.Cursor{}, mmdbdata.NormalizeUnmarshalError[ipinfoRecord](err)
	}
	var next mmdbdata.Cursor
	for {
		key, v, ok := m.Next(next)
		if !ok {
			break
		}
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
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return m.End()
}

// UnmarshalMaxMindDBCursor decodes a MaxMind-schema country record
// (country and registered_country's iso_code).
func (r *countryRecord) UnmarshalMaxMindDBCursor(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	m, err := c.Map()
	if err != nil {
		return mmdbdata.Cursor{}, mmdbdata.NormalizeUnmarshalError[countryRecord](err)
	}
	var next mmdbdata.Cursor
	for {
		key, v, ok := m.Next(next)
		if !ok {
			break
		}
		switch string(key) {
		case "country":
			r.Country.ISOCode, next, err = readISOCode(v)
		case "registered_country":
			r.RegisteredCountry.ISOCode, next, err = readISOCode(v)
		default:
			next, err = v.Skip()
		}
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return m.End()
}

// readISOCode reads a map's iso_code (a country's).
func readISOCode(c mmdbdata.Cursor) (code string, next mmdbdata.Cursor, err error) {
	m, err := c.Map()
	if err != nil {
		return "", mmdbdata.Cursor{}, mmdbdata.NormalizeUnmarshalError[struct{ ISOCode string }](err)
	}
	for {
		key, v, ok := m.Next(next)
		if !ok {
			break
		}
		if string(key) == "iso_code" {
			code, next, err = readString(v)
		} else {
			next, err = v.Skip()
		}
		if err != nil {
			return "", mmdbdata.Cursor{}, err
		}
	}
	next, err = m.End()
	return code, next, err
}

func readString(c mmdbdata.Cursor) (string, mmdbdata.Cursor, error) {
	s, next, err := c.ReadString()
	if err != nil {
		return "", mmdbdata.Cursor{}, mmdbdata.NormalizeUnmarshalError[string](err)
	}
	return s, next, nil
}
