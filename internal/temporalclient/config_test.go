package temporalclient

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func ptr(s string) *string { return &s }

// A profile of the TOML config file gives the address and namespace unless
// the environment or a flag says otherwise; the defaults come last.
func TestLoadPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "temporal.toml")
	toml := `
[profile.default]
address = "default-profile:7233"

[profile.prod]
address = "temporal.prod.internal:7233"
namespace = "data-platform"
`
	if err := os.WriteFile(file, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	prod := map[string]string{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "prod"}
	withEnv := map[string]string{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "prod", "TEMPORAL_ADDRESS": "from-env:7233"}
	for _, tc := range []struct {
		name        string
		flags       Flags
		env         map[string]string
		address, ns string
	}{
		{"profile", Flags{}, prod, "temporal.prod.internal:7233", "data-platform"},
		{"default profile", Flags{}, map[string]string{"TEMPORAL_CONFIG_FILE": file}, "default-profile:7233", "default"},
		{"environment over profile", Flags{}, withEnv, "from-env:7233", "data-platform"},
		{"flag over environment and profile", Flags{Address: ptr("from-flag:7233"), Namespace: ptr("flag-ns")}, withEnv, "from-flag:7233", "flag-ns"},
		{"blank environment is unset", Flags{}, map[string]string{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "prod", "TEMPORAL_ADDRESS": "  "}, "temporal.prod.internal:7233", "data-platform"},
		{"defaults", Flags{}, map[string]string{"TEMPORAL_CONFIG_FILE": filepath.Join(t.TempDir(), "none.toml")}, "localhost:7233", "default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := Load(tc.flags, envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if opts.HostPort != tc.address || opts.Namespace != tc.ns {
				t.Errorf("got %s, namespace %s; want %s, namespace %s", opts.HostPort, opts.Namespace, tc.address, tc.ns)
			}
		})
	}
}

func TestLoadRefuses(t *testing.T) {
	file := filepath.Join(t.TempDir(), "temporal.toml")
	if err := os.WriteFile(file, []byte("[profile.default]\naddress = \"a:7233\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		flags Flags
		env   map[string]string
		want  string
	}{
		{"empty address flag", Flags{Address: ptr("")}, map[string]string{"TEMPORAL_CONFIG_FILE": file}, "temporal-address must not be empty"},
		{"empty namespace flag", Flags{Namespace: ptr(" ")}, map[string]string{"TEMPORAL_CONFIG_FILE": file}, "temporal-namespace must not be empty"},
		{"unknown profile", Flags{}, map[string]string{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "staging"}, "unable to find profile staging"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.flags, envOf(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// The Temporal CLI's -address and -namespace set the same settings as
// -temporal-address and -temporal-namespace; the last one given wins.
func TestRegisterAliases(t *testing.T) {
	var f Flags
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	f.Register(fs)
	if err := fs.Parse([]string{"--temporal-address", "a:1", "--address", "b:2", "--namespace", "ns"}); err != nil {
		t.Fatal(err)
	}
	opts, err := Load(f, envOf(map[string]string{"TEMPORAL_CONFIG_FILE": "/nonexistent.toml"}))
	if err != nil {
		t.Fatal(err)
	}
	if opts.HostPort != "b:2" || opts.Namespace != "ns" {
		t.Errorf("got %s %s", opts.HostPort, opts.Namespace)
	}
}
