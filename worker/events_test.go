package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.uber.org/zap"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/openevent"
)

const eventsToken = "test-token-0123456789abcdef"

func publicKeyFile(t *testing.T) (string, *rsa.PublicKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "eventbridge.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return file, &key.PublicKey
}

func TestParseConfigEvents(t *testing.T) {
	c, err := parseConfig([]string{"-events-listen", ":8443"}, envOf(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Events.Listen != ":8443" || c.Events.Mode != openevent.ModeAny || c.Events.PublicKey != nil || c.Events.Token != "" {
		t.Errorf("listen only: %+v", c.Events)
	}

	c, err = parseConfig(nil, envOf(map[string]string{"MANUALDAG_EVENTS_LISTEN": "10.0.0.5:8443", "MANUALDAG_EVENTS_AUTH": "token", EnvEventsToken: eventsToken}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Events.Mode != openevent.ModeToken || string(c.Events.Token) != eventsToken {
		t.Errorf("token mode: %+v", c.Events)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(verb, c); strings.Contains(s, eventsToken) {
			t.Errorf("the config printed with %s shows the token", verb)
		}
	}

	file, key := publicKeyFile(t)
	c, err = parseConfig([]string{"-events-listen", ":8443", "-events-auth", "v2", "-events-public-key", file, "-events-url", "https://events.example.com/dw"}, envOf(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Events.Mode != openevent.ModeV2 || !key.Equal(c.Events.PublicKey) || c.Events.URL != "https://events.example.com/dw" {
		t.Errorf("pinned: %+v", c.Events)
	}

	// The token alone does not turn the receiver on (one environment for
	// the whole fleet, the receiver on some workers).
	c, err = parseConfig(nil, envOf(map[string]string{EnvEventsToken: eventsToken}), &bytes.Buffer{})
	if err != nil || c.Events != (eventsConfig{}) {
		t.Errorf("token without listen: %+v, %v", c.Events, err)
	}
}

// Settings that do not go together are refused at start, each with what to
// do; no message quotes the token.
func TestParseConfigEventsInvalid(t *testing.T) {
	file, _ := publicKeyFile(t)
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"auth without listen", []string{"-events-auth", "v2"}, nil, "-events-auth is set but the receiver is off: set -events-listen"},
		{"key without listen", []string{"-events-public-key", file}, nil, "-events-public-key is set but the receiver is off"},
		{"url without listen", nil, map[string]string{"MANUALDAG_EVENTS_URL": "https://x.example.com/"}, "-events-url is set but the receiver is off"},
		{"listen not host:port", []string{"-events-listen", "8443"}, nil, `events-listen "8443" is not host:port`},
		{"listen on the metrics port", []string{"-events-listen", "127.0.0.1:9090"}, nil, "share a port: give the receiver its own"},
		{"listen on the metrics address", []string{"-events-listen", ":9191", "-metrics-address", ":9191"}, nil, "share a port"},
		{"unknown auth", []string{"-events-listen", ":8443", "-events-auth", "hmac"}, nil, `events-auth: "hmac" is not a signature mode: use v1, v2, any`},
		{"token mode without token", []string{"-events-listen", ":8443", "-events-auth", "token"}, nil, "-events-auth token needs the shared token in MANUALDAG_EVENTS_TOKEN"},
		{"short token", []string{"-events-listen", ":8443"}, map[string]string{EnvEventsToken: "hunter2"}, "MANUALDAG_EVENTS_TOKEN is 7 characters: use at least 16"},
		{"token mode with a key", []string{"-events-listen", ":8443", "-events-auth", "token", "-events-public-key", file}, map[string]string{EnvEventsToken: eventsToken}, "drop one of them"},
		{"relative url", []string{"-events-listen", ":8443", "-events-url", "/dataworks"}, nil, "must be the absolute URL of the EventBridge target"},
		{"missing key file", []string{"-events-listen", ":8443", "-events-public-key", "/nonexistent/eb.pem"}, nil, "events-public-key: open /nonexistent/eb.pem"},
		{"key file not a key", []string{"-events-listen", ":8443", "-events-public-key", garbage}, nil, "want EventBridge's PEM certificate or public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig(tc.args, envOf(tc.env), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), eventsToken) {
				t.Errorf("the error quotes the token: %v", err)
			}
		})
	}
}

// fakeTemporal has one open run, of DAG 1000123, and records signals.
type fakeTemporal struct {
	mu      sync.Mutex
	signals []dag.Event
}

func (f *fakeTemporal) ListWorkflow(_ context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	if req.GetQuery() != openevent.Query(1000123) || req.GetNamespace() != "default" {
		return &workflowservice.ListWorkflowExecutionsResponse{}, nil
	}
	return &workflowservice.ListWorkflowExecutionsResponse{Executions: []*workflowpb.WorkflowExecutionInfo{
		{Execution: &commonpb.WorkflowExecution{WorkflowId: "dw-run", RunId: "r1"}, Status: enums.WORKFLOW_EXECUTION_STATUS_RUNNING},
	}}, nil
}

func (f *fakeTemporal) SignalWorkflow(_ context.Context, workflowID, _, name string, arg any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if workflowID == "dw-run" && name == dag.SignalEvent {
		f.signals = append(f.signals, arg.(dag.Event))
	}
	return nil
}

func post(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// The worker's receiver, wired as run wires it: its own listener, the run
// found through visibility and signalled, its outcomes and dedupe size on
// the worker's /metrics.
func TestEventsReceiverWiring(t *testing.T) {
	cfg, err := parseConfig([]string{"-events-listen", "127.0.0.1:0", "-events-auth", "token"}, envOf(map[string]string{EnvEventsToken: eventsToken}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	h, promHandler, closer := newMetrics(zap.NewNop())
	temporal := &fakeTemporal{}
	addr, stop, err := startEvents(cfg, temporal, h, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	url := "http://" + addr.String() + "/dataworks"
	event := func(id string, dagID int64) string {
		return fmt.Sprintf(`{"id":%q,"source":"acs.dataworks","specversion":"1.0","type":"%s","data":{"dagId":%d,"status":6}}`,
			id, openevent.TypeDagStatusChanges, dagID)
	}
	for _, tc := range []struct {
		token, body string
		code        int
		answer      string
	}{
		{eventsToken, event("e1", 1000123), http.StatusOK, "signaled"},
		{eventsToken, event("e1", 1000123), http.StatusOK, "duplicate"},
		{eventsToken, event("e2", 42), http.StatusAccepted, "no open run for DAG 42"},
		{"wrong-token-0123456789", event("e3", 1000123), http.StatusUnauthorized, "unauthorized: missing or wrong token"},
	} {
		if code, answer := post(t, url, tc.token, tc.body); code != tc.code || answer != tc.answer {
			t.Errorf("%s: %d %q, want %d %q", tc.body, code, answer, tc.code, tc.answer)
		}
	}
	temporal.mu.Lock()
	if len(temporal.signals) != 1 || temporal.signals[0].ID != "e1" || !temporal.signals[0].Final {
		t.Errorf("signals %+v", temporal.signals)
	}
	temporal.mu.Unlock()

	if err := closer.Close(); err != nil { // reports once more
		t.Fatal(err)
	}
	srv := httptest.NewServer(promHandler)
	defer srv.Close()
	_, metrics := get(t, srv.URL)
	for _, want := range []string{
		`manualdag_events_received_total{outcome="signaled"} 1`,
		`manualdag_events_received_total{outcome="duplicate"} 1`,
		`manualdag_events_received_total{outcome="unknown_run"} 1`,
		`manualdag_events_received_total{outcome="unauthorized"} 1`,
		`manualdag_events_dedupe_ids 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// Off by default: nothing listens, nothing is built.
func TestEventsOffByDefault(t *testing.T) {
	cfg, err := parseConfig(nil, envOf(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	addr, stop, err := startEvents(cfg, nil, nil, zap.NewNop())
	if err != nil || addr != nil {
		t.Fatalf("startEvents = %v, %v", addr, err)
	}
	stop()
}

// Without a pinned key, the receiver fetches keys from the worker's
// region's EventBridge bucket only.
func TestEventsKeyHostsFollowTheRegion(t *testing.T) {
	cfg, err := parseConfig([]string{"-events-listen", "127.0.0.1:0", "-dataworks-region", "cn-beijing"}, envOf(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := newReceiver(cfg, &fakeTemporal{}, nil, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}"))
	req.Header.Set(openevent.HeaderTimestamp, fmt.Sprint(time.Now().UnixMilli()))
	req.Header.Set(openevent.HeaderSignatureV2, "c2ln")
	req.Header.Set(openevent.HeaderURL, "https://cn-shanghai-eventbridge.oss-accelerate.aliyuncs.com/x509_public_certificate.pem")
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "not on an allowed EventBridge host") {
		t.Errorf("another region's bucket: %d %q", rec.Code, rec.Body.String())
	}
}
