// Command dataworks-emulator serves a local, signature-verifying DataWorks
// API (dataworks-public 2018-06-01 and 2020-05-18 manual-DAG calls, and the
// 2024-05-18 workflow-instance calls) simulated from a definition file.
// Point the Alibaba SDK at it with Domain set to the listen address and
// Scheme "http".
//
// Flags, each with an environment fallback (flag > environment > default);
// the DATAWORKS_EMULATOR_* names of before are still read, with a warning:
//
//	-addr              MANUALDAG_EMULATOR_ADDR              listen address (127.0.0.1:8089)
//	-definition        MANUALDAG_EMULATOR_DEFINITION        definition file, JSON or YAML (the
//	                                                        embedded sample project; -print-sample)
//	-time-scale        MANUALDAG_EMULATOR_TIME_SCALE        divides simulated durations (60)
//	-access-key        MANUALDAG_EMULATOR_ACCESS_KEYS       ID:SECRET, repeatable; the variable takes a
//	                                                        comma-separated list
//	                                                        (demo-access-key-id:demo-access-key-secret)
//	-seed              MANUALDAG_EMULATOR_SEED              seed of flaky outcomes and faults (1)
//	-empty-list-for    MANUALDAG_EMULATOR_EMPTY_LIST_FOR    a new DAG's list is empty this long (2s)
//	-creating-for      MANUALDAG_EMULATOR_CREATING_FOR      a 2024-05-18 creation stays Creating this long,
//	                                                        clock time (2s)
//	-reference-format  MANUALDAG_EMULATOR_REFERENCE_FORMAT  answer searches in the reference-page format (false)
//	-daily-quota       MANUALDAG_EMULATOR_DAILY_QUOTA       calls a day before Throttling.Api.Risk (0: none)
//	-events-url        MANUALDAG_EMULATOR_EVENTS_URL        push OpenEvent status events to this receiver
//	                                                        ("": no events)
//	-events-instances  MANUALDAG_EMULATOR_EVENTS_INSTANCES  push node instance events too (false: DAG events only)
//	-events-sign       MANUALDAG_EMULATOR_EVENTS_SIGN       none, token, v1 or v2 (none)
//	                   MANUALDAG_EMULATOR_EVENTS_TOKEN      the token of -events-sign token, and the signed
//	                                                        x-eventbridge-signature-token of v1 and v2 (environment only)
//	-events-key        MANUALDAG_EMULATOR_EVENTS_KEY        PEM RSA private key of -events-sign v1 and v2
//	-events-cert-url   MANUALDAG_EMULATOR_EVENTS_CERT_URL   x-eventbridge-signature-url of v1 and v2 (the region's
//	                                                        EventBridge bucket)
//	-events-faults     MANUALDAG_EMULATOR_EVENTS_FAULTS     faults of the pushes, e.g. "drop=0.3,dup=0.1,reorder=0.2,
//	                                                        delay=2s,badsig=0.05,stale=0.05,dagtype=5,notrun=0" (none)
//
// -print-sample prints the embedded sample definition; -version the build.
// Faults, the events' included, can be changed at run time under
// /_emulator/ (see the package documentation of internal/emulator).
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/manualdag/manualdag/internal/emulator"
	"github.com/manualdag/manualdag/internal/envvar"
	"github.com/manualdag/manualdag/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode is 0 for success and for -h (the help is what was asked for),
// 1 after printing any other error.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	}
	fmt.Fprintln(stderr, "dataworks-emulator:", err)
	return 1
}

// DemoAccessKey is the pair served when none is configured. It is public:
// the emulator guards nothing.
const DemoAccessKey = "demo-access-key-id:demo-access-key-secret"

type config struct {
	addr            string
	definition      string // "" = the embedded sample
	timeScale       float64
	keys            map[string]emulator.Key
	seed            int64
	emptyListFor    time.Duration
	creatingFor     time.Duration
	referenceFormat bool
	dailyQuota      int
	events          emulator.EventOptions
	eventsSign      signing
	printSample     bool
	printVersion    bool
	// envWarnings are the deprecated variable names met, logged at start.
	envWarnings []string
}

// keyList collects repeated -access-key flags; the first flag replaces
// the defaults taken from the environment.
type keyList struct {
	values []string
	set    bool
}

func (k *keyList) String() string { return fmt.Sprintf("%d key(s)", len(k.values)) }

func (k *keyList) Set(v string) error {
	if !k.set {
		k.values, k.set = nil, true
	}
	k.values = append(k.values, v)
	return nil
}

// envDefaults are the flag defaults the environment gives, parsed.
type envDefaults struct {
	timeScale float64
	seed      int64
	quota     int
	emptyFor  time.Duration
	creating  time.Duration
	reference bool
	instances bool
}

// readEnvDefaults parses the typed variables; a bad value is an error that
// names the variable.
func readEnvDefaults(vars *envvar.Reader) (envDefaults, error) {
	d := envDefaults{timeScale: 60, seed: 1, emptyFor: 2 * time.Second, creating: 2 * time.Second}
	var errs []error
	parse := func(name string, parse func(string) error) {
		if v := vars.Get(name); v != "" {
			if err := parse(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	}
	parse("MANUALDAG_EMULATOR_TIME_SCALE", func(s string) (err error) { d.timeScale, err = strconv.ParseFloat(s, 64); return err })
	parse("MANUALDAG_EMULATOR_SEED", func(s string) (err error) { d.seed, err = strconv.ParseInt(s, 10, 64); return err })
	parse("MANUALDAG_EMULATOR_EMPTY_LIST_FOR", func(s string) (err error) { d.emptyFor, err = time.ParseDuration(s); return err })
	parse("MANUALDAG_EMULATOR_CREATING_FOR", func(s string) (err error) { d.creating, err = time.ParseDuration(s); return err })
	parse("MANUALDAG_EMULATOR_REFERENCE_FORMAT", func(s string) (err error) { d.reference, err = strconv.ParseBool(s); return err })
	parse("MANUALDAG_EMULATOR_DAILY_QUOTA", func(s string) (err error) { d.quota, err = strconv.Atoi(s); return err })
	parse("MANUALDAG_EMULATOR_EVENTS_INSTANCES", func(s string) (err error) { d.instances, err = strconv.ParseBool(s); return err })
	return d, errors.Join(errs...)
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	vars := envvar.NewReader(getenv)
	d, err := readEnvDefaults(vars)
	if err != nil {
		return c, err
	}
	keys := keyList{values: strings.Split(vars.Or("MANUALDAG_EMULATOR_ACCESS_KEYS", DemoAccessKey), ",")}
	fs := flag.NewFlagSet("dataworks-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: dataworks-emulator [flags]\n"+
			"A local DataWorks manual-DAG API (2018-06-01, 2020-05-18, 2024-05-18) that verifies signatures and simulates DAG runs.\n"+
			"Each flag falls back to the environment variable named in its help (DATAWORKS_EMULATOR_* still read, deprecated).\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.addr, "addr", vars.Or("MANUALDAG_EMULATOR_ADDR", "127.0.0.1:8089"), "listen address (env MANUALDAG_EMULATOR_ADDR)")
	fs.StringVar(&c.definition, "definition", vars.Get("MANUALDAG_EMULATOR_DEFINITION"),
		"definition file, JSON or YAML; default the embedded sample project (env MANUALDAG_EMULATOR_DEFINITION)")
	fs.Float64Var(&c.timeScale, "time-scale", d.timeScale, "divides simulated durations: 60 runs a 30-minute flow in 30s (env MANUALDAG_EMULATOR_TIME_SCALE)")
	fs.Var(&keys, "access-key", "accepted AccessKey pair ID:SECRET, repeatable (default "+DemoAccessKey+"; env MANUALDAG_EMULATOR_ACCESS_KEYS, comma-separated)")
	fs.Int64Var(&c.seed, "seed", d.seed, "seed of flaky outcomes and fault injection (env MANUALDAG_EMULATOR_SEED)")
	fs.DurationVar(&c.emptyListFor, "empty-list-for", d.emptyFor, "how long a new DAG's instance list stays empty (env MANUALDAG_EMULATOR_EMPTY_LIST_FOR)")
	fs.DurationVar(&c.creatingFor, "creating-for", d.creating, "how long a 2024-05-18 CreateWorkflowInstances stays Creating (env MANUALDAG_EMULATOR_CREATING_FOR)")
	fs.BoolVar(&c.referenceFormat, "reference-format", d.reference, "answer SearchManualDagNodeInstance in the reference-page format (env MANUALDAG_EMULATOR_REFERENCE_FORMAT)")
	fs.IntVar(&c.dailyQuota, "daily-quota", d.quota, "calls a day before Throttling.Api.Risk; 0: no quota (env MANUALDAG_EMULATOR_DAILY_QUOTA)")
	fs.StringVar(&c.events.URL, "events-url", vars.Get("MANUALDAG_EMULATOR_EVENTS_URL"),
		"push DataWorks OpenEvent status events to this receiver URL, as an EventBridge HTTP target; empty: no events (env MANUALDAG_EMULATOR_EVENTS_URL)")
	fs.BoolVar(&c.events.Instances, "events-instances", d.instances,
		"push InstanceStatusChanges for every node instance too, not only DagStatusChanges (env MANUALDAG_EMULATOR_EVENTS_INSTANCES)")
	fs.StringVar(&c.eventsSign.mode, "events-sign", vars.Or("MANUALDAG_EMULATOR_EVENTS_SIGN", signNone),
		"sign the pushes: none, token (Authorization: Bearer, token from env MANUALDAG_EMULATOR_EVENTS_TOKEN), v1 or v2 (EventBridge, with -events-key) (env MANUALDAG_EMULATOR_EVENTS_SIGN)")
	fs.StringVar(&c.eventsSign.keyFile, "events-key", vars.Get("MANUALDAG_EMULATOR_EVENTS_KEY"),
		"PEM RSA private key that signs v1 and v2 pushes, EventBridge's stand-in; the receiver pins its public half (env MANUALDAG_EMULATOR_EVENTS_KEY)")
	fs.StringVar(&c.eventsSign.certURL, "events-cert-url", vars.Get("MANUALDAG_EMULATOR_EVENTS_CERT_URL"),
		"x-eventbridge-signature-url of v1 and v2 pushes (default the region's EventBridge bucket; env MANUALDAG_EMULATOR_EVENTS_CERT_URL)")
	faults := vars.Get("MANUALDAG_EMULATOR_EVENTS_FAULTS")
	fs.StringVar(&faults, "events-faults", faults,
		"faults of the pushes, e.g. drop=0.3,dup=0.1,reorder=0.2,reorderby=3s,delay=1s..3s,badsig=0.05,stale=0.05,staleby=2m,dagtype=4|5|random,notrun=0|1|random (env MANUALDAG_EMULATOR_EVENTS_FAULTS)")
	fs.BoolVar(&c.printSample, "print-sample", false, "print the embedded sample definition and exit (a start for your own -definition)")
	fs.BoolVar(&c.printVersion, "version", false, "print the emulator's version and exit")
	c.envWarnings = vars.Warnings()
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q: the emulator takes only flags (see -h)", fs.Args())
	}
	c.keys = map[string]emulator.Key{}
	for _, kv := range keys.values {
		id, secret, ok := strings.Cut(strings.TrimSpace(kv), ":")
		if !ok || id == "" || secret == "" {
			return c, errors.New("an access key is not of the form ID:SECRET: give -access-key ID:SECRET, or MANUALDAG_EMULATOR_ACCESS_KEYS=ID:SECRET,…")
		}
		c.keys[id] = emulator.Key{Secret: secret}
	}
	if c.events.Faults, err = emulator.ParseEventFaults(faults); err != nil {
		return c, fmt.Errorf("-events-faults: %w", err)
	}
	if c.events.URL == "" && (c.events.Faults != (emulator.EventFaults{}) || c.events.Instances || c.eventsSign.mode != signNone || c.eventsSign.keyFile != "" || c.eventsSign.certURL != "") {
		return c, errors.New("-events-faults, -events-instances, -events-sign, -events-key and -events-cert-url shape pushed events, but -events-url is empty: give the receiver's URL, or drop them")
	}
	if c.eventsSign.keyFile != "" && c.eventsSign.mode != signV1 && c.eventsSign.mode != signV2 {
		return c, fmt.Errorf("-events-key signs EventBridge's v1 and v2 signatures, but -events-sign is %s: give -events-sign v2 (or v1), or drop -events-key", c.eventsSign.mode)
	}
	if c.eventsSign.certURL == "" {
		c.eventsSign.certURL = defaultCertURL(cmp.Or(c.events.Region, "cn-shanghai"))
	}
	if c.events.Signer, err = eventSigner(c.eventsSign, vars.Get); err != nil {
		return c, err
	}
	return c, nil
}

// loadDefinition reads the definition file, or takes the embedded sample.
func loadDefinition(path string) (*emulator.Definition, string, error) {
	if path == "" {
		return emulator.SampleDefinition(), "embedded sample", nil
	}
	def, err := emulator.LoadDefinition(path)
	return def, path, err
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	switch {
	case c.printVersion:
		fmt.Fprintln(stdout, "dataworks-emulator", version.Get())
		return nil
	case c.printSample:
		_, err := stdout.Write(emulator.SampleYAML)
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	for _, w := range c.envWarnings {
		logger.Warn(w)
	}
	def, source, err := loadDefinition(c.definition)
	if err != nil {
		return err
	}
	emu, err := emulator.New(emulator.Options{
		Definition:      def,
		Credentials:     c.keys,
		TimeScale:       c.timeScale,
		Seed:            c.seed,
		EmptyListFor:    c.emptyListFor,
		CreatingFor:     c.creatingFor,
		ReferenceFormat: c.referenceFormat,
		DailyQuota:      c.dailyQuota,
		Logger:          logger,
		Events:          c.events,
	})
	if err != nil {
		return err
	}
	defer func() { _ = emu.Close() }()
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (pick a free address with -addr)", c.addr, err)
	}
	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
	ids := make([]string, 0, len(c.keys))
	for id := range c.keys {
		ids = append(ids, id)
	}
	fmt.Fprintf(stdout, "dataworks-emulator listening on http://%s (definition %s, time scale %g, access keys %s)\n",
		ln.Addr(), source, c.timeScale, strings.Join(ids, ","))
	if s, ok := emu.EventStats(); ok {
		kinds := "DAG events"
		if c.events.Instances {
			kinds = "DAG and instance events"
		}
		fmt.Fprintf(stdout, "pushing %s to %s (signed %s, faults %s)\n", kinds, s.URL, c.eventsSign.mode, s.Faults)
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
