package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/workflows"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// Our metrics come out under the Prometheus names docs/operations.md lists,
// beside the Go runtime's; the health endpoints answer.
func TestTelemetryEndpoints(t *testing.T) {
	h, metrics, closer := newMetrics(zap.NewNop())
	h.WithTags(map[string]string{"action": activities.ActionCreateManualDag, "code": "Throttling.User"}).Counter(activities.MetricDataWorksCalls).Inc(2)
	h.WithTags(map[string]string{"action": activities.ActionCreateManualDag}).Timer(activities.MetricDataWorksCallLatency).Record(300 * time.Millisecond)
	h.WithTags(map[string]string{"outcome": "FAILED"}).Counter(workflows.MetricDagRuns).Inc(1)
	h.Gauge(MetricDagsWaiting).Update(3)
	if err := closer.Close(); err != nil { // reports once more
		t.Fatal(err)
	}

	notReady := errors.New("the worker has not started")
	ready := func(context.Context) error { return notReady }
	srv := httptest.NewServer(telemetryMux(metrics, func(ctx context.Context) error { return ready(ctx) }))
	defer srv.Close()

	code, body := get(t, srv.URL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	for _, want := range []string{
		`manualdag_dataworks_calls_total{action="CreateManualDag",code="Throttling.User"} 2`,
		`manualdag_dataworks_call_latency_seconds_bucket{action="CreateManualDag",le="0.5"} 1`,
		`manualdag_dataworks_call_latency_seconds_bucket{action="CreateManualDag",le="0.25"} 0`,
		`manualdag_dag_runs_total{outcome="FAILED"} 1`,
		`manualdag_dags_waiting 3`,
		`go_goroutines `,
		// The build, as a label (a test binary has no VCS revision).
		`manualdag_build_info{go_version="` + runtime.Version() + `",revision="",version="devel"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}

	if code, body := get(t, srv.URL+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, srv.URL+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not started") {
		t.Errorf("/readyz before start: %d %q", code, body)
	}
	ready = func(context.Context) error { return nil }
	if code, body := get(t, srv.URL+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz when ready: %d %q", code, body)
	}
}

func TestReadinessBeforeStart(t *testing.T) {
	var r readiness
	if err := r.check(context.Background()); err == nil || !strings.Contains(err.Error(), "not started") {
		t.Errorf("check before start: %v", err)
	}
}

func TestServeTelemetryBadAddress(t *testing.T) {
	_, _, err := serveTelemetry("256.0.0.1:1", http.NewServeMux(), zap.NewNop())
	if err == nil || !strings.Contains(err.Error(), "metrics-address 256.0.0.1:1") {
		t.Errorf("error %v", err)
	}
}
