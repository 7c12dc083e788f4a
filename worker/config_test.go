package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks/aliyun"
	"github.com/manualdag/manualdag/workflows"
)

// envOf is an environment of m only: unless m names one, the Temporal
// config file is one that does not exist, so that no profile on the machine
// running the tests counts.
func envOf(m map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := m[k]; ok || k != "TEMPORAL_CONFIG_FILE" {
			return v
		}
		return "/nonexistent/temporal.toml"
	}
}

func TestParseConfigDefaults(t *testing.T) {
	var stderr bytes.Buffer
	c, err := parseConfig(nil, envOf(nil), &stderr)
	if err != nil {
		t.Fatal(err)
	}
	want := config{
		Temporal:  client.Options{HostPort: "localhost:7233", Namespace: "default"},
		TaskQueue: workflows.TaskQueue,
		DataWorks: aliyun.Config{
			Region:         "cn-shanghai",
			Scheme:         "https",
			APIVersion:     dag.APIVersion2018,
			RequestTimeout: 10 * time.Second,
			MaxQPS:         5,
		},
		QPS:                     5,
		Workers:                 1,
		MaxConcurrentActivities: 20,
		TaskPollers:             2,
		ShutdownTimeout:         30 * time.Second,
		MetricsAddress:          ":9090",
		LogFormat:               "json",
		LogLevel:                "info",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults\n got %+v\nwant %+v", c, want)
	}
	if stderr.Len() > 0 {
		t.Errorf("stderr %q", stderr.String())
	}
}

var fullEnv = map[string]string{
	"TEMPORAL_ADDRESS":                    "temporal.internal:7233",
	"TEMPORAL_NAMESPACE":                  "data-platform",
	"MANUALDAG_TASK_QUEUE":                "dw-q",
	"MANUALDAG_DATAWORKS_REGION":          "cn-beijing",
	"MANUALDAG_DATAWORKS_ENDPOINT":        "127.0.0.1:8089",
	"MANUALDAG_DATAWORKS_SCHEME":          "http",
	"MANUALDAG_DATAWORKS_API_VERSION":     dag.APIVersion2020,
	"MANUALDAG_DATAWORKS_TIMEOUT":         "20s",
	"MANUALDAG_DATAWORKS_QPS":             "2.5",
	"MANUALDAG_MAX_CONCURRENT_ACTIVITIES": "8",
	"MANUALDAG_SHUTDOWN_TIMEOUT":          "1m",
	"MANUALDAG_QUOTA_BACKOFF":             "90s",
	"MANUALDAG_METRICS_ADDRESS":           "127.0.0.1:9191",
	"MANUALDAG_LOG_FORMAT":                "console",
	"MANUALDAG_LOG_LEVEL":                 "debug",
}

func TestParseConfigEnvironment(t *testing.T) {
	c, err := parseConfig(nil, envOf(fullEnv), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := config{
		Temporal:  client.Options{HostPort: "temporal.internal:7233", Namespace: "data-platform"},
		TaskQueue: "dw-q",
		DataWorks: aliyun.Config{
			Region:         "cn-beijing",
			Endpoint:       "127.0.0.1:8089",
			Scheme:         "http",
			APIVersion:     dag.APIVersion2020,
			RequestTimeout: 20 * time.Second,
			MaxQPS:         2.5,
		},
		QPS:                     2.5,
		Workers:                 1,
		MaxConcurrentActivities: 8,
		TaskPollers:             2,
		ShutdownTimeout:         time.Minute,
		QuotaBackoff:            90 * time.Second,
		MetricsAddress:          "127.0.0.1:9191",
		LogFormat:               "console",
		LogLevel:                "debug",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("from the environment\n got %+v\nwant %+v", c, want)
	}
}

// A blank variable counts as unset, not as an empty value.
func TestParseConfigBlankEnvironmentIsUnset(t *testing.T) {
	c, err := parseConfig(nil, envOf(map[string]string{"TEMPORAL_ADDRESS": "  ", "MANUALDAG_DATAWORKS_TIMEOUT": ""}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Temporal.HostPort != "localhost:7233" || c.DataWorks.RequestTimeout != 10*time.Second {
		t.Errorf("got %q, %v", c.Temporal.HostPort, c.DataWorks.RequestTimeout)
	}
}

func TestParseConfigFlagsWinOverEnvironment(t *testing.T) {
	args := []string{
		"-temporal-address", "flag-host:7233",
		"-temporal-namespace", "flag-ns",
		"-task-queue", "flag-q",
		"-dataworks-region", "cn-hangzhou",
		"-dataworks-endpoint", "localhost:9000",
		"-dataworks-scheme", "http",
		"-dataworks-api-version", dag.APIVersion2018,
		"-dataworks-timeout", "3s",
		"-dataworks-qps", "0",
		"-max-concurrent-activities", "1",
		"-shutdown-timeout", "5s",
		"-quota-backoff", "2m",
		"-metrics-address", "off",
		"-log-format", "json",
		"-log-level", "warn",
	}
	c, err := parseConfig(args, envOf(fullEnv), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := config{
		Temporal:  client.Options{HostPort: "flag-host:7233", Namespace: "flag-ns"},
		TaskQueue: "flag-q",
		DataWorks: aliyun.Config{
			Region:         "cn-hangzhou",
			Endpoint:       "localhost:9000",
			Scheme:         "http",
			APIVersion:     dag.APIVersion2018,
			RequestTimeout: 3 * time.Second,
		},
		QPS:                     0,
		Workers:                 1,
		MaxConcurrentActivities: 1,
		TaskPollers:             2,
		ShutdownTimeout:         5 * time.Second,
		QuotaBackoff:            2 * time.Minute,
		LogFormat:               "json",
		LogLevel:                "warn",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("flags over environment\n got %+v\nwant %+v", c, want)
	}
}

// Every invalid value is refused with one line that names the setting and
// says what to write instead.
func TestParseConfigInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"timeout without unit", []string{"-dataworks-timeout", "10"}, nil, `dataworks-timeout "10" must be a positive duration such as 10s or 1m`},
		{"timeout not a duration", nil, map[string]string{"MANUALDAG_DATAWORKS_TIMEOUT": "ten seconds"}, `dataworks-timeout "ten seconds" must be a positive duration`},
		{"zero timeout", []string{"-dataworks-timeout", "0s"}, nil, `dataworks-timeout "0s" must be a positive duration`},
		{"negative timeout", []string{"-dataworks-timeout", "-5s"}, nil, `dataworks-timeout "-5s" must be a positive duration`},
		{"zero shutdown timeout", nil, map[string]string{"MANUALDAG_SHUTDOWN_TIMEOUT": "0"}, `shutdown-timeout "0" must be a positive duration`},
		{"bad shutdown timeout", []string{"-shutdown-timeout", "30"}, nil, `shutdown-timeout "30" must be a positive duration`},
		{"negative quota backoff", nil, map[string]string{"MANUALDAG_QUOTA_BACKOFF": "-1m"}, `quota-backoff "-1m" must be a positive duration`},
		{"metrics address without port", nil, map[string]string{"MANUALDAG_METRICS_ADDRESS": "localhost"}, `metrics-address "localhost" is not host:port`},
		{"negative qps", []string{"-dataworks-qps", "-1"}, nil, `dataworks-qps "-1" must be a number ≥ 0`},
		{"qps not a number", nil, map[string]string{"MANUALDAG_DATAWORKS_QPS": "fast"}, `dataworks-qps "fast" must be a number ≥ 0`},
		{"zero workers", []string{"-dataworks-workers", "0"}, nil, `dataworks-workers "0" must be a whole number ≥ 1`},
		{"one poller", []string{"-task-pollers", "1"}, nil, `task-pollers "1" must be a whole number from 2 to 64`},
		{"negative daily budget", []string{"-dataworks-daily-budget", "-5"}, nil, `dataworks-daily-budget "-5" must be a whole number ≥ 0`},
		{"daily budget not a number", nil, map[string]string{"MANUALDAG_DATAWORKS_DAILY_BUDGET": "100/day"}, `dataworks-daily-budget "100/day" must be a whole number ≥ 0`},
		{"zero concurrency", []string{"-max-concurrent-activities", "0"}, nil, `max-concurrent-activities "0" must be a whole number ≥ 1`},
		{"fractional concurrency", []string{"-max-concurrent-activities", "2.5"}, nil, `max-concurrent-activities "2.5" must be a whole number ≥ 1`},
		{"empty address", []string{"-temporal-address", ""}, nil, "temporal-address must not be empty"},
		{"empty namespace", []string{"-temporal-namespace="}, nil, "temporal-namespace must not be empty"},
		{"empty task queue", []string{"-task-queue="}, nil, "must not be empty"},
		{"http to the public endpoint", nil, map[string]string{"MANUALDAG_DATAWORKS_SCHEME": "http"},
			`Scheme http is allowed only for a loopback Endpoint (127.0.0.1, ::1, localhost), not "dataworks.cn-shanghai.aliyuncs.com": use https`},
		{"http to a LAN endpoint", []string{"-dataworks-scheme", "http", "-dataworks-endpoint", "10.0.0.5:8089"}, nil,
			`Scheme http is allowed only for a loopback Endpoint (127.0.0.1, ::1, localhost), not "10.0.0.5:8089"`},
		{"unknown scheme", []string{"-dataworks-scheme", "ftp"}, nil, `Scheme "ftp" is neither https nor http`},
		{"endpoint with scheme", []string{"-dataworks-endpoint", "https://dataworks.cn-shanghai.aliyuncs.com"}, nil, "contains a scheme: write host[:port] only"},
		{"bad api version", []string{"-dataworks-api-version", "2019-01-01"}, nil, `APIVersion "2019-01-01" is not supported: use 2018-06-01, 2020-05-18 or 2024-05-18 (2018-06-01 is the default)`},
		{"bad api version from env", nil, map[string]string{"MANUALDAG_DATAWORKS_API_VERSION": "2020"}, `APIVersion "2020" is not supported`},
		{"bad region", []string{"-dataworks-region", "Shanghai"}, nil, `Region "Shanghai" is not a region id: write it like cn-shanghai`},
		{"unknown region", []string{"-dataworks-region", "cn-shangai"}, nil, `Region "cn-shangai" is not a DataWorks region: use one of ap-northeast-1,`},
		{"unknown region from Alibaba's variable", nil, map[string]string{"ALIBABA_CLOUD_REGION_ID": "eu-north-9"}, `Region "eu-north-9" is not a DataWorks region`},
		{"positional argument", []string{"serve"}, nil, `unexpected argument "serve": the worker takes only flags`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			_, err := parseConfig(tc.args, envOf(tc.env), &stderr)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is more than one line", err)
			}
			if stderr.Len() > 0 {
				t.Errorf("stderr %q: the error is printed once, by main", stderr.String())
			}
		})
	}
}

func TestParseConfigFlagErrors(t *testing.T) {
	var stderr bytes.Buffer
	_, err := parseConfig([]string{"-h"}, envOf(nil), &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp (exit 0)", err)
	}
	for _, want := range []string{"-dataworks-endpoint", "env MANUALDAG_DATAWORKS_ENDPOINT", "-dataworks-qps"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("help does not mention %q", want)
		}
	}
	stderr.Reset()
	_, err = parseConfig([]string{"-dataworks-qsp", "3"}, envOf(nil), &stderr)
	if err == nil || !strings.Contains(err.Error(), "flag provided but not defined: -dataworks-qsp") {
		t.Errorf("unknown flag: %v", err)
	}
}

// run refuses a bad logging setting before it dials anything.
func TestRunRefusesBadLogSettingsBeforeDialing(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"MANUALDAG_LOG_FORMAT": "xml"}, `log format "xml" is not one of json, console`},
		{map[string]string{"MANUALDAG_LOG_LEVEL": "loud"}, `log level "loud" is not one of debug, info, warn, error`},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := run(ctx, nil, envOf(tc.env), &bytes.Buffer{}, &bytes.Buffer{})
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("env %v: %v, want %q", tc.env, err, tc.want)
		}
	}
}

// The address of a TOML profile is used unless a flag or TEMPORAL_ADDRESS
// names another.
func TestParseConfigTemporalProfile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "temporal.toml")
	toml := "[profile.prod]\naddress = \"temporal.prod.internal:7233\"\nnamespace = \"data-platform\"\n"
	if err := os.WriteFile(file, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := envOf(map[string]string{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "prod"})
	c, err := parseConfig(nil, env, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Temporal.HostPort != "temporal.prod.internal:7233" || c.Temporal.Namespace != "data-platform" {
		t.Errorf("from the profile: got %s, namespace %s", c.Temporal.HostPort, c.Temporal.Namespace)
	}
	c, err = parseConfig([]string{"-temporal-address", "flag-host:7233"}, env, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Temporal.HostPort != "flag-host:7233" || c.Temporal.Namespace != "data-platform" {
		t.Errorf("flag over the profile: got %s, namespace %s", c.Temporal.HostPort, c.Temporal.Namespace)
	}
}

// The region: the flag, MANUALDAG_DATAWORKS_REGION, the deprecated
// DATAWORKS_REGION, Alibaba's ALIBABA_CLOUD_REGION_ID, cn-shanghai.
func TestParseConfigRegionPrecedence(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, "cn-shanghai"},
		{nil, map[string]string{"ALIBABA_CLOUD_REGION_ID": "ap-southeast-1"}, "ap-southeast-1"},
		{nil, map[string]string{"ALIBABA_CLOUD_REGION_ID": "ap-southeast-1", "DATAWORKS_REGION": "cn-hangzhou"}, "cn-hangzhou"},
		{nil, map[string]string{"ALIBABA_CLOUD_REGION_ID": "ap-southeast-1", "MANUALDAG_DATAWORKS_REGION": "cn-beijing"}, "cn-beijing"},
		{[]string{"-dataworks-region", "cn-shenzhen"}, map[string]string{"MANUALDAG_DATAWORKS_REGION": "cn-beijing"}, "cn-shenzhen"},
	} {
		c, err := parseConfig(tc.args, envOf(tc.env), &bytes.Buffer{})
		if err != nil {
			t.Fatalf("%v %v: %v", tc.args, tc.env, err)
		}
		if c.DataWorks.Region != tc.want {
			t.Errorf("%v %v: region %s, want %s", tc.args, tc.env, c.DataWorks.Region, tc.want)
		}
	}
}
