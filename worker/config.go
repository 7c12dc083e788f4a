package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks/aliyun"
	"github.com/manualdag/manualdag/internal/envvar"
	"github.com/manualdag/manualdag/internal/logging"
	"github.com/manualdag/manualdag/internal/temporalclient"
	"github.com/manualdag/manualdag/workflows"
)

// config is everything the worker reads at start. Each field has a flag and
// an environment variable; the flag wins. The project's variables all start
// with MANUALDAG_; the DATAWORKS_* names they had before are still read, with
// a warning (internal/envvar). The region falls back to Alibaba's
// ALIBABA_CLOUD_REGION_ID, as Alibaba's own tools do. The Temporal connection resolves
// through temporalclient.Load, as the starter's does: the flag, the
// environment variable, the TOML profile (TEMPORAL_CONFIG_FILE,
// TEMPORAL_PROFILE), the default; TLS, mTLS, API key and gRPC metadata come
// from the SDK's envconfig conventions (TEMPORAL_TLS*, TEMPORAL_API_KEY, …).
//
//	flag                         env                                  default
//	-temporal-address            TEMPORAL_ADDRESS                     localhost:7233
//	-temporal-namespace          TEMPORAL_NAMESPACE                   default
//	-task-queue                  MANUALDAG_TASK_QUEUE                 dataworks-manual-dag
//	-dataworks-region            MANUALDAG_DATAWORKS_REGION           cn-shanghai (or ALIBABA_CLOUD_REGION_ID)
//	-dataworks-endpoint          MANUALDAG_DATAWORKS_ENDPOINT         (from region)
//	-dataworks-scheme            MANUALDAG_DATAWORKS_SCHEME           https
//	-dataworks-api-version       MANUALDAG_DATAWORKS_API_VERSION      2018-06-01
//	-dataworks-timeout           MANUALDAG_DATAWORKS_TIMEOUT          10s
//	-dataworks-qps               MANUALDAG_DATAWORKS_QPS              5
//	-dataworks-workers           MANUALDAG_DATAWORKS_WORKERS          1
//	-dataworks-daily-budget      MANUALDAG_DATAWORKS_DAILY_BUDGET     0 (none)
//	-max-concurrent-activities   MANUALDAG_MAX_CONCURRENT_ACTIVITIES  20
//	-task-pollers                MANUALDAG_TASK_POLLERS               2
//	-shutdown-timeout            MANUALDAG_SHUTDOWN_TIMEOUT           30s
//	-quota-backoff               MANUALDAG_QUOTA_BACKOFF              (30m, + up to 30m jitter)
//	-metrics-address             MANUALDAG_METRICS_ADDRESS            :9090 ("off" disables)
//	-log-format                  MANUALDAG_LOG_FORMAT                 json
//	-log-level                   MANUALDAG_LOG_LEVEL                  info
//	-events-listen               MANUALDAG_EVENTS_LISTEN              (off) the OpenEvent receiver (events.go)
//	-events-auth                 MANUALDAG_EVENTS_AUTH                any: v1, v2, any or token
//	-events-public-key           MANUALDAG_EVENTS_PUBLIC_KEY          (fetched from the region's EventBridge bucket)
//	-events-url                  MANUALDAG_EVENTS_URL                 (the request's own)
//	(no flag: a secret)          MANUALDAG_EVENTS_TOKEN               (none)
type config struct {
	// Temporal holds the resolved connection settings; Dial adds the logger
	// and the metrics handler.
	Temporal  client.Options
	TaskQueue string

	DataWorks aliyun.Config
	// QPS caps DataWorks calls per second across every worker of the task
	// queue (the server enforces it), the lever for a per-account quota.
	QPS float64
	// Workers is how many workers share QPS: each sends at most QPS/Workers
	// requests in any one second (aliyun.Config.MaxQPS), a strict cap
	// under the server's smoother one.
	Workers int
	// DailyBudget is the DataWorks calls a day the fleet may spend polling
	// (0 = no budget): waits stretch so that the open runs share it.
	DailyBudget             int
	MaxConcurrentActivities int
	// TaskPollers is how many long polls the worker keeps open for
	// workflow tasks, and as many for activity tasks (the SDK's default 2):
	// more let one worker take tasks faster when many runs poll.
	TaskPollers     int
	ShutdownTimeout time.Duration
	// QuotaBackoff is the wait after DataWorks said the daily quota is
	// spent (activities.Activities.QuotaBackoff); 0 = the activities'
	// default.
	QuotaBackoff time.Duration

	// MetricsAddress is where /metrics, /healthz and /readyz are served
	// (host:port); empty: nowhere.
	MetricsAddress string

	LogFormat string
	LogLevel  string

	// Events configures the OpenEvent receiver; zero when it is off.
	Events eventsConfig

	// EnvWarnings are the deprecated variable names met, one line each;
	// the worker logs them once its logger exists.
	EnvWarnings []string
	// PrintVersion is -version: print the build and exit.
	PrintVersion bool
}

// parseConfig reads flags over environment over defaults. getenv is injected
// so that tests do not touch the process environment.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	var raw rawConfig
	fs := c.flagSet(&raw, getenv, stderr)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.PrintVersion {
		return c, nil
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q: the worker takes only flags (see -h)", fs.Arg(0))
	}
	var err error
	if c.Temporal, err = temporalclient.Load(raw.temporal, getenv); err != nil {
		return c, err
	}
	if c.TaskQueue == "" {
		return c, errors.New("task-queue must not be empty")
	}
	if err := c.parseDurations(raw); err != nil {
		return c, err
	}
	if err := c.parseNumbers(raw); err != nil {
		return c, err
	}
	if err := c.parseMetricsAddress(); err != nil {
		return c, err
	}
	if err := c.parseEvents(raw.events); err != nil {
		return c, err
	}
	return c, c.DataWorks.Validate()
}

// rawConfig are the settings that parseConfig checks after the flags are
// read, as the text given.
type rawConfig struct {
	temporal                                       temporalclient.Flags
	timeout, qps, workers, daily, maxConc, pollers string
	shutdown, quota                                string
	events                                         rawEvents
}

// flagSet declares every flag, with its environment variable as default.
func (c *config) flagSet(raw *rawConfig, getenv func(string) string, stderr io.Writer) *flag.FlagSet {
	vars := envvar.NewReader(getenv)
	env := vars.Or
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	raw.temporal.Register(fs)
	fs.BoolVar(&c.PrintVersion, "version", false, "print the worker's version and exit")
	fs.StringVar(&c.TaskQueue, "task-queue", env("MANUALDAG_TASK_QUEUE", workflows.TaskQueue), "task queue to serve (env MANUALDAG_TASK_QUEUE)")
	fs.StringVar(&c.DataWorks.Region, "dataworks-region", env("MANUALDAG_DATAWORKS_REGION", env("ALIBABA_CLOUD_REGION_ID", aliyun.DefaultRegion)),
		"Alibaba Cloud region of the DataWorks workspace (env MANUALDAG_DATAWORKS_REGION, else ALIBABA_CLOUD_REGION_ID)")
	fs.StringVar(&c.DataWorks.Endpoint, "dataworks-endpoint", env("MANUALDAG_DATAWORKS_ENDPOINT", ""), "DataWorks host[:port], overrides the region's endpoint (env MANUALDAG_DATAWORKS_ENDPOINT)")
	fs.StringVar(&c.DataWorks.Scheme, "dataworks-scheme", env("MANUALDAG_DATAWORKS_SCHEME", "https"), "https, or http for a loopback endpoint only (env MANUALDAG_DATAWORKS_SCHEME)")
	fs.StringVar(&c.DataWorks.APIVersion, "dataworks-api-version", env("MANUALDAG_DATAWORKS_API_VERSION", dag.APIVersion2018),
		"2018-06-01 (default: no stop, logs or reruns), 2020-05-18, or 2024-05-18 (runs name projects and flows by numeric id) (env MANUALDAG_DATAWORKS_API_VERSION)")
	fs.StringVar(&raw.timeout, "dataworks-timeout", env("MANUALDAG_DATAWORKS_TIMEOUT", "10s"), "whole-request timeout of one DataWorks call (env MANUALDAG_DATAWORKS_TIMEOUT)")
	fs.StringVar(&raw.qps, "dataworks-qps", env("MANUALDAG_DATAWORKS_QPS", "5"), "DataWorks calls per second across the whole task queue; 0 = no limit (env MANUALDAG_DATAWORKS_QPS)")
	fs.StringVar(&raw.workers, "dataworks-workers", env("MANUALDAG_DATAWORKS_WORKERS", "1"), "how many workers share -dataworks-qps: each sends at most qps/workers DataWorks requests in any one second (env MANUALDAG_DATAWORKS_WORKERS)")
	fs.StringVar(&raw.daily, "dataworks-daily-budget", env("MANUALDAG_DATAWORKS_DAILY_BUDGET", "0"), "DataWorks calls a day that polling may spend across the whole task queue: waits stretch so that the open DAG runs share it; 0 = no budget (env MANUALDAG_DATAWORKS_DAILY_BUDGET)")
	fs.StringVar(&raw.maxConc, "max-concurrent-activities", env("MANUALDAG_MAX_CONCURRENT_ACTIVITIES", "20"), "DataWorks calls in flight in this worker (env MANUALDAG_MAX_CONCURRENT_ACTIVITIES)")
	fs.StringVar(&raw.pollers, "task-pollers", env("MANUALDAG_TASK_POLLERS", "2"), "long polls kept open for workflow tasks, and as many for activity tasks (env MANUALDAG_TASK_POLLERS)")
	fs.StringVar(&raw.shutdown, "shutdown-timeout", env("MANUALDAG_SHUTDOWN_TIMEOUT", "30s"), "how long a stopping worker lets in-flight calls finish (env MANUALDAG_SHUTDOWN_TIMEOUT)")
	fs.StringVar(&raw.quota, "quota-backoff", env("MANUALDAG_QUOTA_BACKOFF", ""), "wait before calling again after DataWorks said the daily API quota is spent, plus up to as much jitter; default 30m (env MANUALDAG_QUOTA_BACKOFF)")
	fs.StringVar(&c.MetricsAddress, "metrics-address", env("MANUALDAG_METRICS_ADDRESS", defaultMetricsAddress), `host:port of the Prometheus /metrics and the /healthz and /readyz endpoints; "off" or "" disables them (env MANUALDAG_METRICS_ADDRESS)`)
	fs.StringVar(&c.LogFormat, "log-format", env("MANUALDAG_LOG_FORMAT", logging.FormatJSON), "json or console (env MANUALDAG_LOG_FORMAT)")
	fs.StringVar(&c.LogLevel, "log-level", env("MANUALDAG_LOG_LEVEL", "info"), "debug, info, warn or error (env MANUALDAG_LOG_LEVEL)")
	raw.events.register(fs, env)
	// Every variable has been read: the deprecated names met are known.
	c.EnvWarnings = vars.Warnings()
	return fs
}

func (c *config) parseDurations(raw rawConfig) error {
	var err error
	if c.DataWorks.RequestTimeout, err = positiveDuration("dataworks-timeout", raw.timeout); err != nil {
		return err
	}
	if c.DataWorks.RequestTimeout > maxRequestTimeout {
		// A create still in flight when its heartbeat timeout (30s) passes
		// is written off as "outcome unknown" and its DAG id lost.
		return fmt.Errorf("dataworks-timeout %s is too long: at most %s, so that a trigger's reply arrives within its 30s heartbeat timeout", c.DataWorks.RequestTimeout, maxRequestTimeout)
	}
	if c.ShutdownTimeout, err = positiveDuration("shutdown-timeout", raw.shutdown); err != nil {
		return err
	}
	if raw.quota != "" {
		if c.QuotaBackoff, err = positiveDuration("quota-backoff", raw.quota); err != nil {
			return err
		}
	}
	return nil
}

func (c *config) parseNumbers(raw rawConfig) error {
	var err error
	if c.QPS, err = strconv.ParseFloat(raw.qps, 64); err != nil || c.QPS < 0 {
		return fmt.Errorf("dataworks-qps %q must be a number ≥ 0 (calls per second; 0 = no limit)", raw.qps)
	}
	if c.Workers, err = strconv.Atoi(raw.workers); err != nil || c.Workers < 1 {
		return fmt.Errorf("dataworks-workers %q must be a whole number ≥ 1 (the workers of the task queue that share -dataworks-qps)", raw.workers)
	}
	if c.QPS > 0 {
		c.DataWorks.MaxQPS = c.QPS / float64(c.Workers)
	}
	if c.DailyBudget, err = strconv.Atoi(raw.daily); err != nil || c.DailyBudget < 0 {
		return fmt.Errorf("dataworks-daily-budget %q must be a whole number ≥ 0 (calls a day; 0 = no budget)", raw.daily)
	}
	if c.MaxConcurrentActivities, err = strconv.Atoi(raw.maxConc); err != nil || c.MaxConcurrentActivities < 1 {
		return fmt.Errorf("max-concurrent-activities %q must be a whole number ≥ 1", raw.maxConc)
	}
	if c.TaskPollers, err = strconv.Atoi(raw.pollers); err != nil || c.TaskPollers < 2 || c.TaskPollers > 64 {
		// The SDK refuses a single workflow task poller (it needs one for
		// the sticky queue and one for the normal queue).
		return fmt.Errorf("task-pollers %q must be a whole number from 2 to 64", raw.pollers)
	}
	return nil
}

func (c *config) parseMetricsAddress() error {
	if c.MetricsAddress == "off" {
		c.MetricsAddress = ""
	}
	if c.MetricsAddress == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.MetricsAddress); err != nil {
		return fmt.Errorf("metrics-address %q is not host:port (e.g. :9090 or 127.0.0.1:9090; \"off\" disables): %v", c.MetricsAddress, err)
	}
	return nil
}

// defaultMetricsAddress serves the metrics and health endpoints on every
// interface, as a Prometheus scrape or a Kubernetes probe needs.
const defaultMetricsAddress = ":9090"

// maxRequestTimeout keeps one DataWorks call inside the create activity's
// heartbeat timeout.
const maxRequestTimeout = 25 * time.Second

func positiveDuration(name, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s %q must be a positive duration such as 10s or 1m", name, s)
	}
	return d, nil
}
