//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/manualdag/manualdag/workflows"
)

// searchAttributeFlags register RunManualDag's search attributes on the dev
// server, as `make demo` does.
func searchAttributeFlags() []string {
	var flags []string
	for _, k := range workflows.SearchAttributeKeys() {
		typ := "Keyword"
		if k.GetName() == workflows.SearchAttributeDagID.GetName() || k.GetName() == workflows.SearchAttributeFailedNodes.GetName() {
			typ = "Int"
		}
		flags = append(flags, "--search-attribute", k.GetName()+"="+typ)
	}
	return flags
}

// queueObserved is the task queue of the worker whose JSON logs and
// metrics TestObservability reads.
const queueObserved = "manualdag-e2e-observed"

// What an operator sees of runs (docs/operations.md): search attributes the
// Web UI can filter on, Prometheus metrics with sane values, the health
// endpoints, and JSON logs that carry the workflow id and the DAG id. Then
// a namespace without the search attributes: the run works all the same and
// the worker says what to register.
func TestObservability(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	w := s.startWorker(t, queueObserved, "MANUALDAG_LOG_FORMAT=json")
	metricsURL := "http://" + listenAddress(t, w) + "/metrics"

	const bizdate = "2024-08-01"
	ids := map[string]string{} // flow → workflow id
	codes := map[string]int{flowOK: 0, flowBroken: 1}
	t.Run("runs", func(t *testing.T) {
		for flow, want := range codes {
			t.Run(flow, func(t *testing.T) {
				t.Parallel()
				r := s.starter(t, append([]string{"run", "--task-queue", queueObserved, "--project", project, "--flow", flow,
					"--bizdate", bizdate, "--wait"}, fastPoll...)...)
				require.Equal(t, want, r.Code, "%s", r)
				assert.NotContains(t, r.Stderr, "search attributes", "the dev server has them registered: no note")
			})
			ids[flow] = "manualdag/" + project + "/" + flow + "/" + bizdate
		}
	})
	if t.Failed() {
		return
	}

	// The query of the issue, as the Web UI's filter would run it.
	ctx := testContext(t)
	query := fmt.Sprintf(`DataWorksFlow = %q AND DagOutcome = "FAILED" AND DataWorksBizdate = %q`, flowBroken, bizdate)
	var found []string
	var attrs map[string]any
	waitFor(t, 30*time.Second, "the failed run in ListWorkflow("+query+")", func() bool {
		resp, err := s.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		require.NoError(t, err)
		found = nil
		for _, e := range resp.GetExecutions() {
			found = append(found, e.GetExecution().GetWorkflowId())
			attrs = map[string]any{}
			for name, p := range e.GetSearchAttributes().GetIndexedFields() {
				var v any
				require.NoError(t, converter.GetDefaultDataConverter().FromPayload(p, &v))
				attrs[name] = v
			}
		}
		return len(found) == 1
	}, func() string { return strings.Join(found, ", ") })
	assert.Equal(t, ids[flowBroken], found[0])
	dagBroken := s.dagFor(t, flowBroken, bizdate)
	assert.Equal(t, map[string]any{
		"DataWorksProject": project, "DataWorksFlow": flowBroken, "DataWorksBizdate": bizdate,
		"DataWorksDagId": float64(dagBroken), "DagOutcome": "FAILED", "DagFailedNodes": float64(1),
	}, withoutBuiltIn(attrs))
	resp, err := s.client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
		Query: fmt.Sprintf(`DataWorksProject = %q AND DagOutcome = "SUCCEEDED" AND DagFailedNodes = 0 AND DataWorksDagId = %d`,
			project, s.dagFor(t, flowOK, bizdate)),
	})
	require.NoError(t, err)
	assert.EqualValues(t, 1, resp.GetCount(), "the succeeded run, by its DAG id")

	t.Run("Metrics", func(t *testing.T) {
		m := scrape(t, metricsURL)
		ours := func() string { return m.lines("manualdag_") }
		for _, c := range []struct {
			name   string
			labels []string
			want   float64
		}{
			{"manualdag_dataworks_calls_total", []string{`action="CreateManualDag"`, `code="OK"`}, 2},
			{"manualdag_dataworks_call_latency_seconds_count", []string{`action="CreateManualDag"`}, 2},
			{"manualdag_dag_runs_total", []string{`outcome="FAILED"`}, 1},
			{"manualdag_dag_runs_total", []string{`outcome="SUCCEEDED"`}, 1},
			{"manualdag_dag_runs_total", nil, 2},
			// A call refused before any I/O (no GetInstanceLog under
			// 2018-06-01) is not counted.
			{"manualdag_dataworks_calls_total", []string{`action="GetInstanceLog"`}, 0},
		} {
			assert.Equal(t, c.want, m.sum(c.name, c.labels...), "%s %v in\n%s", c.name, c.labels, ours())
		}
		assert.GreaterOrEqual(t, m.sum("manualdag_dataworks_calls_total", `action="SearchManualDagNodeInstance"`, `code="OK"`), 2.0, "a poll per run at least")
		assert.Equal(t, 2.0, m.sum("manualdag_dataworks_calls_total", `action="CreateManualDag"`, `activity_type="CreateManualDag"`,
			`namespace="default"`, `task_queue="`+queueObserved+`"`, `workflow_type="RunManualDag"`),
			"the SDK's tags come along:\n%s", ours())
		for _, name := range []string{"temporal_request_total", "temporal_workflow_completed_total", "temporal_activity_execution_latency_seconds_bucket", "go_goroutines"} {
			assert.True(t, m.has(name), "the SDK's and the runtime's metrics are exported too: %s", name)
		}
		// The gauge counts open runs on the queue: none once both ended
		// (it is refreshed every 15 s).
		waitFor(t, 40*time.Second, "manualdag_dags_waiting = 0", func() bool {
			m = scrape(t, metricsURL)
			return m.has("manualdag_dags_waiting") && m.sum("manualdag_dags_waiting", `task_queue="`+queueObserved+`"`) == 0
		}, ours)
	})

	t.Run("Health", func(t *testing.T) {
		base := strings.TrimSuffix(metricsURL, "/metrics")
		for _, path := range []string{"/healthz", "/readyz"} {
			code, body := httpGet(t, base+path)
			assert.Equal(t, http.StatusOK, code, "%s: %s", path, body)
		}
	})

	t.Run("JSONLogs", func(t *testing.T) {
		triggered := logLines(t, w.output(), "DAG run triggered in DataWorks") // the activity's
		finished := logLines(t, w.output(), "DAG run finished")                // the workflow's
		require.Len(t, triggered, 2, "%s", w.output())
		require.Len(t, finished, 2, "%s", w.output())
		for _, l := range append(triggered, finished...) {
			assert.Contains(t, []any{ids[flowOK], ids[flowBroken]}, l["WorkflowID"], "%v", l)
			assert.Contains(t, []any{float64(dagBroken), float64(s.dagFor(t, flowOK, bizdate))}, l["dagId"], "%v", l)
		}
		assert.NotContains(t, w.output(), s.secret)
	})

	t.Run("NamespaceWithoutSearchAttributes", func(t *testing.T) { s.testNamespaceWithoutSearchAttributes(t) })
	t.Run("TemporalProfile", func(t *testing.T) { s.testTemporalProfile(t) })

	// The failed run with search attributes, summaries and current details,
	// for the replay test (MANUALDAG_RECORD_HISTORIES=1, as histories_test.go).
	if os.Getenv("MANUALDAG_RECORD_HISTORIES") == "1" && !t.Failed() {
		s.writeHistory(t, "visibility-failed", ids[flowBroken])
	}
}

// writeHistory writes one workflow's history where the replay test reads it.
func (s *stack) writeHistory(t *testing.T, name, id string) {
	h := s.history(t, id, "")
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
	require.NoError(t, err)
	back, err := client.HistoryFromJSON(bytes.NewReader(b), client.HistoryJSONOptions{})
	require.NoError(t, err)
	require.Len(t, back.GetEvents(), len(h.GetEvents()), "the history must read back as the replayer reads it")
	path := filepath.Join(historyDir, name+".json")
	require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
	t.Logf("wrote %s: %d events of %s", path, len(h.GetEvents()), id)
}

// A namespace that lacks the search attributes still runs the DAG; the
// worker says once what to register, the starter notes it.
func (s *stack) testNamespaceWithoutSearchAttributes(t *testing.T) {
	const ns, queue, bizdate = "e2e-plain", "manualdag-e2e-plain", "2024-08-02"
	cli, err := temporalCLI()
	require.NoError(t, err)
	r := runCommand(t, time.Minute, nil, cli, "operator", "namespace", "create", "--address", s.temporal.Address, "--namespace", ns)
	require.Equal(t, 0, r.Code, "%s", r)

	var w *process
	waitFor(t, time.Minute, "a worker on namespace "+ns, func() bool {
		w = startProcess(t, "worker "+ns, append(s.workerEnv(queue), "TEMPORAL_NAMESPACE="+ns), filepath.Join(binDir, "worker"))
		time.Sleep(3 * time.Second) // an unknown namespace ends the worker at once
		if w.exited() {
			return false
		}
		return strings.Contains(w.output(), "search attributes missing")
	}, func() string { return w.output() })
	for _, name := range []string{"DataWorksProject", "DagOutcome", "DagFailedNodes"} {
		assert.Contains(t, w.output(), "temporal operator search-attribute create --namespace "+ns+" --name "+name)
	}
	assert.Equal(t, 1, strings.Count(w.output(), "search attributes missing"), "said once")

	r = runCommand(t, 2*time.Minute, []string{"TEMPORAL_ADDRESS=" + s.temporal.Address, "TEMPORAL_NAMESPACE=" + ns},
		filepath.Join(binDir, "starter"), append([]string{"run", "--task-queue", queue, "--project", project, "--flow", flowOK,
			"--bizdate", bizdate, "--wait"}, fastPoll...)...)
	require.Equal(t, 0, r.Code, "%s\nworker:\n%s", r, w.output())
	assert.Contains(t, r.Stderr, "lacks the search attributes")
}

// listenAddress is where a worker serves /metrics, from its start log.
func listenAddress(t *testing.T, w *process) string {
	t.Helper()
	re := regexp.MustCompile(`"address":\s*"([^"]+)"`)
	var addr string
	waitFor(t, 10*time.Second, "the worker's metrics address in its log", func() bool {
		for _, l := range strings.Split(w.output(), "\n") {
			if strings.Contains(l, "serving /metrics") {
				if m := re.FindStringSubmatch(l); m != nil {
					addr = m[1]
					return true
				}
			}
		}
		return false
	}, w.output)
	return addr
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// metrics are the series of a scrape, as Prometheus prints them
// (`name{label="value",…}`), with their values.
type metrics map[string]float64

// scrape reads the Prometheus text format.
func scrape(t *testing.T, url string) metrics {
	t.Helper()
	code, body := httpGet(t, url)
	require.Equal(t, http.StatusOK, code, "%s", body)
	m := metrics{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, "%s", line)
		m[line[:i]] = v
	}
	return m
}

// sum adds up the series of the metric name that carry every label given.
func (m metrics) sum(name string, labels ...string) float64 {
	total := 0.0
	for series, v := range m {
		n, rest, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		have := strings.Split(strings.TrimSuffix(rest, "}"), ",")
		ok := true
		for _, l := range labels {
			ok = ok && slices.Contains(have, l)
		}
		if ok {
			total += v
		}
	}
	return total
}

func (m metrics) has(name string) bool {
	for series := range m {
		if series == name || strings.HasPrefix(series, name+"{") {
			return true
		}
	}
	return false
}

// lines prints the series whose name begins with prefix.
func (m metrics) lines(prefix string) string {
	var out []string
	for series, v := range m {
		if strings.HasPrefix(series, prefix) {
			out = append(out, fmt.Sprintf("%s %v", series, v))
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// logLines are the JSON log lines with the message msg.
func logLines(t *testing.T, out, msg string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), "not JSON: %s", l)
		if m["msg"] == msg {
			lines = append(lines, m)
		}
	}
	return lines
}

// withoutBuiltIn drops Temporal's own search attributes (BuildIds, …).
func withoutBuiltIn(attrs map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range attrs {
		if strings.HasPrefix(k, "DataWorks") || strings.HasPrefix(k, "Dag") {
			out[k] = v
		}
	}
	return out
}
