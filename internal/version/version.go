// Package version says which build of manualdag is running. Everything comes
// from what the Go toolchain stamps into every binary (runtime/debug.
// ReadBuildInfo): the main module's version (a tag such as v0.3.0 when the
// commit is tagged, else a pseudo-version) and the VCS revision, time and
// dirty flag. No release step has to remember -ldflags, and `go install
// github.com/manualdag/manualdag/worker@v0.3.0` reports v0.3.0 too.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Devel is the version of a binary the toolchain could not stamp: built
// without VCS information (no .git, as in a Docker build context, or
// -buildvcs=false) or by `go run`/`go test`.
const Devel = "devel"

// Info is one binary's build.
type Info struct {
	// Version is the main module's version: v0.3.0, a pseudo-version
	// (v0.0.0-20260101120000-0123456789ab, "+dirty" for uncommitted
	// changes), or Devel.
	Version string
	// Revision is the full VCS commit hash; empty when unknown.
	Revision string
	// Time is the commit time (RFC 3339); empty when unknown.
	Time string
	// Modified says the working tree had uncommitted changes.
	Modified bool
	// GoVersion is the toolchain that built the binary (go1.26.8).
	GoVersion string
	// Platform is GOOS/GOARCH of the binary.
	Platform string
}

// Get is the running binary's Info.
func Get() Info {
	bi, ok := debug.ReadBuildInfo()
	return FromBuildInfo(bi, ok)
}

// FromBuildInfo reads an Info out of bi (ok false: no build information).
func FromBuildInfo(bi *debug.BuildInfo, ok bool) Info {
	i := Info{Version: Devel, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if !ok || bi == nil {
		return i
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		i.Version = v
	}
	if bi.GoVersion != "" {
		i.GoVersion = bi.GoVersion
	}
	var goos, goarch string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Revision = s.Value
		case "vcs.time":
			i.Time = s.Value
		case "vcs.modified":
			i.Modified = s.Value == "true"
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		}
	}
	if goos != "" && goarch != "" {
		i.Platform = goos + "/" + goarch
	}
	return i
}

// ShortRevision is the first 12 characters of Revision, as Go's
// pseudo-versions and `git log --abbrev=12` print it.
func (i Info) ShortRevision() string {
	if len(i.Revision) > 12 {
		return i.Revision[:12]
	}
	return i.Revision
}

// String is the line `--version` prints after the program's name:
// "v0.3.0 (rev 0123456789ab, 2026-01-02T03:04:05Z) go1.26.8 linux/amd64",
// with ", modified" when the tree was dirty.
func (i Info) String() string {
	var b strings.Builder
	b.WriteString(i.Version)
	if i.Revision != "" {
		details := []string{"rev " + i.ShortRevision()}
		if i.Time != "" {
			details = append(details, i.Time)
		}
		if i.Modified {
			details = append(details, "modified")
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(details, ", "))
	}
	fmt.Fprintf(&b, " %s %s", i.GoVersion, i.Platform)
	return b.String()
}
