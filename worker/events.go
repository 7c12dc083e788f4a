package main

import (
	"context"
	"crypto/rsa"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/manualdag/manualdag/openevent"
)

// The OpenEvent receiver (package openevent) runs in the worker when
// -events-listen is set. Four settings, each for a reason:
//
//   - -events-listen: its own address, apart from /metrics, so that an
//     ingress or a network policy exposes the one EventBridge must reach and
//     nothing else. Off by default: it opens a port.
//   - -events-auth: v1, v2 or any (EventBridge's signatures; any is the
//     default, since which version a bus sends is not ours to choose), or
//     token for a sender on a private network that does not sign.
//   - -events-public-key: EventBridge's certificate or public key, pinned.
//     Without it the key is fetched from the URL a request names, only when
//     that URL is on the worker's own region's EventBridge bucket
//     (openevent.KeyHosts), and cached.
//   - -events-url: the target URL as configured in the EventBridge rule,
//     which the signature covers, for a proxy in front that changes the
//     host or path. Without it the request's own host and path are used.
//
// The shared token comes from MANUALDAG_EVENTS_TOKEN only: a flag would
// show it in process listings. In token mode it is required; with a
// signature it is optional and, set, must come with each push too (set the
// same value as the EventBridge target's signature token), which ties the
// pushes to your rule rather than to any EventBridge rule.
//
// TLS is not served here: put a TLS-terminating proxy in front (an
// Alibaba Cloud ALB/SLB listener, a Kubernetes Ingress). EventBridge's
// HTTPS targets need a certificate from a public CA for a public name,
// which such a proxy already obtains, renews and rotates; in the worker it
// would mean a certificate and key to mount and reload, for the one port
// that faces the outside. Behind the proxy the listener speaks plain HTTP
// on a private address: the signature covers the body whatever the
// scheme, and the verifier accepts the http form of the https URL that
// EventBridge signed.
type eventsConfig struct {
	// Listen is host:port; "" = the receiver is off (then every other field
	// is zero).
	Listen string
	Mode   openevent.Mode
	// PublicKeyFile and PublicKey are the pinned key, if any.
	PublicKeyFile string
	PublicKey     *rsa.PublicKey
	URL           string
	Token         secret
}

// secret is a string that never prints, whatever the verb.
type secret string

func (secret) String() string   { return "[redacted]" }
func (secret) GoString() string { return `"[redacted]"` }

// rawEvents are the events settings as given.
type rawEvents struct {
	listen, auth, publicKey, url, token string
}

// EnvEventsToken names the variable of the shared token.
const EnvEventsToken = "MANUALDAG_EVENTS_TOKEN"

func (r *rawEvents) register(fs *flag.FlagSet, env func(name, def string) string) {
	fs.StringVar(&r.listen, "events-listen", env("MANUALDAG_EVENTS_LISTEN", ""),
		"host:port on which to receive DataWorks OpenEvent pushes from EventBridge (its own listener, plain HTTP behind a TLS-terminating proxy); empty: off (env MANUALDAG_EVENTS_LISTEN)")
	fs.StringVar(&r.auth, "events-auth", env("MANUALDAG_EVENTS_AUTH", ""),
		"what a push must carry: v1, v2 or any (EventBridge's signatures; default any), or token (env "+EnvEventsToken+", for private networks) (env MANUALDAG_EVENTS_AUTH)")
	fs.StringVar(&r.publicKey, "events-public-key", env("MANUALDAG_EVENTS_PUBLIC_KEY", ""),
		"PEM file of EventBridge's certificate or public key, pinned; default: fetched from the region's EventBridge bucket and cached (env MANUALDAG_EVENTS_PUBLIC_KEY)")
	fs.StringVar(&r.url, "events-url", env("MANUALDAG_EVENTS_URL", ""),
		"the target URL as configured in the EventBridge rule, when a proxy in front changes the host or path; default: the request's own (env MANUALDAG_EVENTS_URL)")
	r.token = env(EnvEventsToken, "")
}

// parseEvents checks the events settings: they go together, and each says
// what is wrong with it.
func (c *config) parseEvents(r rawEvents) error {
	if r.listen == "" || r.listen == "off" {
		for _, s := range []struct{ flag, value string }{{"events-auth", r.auth}, {"events-public-key", r.publicKey}, {"events-url", r.url}} {
			if s.value != "" {
				return fmt.Errorf("-%s is set but the receiver is off: set -events-listen (MANUALDAG_EVENTS_LISTEN) too, or unset it", s.flag)
			}
		}
		return nil
	}
	e := eventsConfig{Listen: r.listen, Mode: openevent.ModeAny, PublicKeyFile: r.publicKey, URL: r.url, Token: secret(r.token)}
	host, port, err := net.SplitHostPort(r.listen)
	if err != nil {
		return fmt.Errorf("events-listen %q is not host:port (e.g. :8443 or 10.0.0.5:8443): %v", r.listen, err)
	}
	if c.MetricsAddress != "" {
		if mhost, mport, err := net.SplitHostPort(c.MetricsAddress); err == nil && mport == port && (mhost == host || wildcard(mhost) || wildcard(host)) {
			return fmt.Errorf("events-listen %s and metrics-address %s share a port: give the receiver its own, so that only it is exposed to EventBridge", r.listen, c.MetricsAddress)
		}
	}
	if r.auth != "" {
		if e.Mode, err = openevent.ParseMode(r.auth); err != nil {
			return fmt.Errorf("events-auth: %w", err)
		}
	}
	switch {
	case e.Mode == openevent.ModeToken && r.token == "":
		return fmt.Errorf("-events-auth token needs the shared token in %s (an environment variable only, so that it stays out of process listings)", EnvEventsToken)
	case r.token != "" && len(r.token) < openevent.MinTokenLength:
		return fmt.Errorf("%s is %d characters: use at least %d random ones (e.g. openssl rand -hex 32)", EnvEventsToken, len(r.token), openevent.MinTokenLength)
	case e.Mode == openevent.ModeToken && r.publicKey != "":
		return errors.New("-events-public-key verifies EventBridge signatures, and -events-auth token checks none: drop one of them")
	}
	if r.url != "" {
		if u, err := url.Parse(r.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("events-url %q must be the absolute URL of the EventBridge target, such as https://events.example.com/dataworks", r.url)
		}
	}
	if r.publicKey != "" {
		b, err := os.ReadFile(r.publicKey)
		if err != nil {
			return fmt.Errorf("events-public-key: %w", err)
		}
		if e.PublicKey, err = openevent.ParsePublicKey(b); err != nil {
			return fmt.Errorf("events-public-key %s: %w (want EventBridge's PEM certificate or public key)", r.publicKey, err)
		}
	}
	c.Events = e
	return nil
}

func wildcard(host string) bool { return host == "" || host == "0.0.0.0" || host == "::" }

// eventsClient is what the receiver needs of the worker's Temporal client.
type eventsClient interface {
	openevent.WorkflowLister
	openevent.Signaler
}

var _ eventsClient = client.Client(nil)

// newReceiver builds the receiver of cfg.Events on c.
func newReceiver(cfg config, c eventsClient, metrics client.MetricsHandler, logger *zap.Logger) (*openevent.Receiver, error) {
	e := cfg.Events
	vo := openevent.VerifierOptions{Mode: e.Mode, Token: string(e.Token), PublicKey: e.PublicKey, URL: e.URL}
	if e.PublicKey == nil && e.Mode != openevent.ModeToken {
		vo.KeyHosts = openevent.KeyHosts(cfg.DataWorks.Region)
	}
	v, err := openevent.NewVerifier(vo)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	return openevent.NewReceiver(openevent.ReceiverOptions{
		Verifier: v,
		Finder:   openevent.NewTemporalFinder(c, cfg.Temporal.Namespace, openevent.FinderOptions{}),
		Signaler: c,
		Metrics:  metrics,
		Logger:   logger.Named("events"),
	})
}

// startEvents serves the receiver on cfg.Events.Listen, when set, until
// stop is called; addr is where it listens.
func startEvents(cfg config, c eventsClient, metrics client.MetricsHandler, logger *zap.Logger) (addr net.Addr, stop func(), err error) {
	if cfg.Events.Listen == "" {
		return nil, func() {}, nil
	}
	r, err := newReceiver(cfg, c, metrics, logger)
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", cfg.Events.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("events-listen %s: %w (pick a free port)", cfg.Events.Listen, err)
	}
	srv := &http.Server{
		Handler: r,
		// A push is one small body: short timeouts and a small header
		// budget keep a slow or hostile client from holding connections.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          zap.NewStdLog(logger.Named("events")),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("the OpenEvent receiver stopped", zap.Error(err))
		}
	}()
	logEvents(logger, cfg.Events, ln.Addr(), cfg.DataWorks.Region)
	return ln.Addr(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// logEvents says once how the receiver checks pushes; never the token.
func logEvents(logger *zap.Logger, e eventsConfig, addr net.Addr, region string) {
	key := "pinned " + e.PublicKeyFile
	switch {
	case e.Mode == openevent.ModeToken:
		key = "none (token mode)"
	case e.PublicKey == nil:
		key = "fetched from " + strings.Join(openevent.KeyHosts(region), " or ")
	}
	logger.Info("receiving DataWorks OpenEvent pushes", zap.String("address", addr.String()),
		zap.String("auth", string(e.Mode)), zap.String("publicKey", key), zap.Bool("token", e.Token != ""), zap.String("url", e.URL))
	if e.Mode != openevent.ModeToken && e.Token == "" {
		logger.Warn("no " + EnvEventsToken + ": a signature proves that EventBridge sent a push, not that your rule did; " +
			"set the same token here and as the EventBridge target's signature token (events are hints: a stray one costs a search, never a verdict)")
	}
}
