package config

import "testing"

func TestParseSiteLocation(t *testing.T) {
	if lat, lon, err := ParseSiteLocation(" 50.11, 8.68"); err != nil || lat != 50.11 || lon != 8.68 {
		t.Errorf("got %v %v %v", lat, lon, err)
	}
	for _, bad := range []string{"", "50.11", "91,0", "0,181", "NaN,0", "a,b", "1,2,3"} {
		if _, _, err := ParseSiteLocation(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
