// Package temporalclient connects the worker and the starter to Temporal the
// same way: one configuration path (flags over the SDK's envconfig
// conventions: TEMPORAL_* variables and the TOML profile, for TLS, mTLS and
// API keys), an error that says what to check when the server is not there,
// and the check of the namespace's search attributes.
package temporalclient

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"
)

// DialTimeout bounds how long a binary waits for Temporal before saying it is
// unreachable.
const DialTimeout = 10 * time.Second

// Dial connects with opts (from Load, plus the caller's Logger and
// MetricsHandler) and checks that the server answers.
func Dial(ctx context.Context, opts client.Options) (client.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("cannot reach Temporal at %s (namespace %q): %w; is the server running? set TEMPORAL_ADDRESS or -temporal-address (and TEMPORAL_TLS*/TEMPORAL_API_KEY or a TEMPORAL_PROFILE for a secured cluster)", opts.HostPort, opts.Namespace, err)
	}
	return c, nil
}
