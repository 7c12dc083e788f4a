// Command dataworks-emulator serves a local, signature-verifying DataWorks
// API (dataworks-public 2018-06-01 and 2020-05-18 manual-DAG calls)
// simulated from a definition file. Point the Alibaba SDK at it with
// Domain set to the listen address and Scheme "http".
//
// Flags, each with an environment fallback (flag > environment > default):
//
//	-addr              DATAWORKS_EMULATOR_ADDR              listen address (127.0.0.1:8089)
//	-definition        DATAWORKS_EMULATOR_DEFINITION        definition file, JSON or YAML
//	                                                        (deployments/emulator/sample-project.yaml)
//	-time-scale        DATAWORKS_EMULATOR_TIME_SCALE        divides simulated durations (60)
//	-access-key        DATAWORKS_EMULATOR_ACCESS_KEYS       ID:SECRET, repeatable; the variable takes a
//	                                                        comma-separated list
//	                                                        (demo-access-key-id:demo-access-key-secret)
//	-seed              DATAWORKS_EMULATOR_SEED              seed of flaky outcomes and faults (1)
//	-empty-list-for    DATAWORKS_EMULATOR_EMPTY_LIST_FOR    a new DAG's list is empty this long (2s)
//	-reference-format  DATAWORKS_EMULATOR_REFERENCE_FORMAT  answer searches in the reference-page format (false)
//	-daily-quota       DATAWORKS_EMULATOR_DAILY_QUOTA       calls a day before Throttling.Api.Risk (0: none)
//
// Faults can be changed at run time under /_emulator/ (see the package
// documentation of internal/emulator).
package main

import (
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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dataworks-emulator:", err)
		os.Exit(1)
	}
}

// DemoAccessKey is the pair served when none is configured. It is public:
// the emulator guards nothing.
const DemoAccessKey = "demo-access-key-id:demo-access-key-secret"

type config struct {
	addr            string
	definition      string
	timeScale       float64
	keys            map[string]emulator.Key
	seed            int64
	emptyListFor    time.Duration
	creatingFor     time.Duration
	referenceFormat bool
	dailyQuota      int
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

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var (
		c       config
		errs    []error
		keys    = keyList{values: strings.Split(env("DATAWORKS_EMULATOR_ACCESS_KEYS", DemoAccessKey), ",")}
		parseFn = func(name string, parse func(string) error) {
			if err := parse(env(name, "")); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	)
	// Environment values become the flag defaults.
	timeScale, seed, quota := 60.0, int64(1), 0
	emptyFor, reference := 2*time.Second, false
	parseFn("DATAWORKS_EMULATOR_TIME_SCALE", func(s string) (err error) {
		if s != "" {
			timeScale, err = strconv.ParseFloat(s, 64)
		}
		return err
	})
	parseFn("DATAWORKS_EMULATOR_SEED", func(s string) (err error) {
		if s != "" {
			seed, err = strconv.ParseInt(s, 10, 64)
		}
		return err
	})
	parseFn("DATAWORKS_EMULATOR_EMPTY_LIST_FOR", func(s string) (err error) {
		if s != "" {
			emptyFor, err = time.ParseDuration(s)
		}
		return err
	})
	parseFn("DATAWORKS_EMULATOR_REFERENCE_FORMAT", func(s string) (err error) {
		if s != "" {
			reference, err = strconv.ParseBool(s)
		}
		return err
	})
	parseFn("DATAWORKS_EMULATOR_DAILY_QUOTA", func(s string) (err error) {
		if s != "" {
			quota, err = strconv.Atoi(s)
		}
		return err
	})
	if err := errors.Join(errs...); err != nil {
		return c, err
	}

	fs := flag.NewFlagSet("dataworks-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", env("DATAWORKS_EMULATOR_ADDR", "127.0.0.1:8089"), "listen address")
	fs.StringVar(&c.definition, "definition", env("DATAWORKS_EMULATOR_DEFINITION", "deployments/emulator/sample-project.yaml"), "definition file (JSON or YAML)")
	fs.Float64Var(&c.timeScale, "time-scale", timeScale, "divides simulated durations: 60 runs a 30-minute flow in 30s")
	fs.Var(&keys, "access-key", "accepted AccessKey pair ID:SECRET, repeatable (default "+DemoAccessKey+")")
	fs.Int64Var(&c.seed, "seed", seed, "seed of flaky outcomes and fault injection")
	fs.DurationVar(&c.emptyListFor, "empty-list-for", emptyFor, "how long a new DAG's instance list stays empty")
	fs.DurationVar(&c.creatingFor, "creating-for", 2*time.Second, "how long a 2024-05-18 CreateWorkflowInstances stays Creating")
	fs.BoolVar(&c.referenceFormat, "reference-format", reference, "answer SearchManualDagNodeInstance in the reference-page format")
	fs.IntVar(&c.dailyQuota, "daily-quota", quota, "calls a day before Throttling.Api.Risk (0: no quota)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c.keys = map[string]emulator.Key{}
	for _, kv := range keys.values {
		id, secret, ok := strings.Cut(strings.TrimSpace(kv), ":")
		if !ok || id == "" || secret == "" {
			return c, errors.New("an access key is not of the form ID:SECRET")
		}
		c.keys[id] = emulator.Key{Secret: secret}
	}
	return c, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	def, err := emulator.LoadDefinition(c.definition)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
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
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
	ids := make([]string, 0, len(c.keys))
	for id := range c.keys {
		ids = append(ids, id)
	}
	fmt.Fprintf(stdout, "dataworks-emulator listening on http://%s (definition %s, time scale %g, access keys %s)\n",
		ln.Addr(), c.definition, c.timeScale, strings.Join(ids, ","))

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
