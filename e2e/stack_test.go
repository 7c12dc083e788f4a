//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/manualdag/manualdag/internal/emulator"
	"github.com/manualdag/manualdag/workflows"
)

// The sample definition's project and flows, and a flow the tests add that
// runs for ten DataWorks hours, so that a test can act on a run that is
// certainly still going.
const (
	project     = "demo_project"
	flowOK      = "daily_sales"
	flowBroken  = "daily_sales_broken"
	flowSlow    = "e2e_slow"
	flowProfile = "e2e_profile"
	accessKeyID = "e2e-access-key-id"
)

// timeScale runs the sample flows (25 DataWorks minutes) in about 13 s.
const timeScale = 120

// Poll settings fit for the time scale, as the starter's flags; the
// defaults (10s to 5m) are made for real DataWorks.
// fastPoll suits the emulator's fast clock; --list-settle too: its DAGs list
// every node at once, and a run would otherwise give no verdict for 5
// minutes (the default, for DataWorks).
var fastPoll = []string{"--poll-initial", "1s", "--poll-max", "3s", "--blocked-grace", "5s", "--list-settle", "2s"}

// stack is what the tests share: one Temporal dev server, one emulator
// served over HTTP, one worker on the default task queue.
type stack struct {
	temporal *temporalServer
	client   client.Client
	emu      *emulator.Emulator
	emuLog   *syncBuffer
	// endpoint is the emulator's host:port.
	endpoint string
	// secret is the AccessKey secret the workers sign with, a marker that
	// must never reach Temporal or a log.
	secret string

	// workerBin is the worker binary; empty: the one TestMain built (with
	// -race). The benchmark (bench_test.go) runs one built without.
	workerBin string

	mu      sync.Mutex
	workers []*process
	// recorded names the workflows whose histories are worth keeping as
	// replay testdata: file name (without .json) → workflow id.
	recorded map[string]string
}

func newStack(t *testing.T) *stack {
	t.Helper()
	s := newStackOn(t, startTemporal(t))
	s.startWorker(t, workflows.TaskQueue)
	return s
}

// newStackOn is a stack on ts, with an emulator of its own and no worker.
func newStackOn(t *testing.T, ts *temporalServer) *stack {
	t.Helper()
	return newStackWith(t, ts, nil)
}

// newStackWith is newStackOn with the emulator's options changed by
// configure (when not nil) before it is made.
func newStackWith(t testing.TB, ts *temporalServer, configure func(*emulator.Options)) *stack {
	t.Helper()
	s := &stack{recorded: map[string]string{}, emuLog: &syncBuffer{}, secret: "e2e-secret-marker-" + randomHex(t)}

	def := emulator.SampleDefinition()
	tenHours := emulator.Duration(10 * time.Hour)
	def.Projects[0].Flows = append(def.Projects[0].Flows, emulator.Flow{
		Name:  flowSlow,
		Nodes: []emulator.Node{{ID: 103990001, Name: "slow_node", Duration: &tenHours}},
	})
	def.Projects[0].Flows = append(def.Projects[0].Flows, profileFlow())
	opts := emulator.Options{
		Definition:  def,
		Credentials: map[string]emulator.Key{accessKeyID: {Secret: s.secret}},
		TimeScale:   timeScale,
		// New DAGs list no instances for a moment, as on the real service.
		EmptyListFor: 300 * time.Millisecond,
		// A 2024-05-18 create stays Creating for a moment.
		CreatingFor: 500 * time.Millisecond,
		Logger:      slog.New(slog.NewTextHandler(s.emuLog, nil)),
	}
	if configure != nil {
		configure(&opts)
	}
	var err error
	s.emu, err = emulator.New(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.emu.Close() })
	srv := httptest.NewServer(s.emu)
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	s.endpoint = u.Host
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- emulator requests ---\n%s", s.emuLog.String())
		}
	})

	s.temporal = ts
	s.client = ts.Client(t)
	return s
}

func randomHex(t testing.TB) string {
	b := make([]byte, 12)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// workerEnv configures a worker for this stack, through the environment as
// an operator would.
func (s *stack) workerEnv(taskQueue string) []string {
	return []string{
		"TEMPORAL_ADDRESS=" + s.temporal.Address,
		"MANUALDAG_TASK_QUEUE=" + taskQueue,
		"MANUALDAG_DATAWORKS_ENDPOINT=" + s.endpoint,
		"MANUALDAG_DATAWORKS_SCHEME=http",
		"ALIBABA_CLOUD_ACCESS_KEY_ID=" + accessKeyID,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + s.secret,
		"MANUALDAG_LOG_FORMAT=console",
		"MANUALDAG_SHUTDOWN_TIMEOUT=5s",
		// Workers run side by side: each serves /metrics on a port of its own.
		"MANUALDAG_METRICS_ADDRESS=127.0.0.1:0",
	}
}

// startWorker starts the worker binary on taskQueue and waits until it
// polls Temporal. extra environment entries override workerEnv's.
func (s *stack) startWorker(t testing.TB, taskQueue string, extra ...string) *process {
	t.Helper()
	bin := s.workerBin
	if bin == "" {
		bin = filepath.Join(binDir, "worker")
	}
	w := startProcess(t, "worker "+taskQueue, append(s.workerEnv(taskQueue), extra...), bin)
	s.mu.Lock()
	s.workers = append(s.workers, w)
	s.mu.Unlock()
	// The SDK's identity is "pid@host@": this process, not one killed before.
	identity := strconv.Itoa(w.cmd.Process.Pid) + "@"
	waitFor(t, time.Minute, "the worker on "+taskQueue+" polls Temporal", func() bool {
		require.False(t, w.exited(), "the worker exited during start:\n%s", w.output())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := s.client.DescribeTaskQueue(ctx, taskQueue, enums.TASK_QUEUE_TYPE_WORKFLOW)
		if err != nil {
			return false
		}
		for _, p := range resp.GetPollers() {
			if strings.HasPrefix(p.GetIdentity(), identity) {
				return true
			}
		}
		return false
	}, w.output)
	return w
}

// starter runs the starter binary against this stack's Temporal.
func (s *stack) starter(t *testing.T, args ...string) result {
	t.Helper()
	return runCommand(t, 2*time.Minute, []string{"TEMPORAL_ADDRESS=" + s.temporal.Address}, filepath.Join(binDir, "starter"), args...)
}

// record keeps a workflow for the history recording (see histories_test.go).
func (s *stack) record(name, workflowID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recorded[name] = workflowID
}

// dagFor waits until the emulator has seen the one create for (flow,
// bizdate) and returns the DAG id.
func (s *stack) dagFor(t *testing.T, flow, bizdate string) int64 {
	t.Helper()
	var ids []int64
	waitFor(t, time.Minute, "a create for "+flow+" "+bizdate+" at the emulator", func() bool {
		ids = s.emu.CreatedDAGs(project, flow, bizdate)
		return len(ids) > 0
	}, nil)
	return ids[0]
}
