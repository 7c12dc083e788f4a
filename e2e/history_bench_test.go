//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/internal/emulator"
	"github.com/manualdag/manualdag/workflows"
)

// BenchmarkHistory (make bench) measures on a real dev server what a run's
// history costs and what learning from earlier runs buys:
//
//   - learning: one flow run three times in a row (bizdates one day apart),
//     default input: the first run has no earlier run to learn from, the
//     later ones do. Per run: DataWorks searches (emulator), detection delay
//     (workflow close − the emulator's true DAG finish), history events.
//   - history: a 200-node DAG whose nodes change all the time, watched for
//     historyWatch by two runs: poll mode backoff at a 1 s interval (every
//     poll returns to the workflow: the worst case for the history) and the
//     default. Per workflow: the runs of its continue-as-new chain, and the
//     largest run's events and bytes; events per search return.
//
// Skipped unless MANUALDAG_BENCH=1. With MANUALDAG_BENCH_OUT set, the tables
// are appended to that file's name with ".history" before the extension.
func BenchmarkHistory(b *testing.B) {
	if os.Getenv("MANUALDAG_BENCH") != "1" {
		b.Skip("the history benchmark runs only with MANUALDAG_BENCH=1 (make bench)")
	}
	began := time.Now()
	secret := "bench-secret-" + randomHex(b)
	emu, err := emulator.New(emulator.Options{
		Definition:   historyDefinition(),
		Credentials:  map[string]emulator.Key{accessKeyID: {Secret: secret}},
		TimeScale:    historyTimeScale,
		EmptyListFor: 300 * time.Millisecond,
	})
	require.NoError(b, err)
	calls := &callLog{byDAG: map[int64][]searchCall{}}
	srv := httptest.NewServer(calls.wrap(emu))
	b.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	require.NoError(b, err)
	ts := startTemporal(b)
	s := &stack{temporal: ts, client: ts.Client(b), emu: emu, emuLog: &syncBuffer{}, endpoint: u.Host, secret: secret,
		recorded: map[string]string{}, workerBin: buildBenchWorker(b)}
	s.startWorker(b, workflows.TaskQueue, "MANUALDAG_DATAWORKS_QPS=0", "MANUALDAG_MAX_CONCURRENT_ACTIVITIES=200", "MANUALDAG_LOG_FORMAT=json")

	var wg sync.WaitGroup
	var learned []learnedRun
	var chains []historyChain
	wg.Add(2)
	go func() {
		defer wg.Done()
		for day := range 3 {
			learned = append(learned, s.learnRun(b, calls, day))
		}
	}()
	go func() {
		defer wg.Done()
		chains = s.historyChains(b, calls)
	}()
	wg.Wait()

	var doc strings.Builder
	fmt.Fprintf(&doc, "# manualdag history benchmark\n\n%s; took %s; load average before/after: see the real-server benchmark.\n\n",
		began.UTC().Format(time.RFC3339), time.Since(began).Round(time.Second))
	fmt.Fprintf(&doc, "## Learning from earlier runs: flow `%s` (%s), three runs in a row, default input\n\n", learnFlow, learnFlowText)
	doc.WriteString("| run | earlier runs learned from | DataWorks searches | search returns | detection delay | history events |\n|---|---:|---:|---:|---:|---:|\n")
	for i, l := range learned {
		fmt.Fprintf(&doc, "| %d (%s) | %d | %d | %d | %.1f s | %d |\n", i+1, l.bizdate, l.profileRuns, l.searches, l.returns, l.delay.Seconds(), l.events)
	}
	fmt.Fprintf(&doc, "\n## History of a 200-node DAG watched for %s (flow `%s`: %s)\n\n", historyWatch, historyFlow, historyFlowText)
	doc.WriteString("| input | runs in the continue-as-new chain | DataWorks searches | search returns | events, all runs | largest run: events | largest run: bytes | events per search return | events per hour |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range chains {
		fmt.Fprintf(&doc, "| %s | %d | %d | %d | %d | %d | %d | %.1f | %.0f |\n", c.name, c.runs, c.searches, c.returns, c.events, c.maxEvents, c.maxBytes,
			float64(c.events)/float64(max(c.returns, 1)), float64(c.events)/historyWatch.Hours())
	}
	text := doc.String()
	fmt.Fprint(os.Stdout, "\n"+text)
	if path := os.Getenv("MANUALDAG_BENCH_OUT"); path != "" {
		ext := filepath.Ext(path)
		require.NoError(b, os.WriteFile(strings.TrimSuffix(path, ext)+".history"+ext, []byte(text), 0o644))
	}
}

const (
	historyProject   = "history_project"
	historyFlow      = "busy_200"
	historyFlowText  = "10 layers of 20 nodes, each node after one of the layer before, running 30 s to 4 min 45 s in DataWorks time, at time scale 10"
	historyTimeScale = 10
	historyWatch     = 4 * time.Minute
	learnFlow        = "daily_etl"
	learnFlowText    = "extract (8 min) → transform (10 min) → load (6 min) in DataWorks time, about 2.5 min at time scale 10"
)

func historyDefinition() *emulator.Definition {
	d := func(v time.Duration) *emulator.Duration { x := emulator.Duration(v); return &x }
	var busy []emulator.Node
	for layer := range 10 {
		for i := range 20 {
			n := emulator.Node{ID: int64(105000000 + layer*100 + i), Name: fmt.Sprintf("node_%02d_%02d", layer, i),
				Duration: d(time.Duration(30+(layer*20+i)*97%255) * time.Second)}
			if layer > 0 {
				n.Upstream = []int64{int64(105000000 + (layer-1)*100 + (i*7)%20)}
			}
			busy = append(busy, n)
		}
	}
	return &emulator.Definition{Projects: []emulator.Project{{
		Name: historyProject,
		Flows: []emulator.Flow{
			{Name: historyFlow, Nodes: busy},
			{Name: learnFlow, Nodes: []emulator.Node{
				{ID: 106000001, Name: "extract", Duration: d(8 * time.Minute)},
				{ID: 106000002, Name: "transform", Upstream: []int64{106000001}, Duration: d(10 * time.Minute)},
				{ID: 106000003, Name: "load", Upstream: []int64{106000002}, Duration: d(6 * time.Minute)},
			}},
		},
	}}}
}

type learnedRun struct {
	bizdate                                string
	profileRuns, searches, returns, events int
	delay                                  time.Duration
}

// learnRun runs learnFlow for the day-th bizdate to its end and measures it.
func (s *stack) learnRun(b *testing.B, calls *callLog, day int) learnedRun {
	bizdate := time.Date(2024, 10, 1+day, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
	in := workflows.RunManualDagInput{ProjectName: historyProject, FlowName: learnFlow, Bizdate: bizdate,
		ListSettle: dag.Duration(workflows.DefaultListSettle / historyTimeScale)}
	id := s.startBenchRun(b, in)
	require.NoError(b, s.awaitClosed(id, 30*time.Minute), "run %s", id)
	l := learnedRun{bizdate: bizdate}
	dags := s.emu.CreatedDAGs(historyProject, learnFlow, bizdate)
	require.Len(b, dags, 1)
	info, _ := s.emu.DAG(dags[0])
	l.searches = len(calls.searches(dags[0]))
	closed := s.closeTime(b, id)
	l.delay = closed.Sub(info.FinishedAt)
	for _, run := range s.chainRuns(b, id) {
		events := s.runHistory(b, id, run)
		l.events += len(events)
		for _, f := range activityResults(events, "FlowTimings") {
			var res activities.FlowTimingsResult
			if converter.GetDefaultDataConverter().FromPayloads(f, &res) == nil {
				l.profileRuns = len(res.Runs)
			}
		}
		l.returns += len(activityResults(events, "SearchManualDagNodeInstance"))
	}
	return l
}

type historyChain struct {
	name                                                 string
	runs, searches, returns, events, maxEvents, maxBytes int
}

// historyChains watches the 200-node DAG twice, side by side.
func (s *stack) historyChains(b *testing.B, calls *callLog) []historyChain {
	worst := workflows.RunManualDagInput{ProjectName: historyProject, FlowName: historyFlow, Bizdate: "2024-11-01", ListSettle: dag.Duration(workflows.DefaultListSettle / historyTimeScale),
		Timeout: dag.Duration(historyWatch), OnDeadline: workflows.OnDeadlineLeave,
		Poll: workflows.PollOptions{Mode: workflows.PollBackoff, InitialInterval: dag.Duration(time.Second), MaxInterval: dag.Duration(time.Second)}}
	def := workflows.RunManualDagInput{ProjectName: historyProject, FlowName: historyFlow, Bizdate: "2024-11-02", ListSettle: dag.Duration(workflows.DefaultListSettle / historyTimeScale),
		Timeout: dag.Duration(historyWatch), OnDeadline: workflows.OnDeadlineLeave}
	inputs := []struct {
		name string
		in   workflows.RunManualDagInput
	}{
		{"poll.mode backoff, 1 s interval (a return per poll)", worst},
		{"default (predictive; no earlier run: polls every 10–18 s in repeat windows)", def},
	}
	ids := make([]string, len(inputs))
	for i, x := range inputs {
		ids[i] = s.startBenchRun(b, x.in)
	}
	var chains []historyChain
	for i, x := range inputs {
		_ = s.awaitClosed(ids[i], historyWatch+5*time.Minute) // TIMED_OUT by design
		c := historyChain{name: x.name}
		dags := s.emu.CreatedDAGs(historyProject, historyFlow, x.in.Bizdate)
		require.Len(b, dags, 1)
		c.searches = len(calls.searches(dags[0]))
		for _, run := range s.chainRuns(b, ids[i]) {
			events := s.runHistory(b, ids[i], run)
			c.runs++
			c.events += len(events)
			c.returns += len(activityResults(events, "SearchManualDagNodeInstance"))
			size := 0
			for _, e := range events {
				size += proto.Size(e)
			}
			c.maxEvents, c.maxBytes = max(c.maxEvents, len(events)), max(c.maxBytes, size)
		}
		chains = append(chains, c)
	}
	return chains
}

func (s *stack) startBenchRun(b *testing.B, in workflows.RunManualDagInput) string {
	id := workflows.BizdateWorkflowID(in.ProjectName, in.FlowName, in.Bizdate)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := s.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: workflows.TaskQueue,
		TypedSearchAttributes: workflows.StartSearchAttributes(in, func(temporal.SearchAttributeKey) bool { return true }),
	}, workflows.WorkflowName, in)
	require.NoError(b, err, "start %s", id)
	return id
}

// chainRuns lists the run ids of a workflow id, oldest first.
func (s *stack) chainRuns(b *testing.B, id string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := s.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: fmt.Sprintf("WorkflowId = '%s'", id)})
	require.NoError(b, err)
	var runs []string
	for _, e := range resp.GetExecutions() {
		runs = append([]string{e.GetExecution().GetRunId()}, runs...)
	}
	return runs
}

// awaitClosed waits for the workflow (its whole continue-as-new chain) to
// close and returns the error it closed with.
func (s *stack) awaitClosed(id string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.client.GetWorkflow(ctx, id, "").Get(ctx, nil)
}

func (s *stack) closeTime(b *testing.B, id string) time.Time {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := s.client.DescribeWorkflow(ctx, id, "")
	require.NoError(b, err)
	return d.RawResponse.GetWorkflowExecutionInfo().GetCloseTime().AsTime()
}

func (s *stack) runHistory(b *testing.B, id, runID string) []*historypb.HistoryEvent {
	events, err := fetchHistory(s.client, id, runID)
	require.NoError(b, err)
	return events
}

// activityResults returns the results of the completed activities of a type.
func activityResults(events []*historypb.HistoryEvent, activityType string) []*commonpb.Payloads {
	scheduled := map[int64]string{}
	var res []*commonpb.Payloads
	for _, e := range events {
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			scheduled[e.GetEventId()] = a.GetActivityType().GetName()
		}
		if c := e.GetActivityTaskCompletedEventAttributes(); c != nil && scheduled[c.GetScheduledEventId()] == activityType {
			res = append(res, c.GetResult())
		}
	}
	return res
}
