package envvar

import (
	"strings"
	"testing"
)

func TestReader(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    string
		warning string
	}{
		{"new name", map[string]string{"MANUALDAG_DATAWORKS_REGION": "cn-beijing"}, "cn-beijing", ""},
		{"old name, with a warning", map[string]string{"DATAWORKS_REGION": "cn-beijing"}, "cn-beijing",
			"DATAWORKS_REGION is deprecated: rename it MANUALDAG_DATAWORKS_REGION"},
		{"both: the new one wins", map[string]string{"DATAWORKS_REGION": "cn-beijing", "MANUALDAG_DATAWORKS_REGION": "cn-hangzhou"}, "cn-hangzhou",
			"DATAWORKS_REGION is ignored because MANUALDAG_DATAWORKS_REGION is set"},
		{"blank is unset", map[string]string{"MANUALDAG_DATAWORKS_REGION": " ", "DATAWORKS_REGION": ""}, "def", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(func(k string) string { return tc.env[k] })
			if got := r.Or("MANUALDAG_DATAWORKS_REGION", "def"); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			r.Get("MANUALDAG_DATAWORKS_REGION") // read twice, warned once
			w := r.Warnings()
			switch {
			case tc.warning == "" && len(w) > 0:
				t.Errorf("warnings %q, want none", w)
			case tc.warning != "" && (len(w) != 1 || !strings.HasPrefix(w[0], tc.warning)):
				t.Errorf("warnings %q, want one starting %q", w, tc.warning)
			}
		})
	}
}

// Every current name carries the prefix; no old name does, and none is
// reused as a current name.
func TestRenamedTable(t *testing.T) {
	for cur, old := range Renamed() {
		if !strings.HasPrefix(cur, Prefix) || strings.HasPrefix(old, Prefix) {
			t.Errorf("%s ← %s: the current name starts with %s, the old one does not", cur, old, Prefix)
		}
		if _, ok := Renamed()[old]; ok {
			t.Errorf("%s is both an old and a current name", old)
		}
	}
}
