package temporalclient

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
)

// Flags are the connection settings a command line gives. A nil field leaves
// the setting to the environment, the config profile or the default.
type Flags struct {
	Address   *string // -temporal-address
	Namespace *string // -temporal-namespace
}

// Register adds -temporal-address and -temporal-namespace to fs, and the
// Temporal CLI's spellings -address and -namespace as aliases, so that a
// command line copied from `temporal …` works.
func (f *Flags) Register(fs *flag.FlagSet) {
	setAddress := func(s string) error { f.Address = &s; return nil }
	setNamespace := func(s string) error { f.Namespace = &s; return nil }
	fs.Func("temporal-address", "Temporal frontend host:port (default: env TEMPORAL_ADDRESS, else the address of the config profile, else "+client.DefaultHostPort+")", setAddress)
	fs.Func("address", "alias of -temporal-address (the Temporal CLI's name)", setAddress)
	fs.Func("temporal-namespace", "Temporal namespace (default: env TEMPORAL_NAMESPACE, else the namespace of the config profile, else "+client.DefaultNamespace+")", setNamespace)
	fs.Func("namespace", "alias of -temporal-namespace (the Temporal CLI's name)", setNamespace)
}

// Load resolves the client options, each setting from the first of: the
// flag, the TEMPORAL_* environment variable, the TOML profile
// (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE; the SDK's envconfig), the default
// (localhost:7233, namespace "default"). TLS, mTLS, API keys and gRPC
// headers come from the environment and the profile only. getenv is injected
// so that tests do not touch the process environment; a blank variable
// counts as unset.
func Load(f Flags, getenv func(string) string) (client.Options, error) {
	opts, err := envconfig.LoadClientOptions(envconfig.LoadClientOptionsRequest{EnvLookup: env(getenv)})
	if err != nil {
		return opts, fmt.Errorf("read the Temporal client settings (TEMPORAL_* environment, TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE): %w", err)
	}
	if err := override(&opts.HostPort, f.Address, "temporal-address"); err != nil {
		return opts, err
	}
	if err := override(&opts.Namespace, f.Namespace, "temporal-namespace"); err != nil {
		return opts, err
	}
	if opts.HostPort == "" {
		opts.HostPort = client.DefaultHostPort
	}
	if opts.Namespace == "" {
		opts.Namespace = client.DefaultNamespace
	}
	return opts, nil
}

// override sets *dst to a flag's value when the flag was given.
func override(dst, flagValue *string, name string) error {
	if flagValue == nil {
		return nil
	}
	if strings.TrimSpace(*flagValue) == "" {
		return errors.New(name + " must not be empty: give a value, or leave the flag out to use the environment or the config profile")
	}
	*dst = *flagValue
	return nil
}

// env adapts getenv to the SDK's envconfig.EnvLookup.
type env func(string) string

var _ envconfig.EnvLookup = env(nil)

func (e env) LookupEnv(name string) (string, bool) {
	v := strings.TrimSpace(e(name))
	return v, v != ""
}

// Environ is the process environment: envconfig scans it only for the
// TEMPORAL_GRPC_META_* headers, which a getenv cannot list.
func (env) Environ() []string { return os.Environ() }
