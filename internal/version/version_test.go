package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{"no build info", nil, false, "devel go"},
		{"go run or a tree without VCS", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			true, "devel go1.26.8"},
		{"a tagged release", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.3.0"},
			Settings: settings("vcs.revision", "0123456789abcdef0123456789abcdef01234567", "vcs.time", "2026-01-02T03:04:05Z",
				"vcs.modified", "false", "GOOS", "darwin", "GOARCH", "arm64")},
			true, "v0.3.0 (rev 0123456789ab, 2026-01-02T03:04:05Z) go1.26.8 darwin/arm64"},
		{"a dirty tree", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20260102030405-0123456789ab+dirty"},
			Settings: settings("vcs.revision", "0123456789abcdef0123456789abcdef01234567", "vcs.modified", "true", "GOOS", "linux", "GOARCH", "amd64")},
			true, "v0.0.0-20260102030405-0123456789ab+dirty (rev 0123456789ab, modified) go1.26.8 linux/amd64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := FromBuildInfo(tc.bi, tc.ok).String()
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("got %q, want it to start with %q", got, tc.want)
			}
		})
	}
}

// A test binary carries build information without a version: it reads as
// Devel, never as an empty string.
func TestGet(t *testing.T) {
	i := Get()
	if i.Version == "" || i.GoVersion == "" || i.Platform == "" {
		t.Errorf("incomplete %+v", i)
	}
}
