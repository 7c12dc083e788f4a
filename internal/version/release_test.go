package version_test

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func gitOutput(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// make release, for this machine's platform, from a clone of the committed
// HEAD (uncommitted changes are not part of a release; a git worktree gets
// no VCS stamp): the archive holds the three binaries and the docs, the
// checksums verify, and each binary's -version names the module version and
// the commit that the archive is named after.
func TestRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries (-short)")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skip("not a git checkout: a release is built from one")
	}
	root := strings.TrimSpace(string(top))
	head := gitOutput(t, root, "rev-parse", "HEAD")
	clone := filepath.Join(t.TempDir(), "src")
	gitOutput(t, ".", "clone", "--quiet", "--no-checkout", root, clone)
	gitOutput(t, clone, "checkout", "--quiet", "--detach", head)

	out := t.TempDir()
	platform := runtime.GOOS + "/" + runtime.GOARCH
	cmd := exec.Command("bash", "scripts/release.sh")
	cmd.Dir = clone
	cmd.Env = append(os.Environ(), "OUT="+out, "PLATFORMS="+platform)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("release.sh: %v\n%s", err, b)
	}
	versions, err := os.ReadDir(out)
	if err != nil || len(versions) != 1 {
		t.Fatalf("%s holds %v (%v), want one version directory", out, versions, err)
	}
	v := versions[0].Name()
	tags := strings.Fields(gitOutput(t, clone, "tag", "--points-at", "HEAD"))
	if !strings.HasPrefix(v, "v") || !strings.Contains(v, head[:12]) && !slices.Contains(tags, v) {
		t.Errorf("version %q: neither a tag of HEAD (%q) nor a pseudo-version of %s", v, tags, head[:12])
	}
	dir := filepath.Join(out, v)
	sum := exec.Command("sha256sum", "-c", "SHA256SUMS")
	sum.Dir = dir
	if b, err := sum.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum -c: %v\n%s", err, b)
	}
	name := "manualdag_" + v + "_" + runtime.GOOS + "_" + runtime.GOARCH
	bin := t.TempDir()
	files := untar(t, filepath.Join(dir, name+".tar.gz"), bin)
	for _, f := range []string{"worker", "starter", "dataworks-emulator", "LICENSE", "README.md", "CHANGELOG.md"} {
		if !files[name+"/"+f] {
			t.Errorf("the archive lacks %s/%s (has %v)", name, f, files)
		}
	}
	for _, args := range [][]string{{"worker", "-version"}, {"starter", "version"}, {"dataworks-emulator", "-version"}} {
		b, err := exec.Command(filepath.Join(bin, name, args[0]), args[1:]...).Output()
		if err != nil {
			t.Fatalf("%s: %v", args, err)
		}
		want := args[0] + " " + v + " (rev " + head[:12]
		if !strings.HasPrefix(string(b), want) {
			t.Errorf("%s: %q, want it to start %q", args, b, want)
		}
	}
}

// untar extracts a .tar.gz into dir and returns the names it held.
func untar(t *testing.T, archive, dir string) map[string]bool {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names[strings.TrimSuffix(h.Name, "/")] = true
		path := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(path, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		w, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, os.FileMode(h.Mode)&0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, tr); err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
}
