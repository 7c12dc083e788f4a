// Package temporalclient dials Temporal the same way for the worker and the
// starter: the SDK's envconfig conventions (TEMPORAL_* variables and the TOML
// profile, for TLS, mTLS and API keys), with address and namespace given
// explicitly, and an error that says what to check when the server is not
// there.
package temporalclient

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/log"
)

// DialTimeout bounds how long a binary waits for Temporal before saying it is
// unreachable.
const DialTimeout = 10 * time.Second

// Options are what the binaries set on top of the environment.
type Options struct {
	Address   string // host:port; empty = TEMPORAL_ADDRESS or localhost:7233
	Namespace string // empty = TEMPORAL_NAMESPACE or "default"
	Logger    log.Logger
	// MetricsHandler receives the SDK's metrics; nil = none.
	MetricsHandler client.MetricsHandler
}

// Dial connects and checks that the server answers.
func Dial(ctx context.Context, o Options) (client.Client, error) {
	opts, err := envconfig.LoadClientOptions(envconfig.LoadClientOptionsRequest{})
	if err != nil {
		return nil, fmt.Errorf("reading Temporal client settings (TEMPORAL_* environment or config profile): %w", err)
	}
	if o.Address != "" {
		opts.HostPort = o.Address
	}
	if opts.HostPort == "" {
		opts.HostPort = client.DefaultHostPort
	}
	if o.Namespace != "" {
		opts.Namespace = o.Namespace
	}
	if opts.Namespace == "" {
		opts.Namespace = client.DefaultNamespace
	}
	opts.Logger = o.Logger
	opts.MetricsHandler = o.MetricsHandler
	ctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("cannot reach Temporal at %s (namespace %q): %w; is the server running? set TEMPORAL_ADDRESS (and TEMPORAL_TLS*/TEMPORAL_API_KEY for a secured cluster)", opts.HostPort, opts.Namespace, err)
	}
	return c, nil
}
