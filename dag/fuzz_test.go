package dag

import (
	"maps"
	"regexp"
	"strconv"
	"testing"
)

// The fuzz targets' seeds run in every `go test`; their committed corpus is
// under testdata/fuzz. Run one with e.g.
//
//	go test -run '^$' -fuzz '^FuzzParseParams$' -fuzztime 30s ./dag/

func FuzzParseParams(f *testing.F) {
	for _, s := range []string{"param_k1=param_v1 param_k2=param_v2", "a=", "a=b=c", "  x=1\t y=2\n", "=v", "k", "a=1 a=2", "test=$[yyyy-mm-dd]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseParams(s)
		if err != nil {
			return
		}
		again, err := ParseParams(p.String())
		if err != nil {
			t.Fatalf("ParseParams(%q) = %v; its String %q does not parse: %v", s, p, p.String(), err)
		}
		if !maps.Equal(p, again) {
			t.Fatalf("round trip %v -> %q -> %v", p, p.String(), again)
		}
	})
}

var canonicalBizdate = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

func FuzzParseBizdate(f *testing.F) {
	for _, s := range []string{"2024-06-01", "2024-06-01 00:00:00", " 2024-06-01 ", "2024-06-01 12:00:00", "2024-02-30", "20240601", "2024-6-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseBizdate(s)
		if err != nil {
			return
		}
		if !canonicalBizdate.MatchString(d) {
			t.Fatalf("ParseBizdate(%q) = %q, not yyyy-MM-dd", s, d)
		}
		if again, err := ParseBizdate(d); err != nil || again != d {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, d, again, err)
		}
	})
}

func FuzzParseNodeID(f *testing.F) {
	for _, s := range []string{"103180025", " 7 ", "0", "-5", "ods_orders", "9223372036854775808", "1e3", "+4", "0103180025", "103180025 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseNodeID(s)
		if err != nil {
			return
		}
		if id <= 0 || strconv.FormatInt(id, 10) != s {
			t.Fatalf("ParseNodeID(%q) = %d: one id, one spelling", s, id)
		}
	})
}
