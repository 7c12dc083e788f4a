//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
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

// BenchmarkRealServer is the real-server benchmark (`make bench`): N
// concurrent RunManualDag runs through a Temporal dev server (the CLI's, as
// the other e2e tests run it), the worker binary (built here without -race)
// and the DataWorks emulator over signed HTTP, at a time scale. Every step
// has a dev server, a worker and an emulator of its own, so that counters,
// CPU time and peak RSS are the step's.
//
// Two benchmarks, one table each:
//   - the QPS ceiling: MANUALDAG_BENCH_QPS_RUNS runs (default 300) under
//     -dataworks-qps MANUALDAG_BENCH_QPS (default 10), and the most calls the
//     emulator counted in any one second against that ceiling;
//   - the scale steps: MANUALDAG_BENCH_STEPS (default 100,250,500,1000,2000,
//     3000,4000) runs each with -dataworks-qps 0 (the emulator is no real
//     account), until a step gives: poll lateness p99 > 2 s, worker RSS >
//     300 MB, a run that did not succeed, or the time budget
//     (MANUALDAG_BENCH_BUDGET, default 80m) would be overrun.
//
// Runs take the workflow's default poll policy: the input names project,
// flow and bizdate only. The tables go to stdout and, as markdown, to
// MANUALDAG_BENCH_OUT if set. Skipped unless MANUALDAG_BENCH=1.
//
// Other knobs: MANUALDAG_BENCH_STEPS=none skips the scale steps,
// MANUALDAG_BENCH_QPS_RUNS=0 the QPS step; MANUALDAG_BENCH_MAX_ACTIVITIES
// (default 500) is the worker's -max-concurrent-activities, high so that it
// is no ceiling (the table shows the most slots used);
// MANUALDAG_BENCH_HISTORIES (default 1000) bounds the histories read per
// step (an even sample beyond); MANUALDAG_BENCH_STEP_TIMEOUT (default 15m)
// bounds the wait for a step's runs to close; MANUALDAG_BENCH_QPS and
// MANUALDAG_BENCH_QPS_RUNS shape the QPS step; MANUALDAG_BENCH_DB=memory
// runs the dev servers without their SQLite file (default: a file, as the
// other e2e tests), to tell the storage's share of a ceiling;
// MANUALDAG_BENCH_WORKERS (default 1) runs that many worker processes.
func BenchmarkRealServer(b *testing.B) {
	if os.Getenv("MANUALDAG_BENCH") != "1" {
		b.Skip("the real-server benchmark runs only with MANUALDAG_BENCH=1 (make bench)")
	}
	cfg := benchConfigFromEnv(b)
	began := time.Now()
	loadBefore := loadAvg()

	workerBin := buildBenchWorker(b)

	var qpsResults, scaleResults []*benchStep
	if cfg.qpsRuns > 0 {
		sc := benchStepConfig{runs: cfg.qpsRuns, qps: cfg.qpsCeiling, maxActivities: cfg.maxActivities,
			histories: cfg.histories, waitLimit: cfg.stepTimeout, workerBin: workerBin, memoryDB: cfg.memoryDB, workers: cfg.workers}
		r := runBenchStep(b, fmt.Sprintf("qps=%g/N=%d", cfg.qpsCeiling, cfg.qpsRuns), sc)
		qpsResults = append(qpsResults, r)
	}

	var ceiling, gave *benchStep
	stopped := ""
	for i, n := range cfg.steps {
		if i > 0 {
			last := scaleResults[len(scaleResults)-1]
			estimate := time.Duration(float64(last.total) * math.Max(1, float64(n)/float64(last.cfg.runs)))
			if left := cfg.budget - time.Since(began); estimate > left {
				stopped = fmt.Sprintf("N=%d not run: the time budget (%s) has %s left, the step would take about %s", n, cfg.budget, left.Round(time.Second), estimate.Round(time.Second))
				break
			}
		}
		sc := benchStepConfig{runs: n, qps: 0, maxActivities: cfg.maxActivities,
			histories: cfg.histories, waitLimit: cfg.stepTimeout, workerBin: workerBin, memoryDB: cfg.memoryDB, workers: cfg.workers}
		r := runBenchStep(b, fmt.Sprintf("N=%d", n), sc)
		scaleResults = append(scaleResults, r)
		if reasons := r.gave(); len(reasons) > 0 {
			gave = r
			break
		}
		ceiling = r
	}
	loadAfter := loadAvg()

	var doc strings.Builder
	fmt.Fprintf(&doc, "# manualdag real-server benchmark\n\n")
	fmt.Fprintf(&doc, "%s, %d CPUs, GOMAXPROCS %d; load average (1, 5, 15 min) before: %s, after: %s; took %s.\n\n",
		began.UTC().Format(time.RFC3339), numCPU(), runtime.GOMAXPROCS(0), loadBefore, loadAfter, time.Since(began).Round(time.Second))
	db := "SQLite file, as the e2e tests run it"
	if cfg.memoryDB {
		db = "in-memory SQLite, MANUALDAG_BENCH_DB=memory"
	}
	fmt.Fprintf(&doc, "Each step: %s, "+
		"the worker binary (no -race) and the DataWorks emulator in the benchmark process over signed HTTP, time scale %d. "+
		"Flow `%s`: %s. Runs started with the Go SDK (workflow id `manualdag/<project>/<flow>/<bizdate>`, the starter's options), "+
		"%d at a time, input = project, flow, bizdate only, so the workflow's default poll policy. "+
		"%s: `-max-concurrent-activities %d`, SDK defaults otherwise (2 workflow and 2 activity task pollers, 1000 workflow task slots, per worker).\n\n",
		serverText(db), benchTimeScale, benchFlow, benchFlowText, benchStartParallel, workersText(cfg.workers), cfg.maxActivities)
	doc.WriteString(benchMethodText)
	fmt.Fprintf(&doc, "Every step's server is new: the runs of a step have no earlier runs of their flow to learn from, so a policy that learns "+
		"from them (poll mode predictive) runs on its fallback here.\n\n")
	if len(qpsResults) > 0 {
		fmt.Fprintf(&doc, "## QPS ceiling: -dataworks-qps %g, %d runs\n\n", cfg.qpsCeiling, cfg.qpsRuns)
		doc.WriteString(benchTable(qpsResults))
		for _, r := range qpsResults {
			doc.WriteString("\n" + r.qpsFinding() + "\n")
		}
		doc.WriteString("\n")
	}
	if len(scaleResults) > 0 {
		fmt.Fprintf(&doc, "## Scale steps: -dataworks-qps 0 (no limit: the emulator is not a real account)\n\n")
		doc.WriteString(benchTable(scaleResults))
		doc.WriteString("\n")
		doc.WriteString(scaleFinding(ceiling, gave, stopped, scaleResults))
		doc.WriteString("\n")
	}
	text := doc.String()
	fmt.Fprint(os.Stdout, "\n"+text)
	if path := os.Getenv("MANUALDAG_BENCH_OUT"); path != "" {
		require.NoError(b, os.WriteFile(path, []byte(text), 0o644))
	}
}

// benchMethodText says how the tables' figures are measured.
const benchMethodText = "Poll lateness, per poll (one DataWorks search call), actual = when the call reached the emulator: " +
	"after a timer (the first poll of a search activity), actual minus when the timer was due (TimerStarted time + StartToFireTimeout), " +
	"split into timer fired late (TimerFired − due), fired → workflow task started (waiting for the worker's workflow task pollers), " +
	"workflow task started → search scheduled (the worker's workflow task and its completion), search scheduled → DataWorks call " +
	"(matching, rate limit, activity pollers and slots, the worker); window retries (a search with a repeat window fails NothingYet " +
	"and Temporal retries it RepeatEvery later; retries leave no history), actual minus (the previous call's reply + RepeatEvery, " +
	"from the activity input), so the worker's and server's retry handling count as lateness. Every call is timed by a wrapper " +
	"around the emulator's handler; histories give timers, windows and DAG ids. Detection delay: workflow close time " +
	"minus the emulator's true DAG finish time. CPU: /proc/<pid>/stat utime+stime over the step (first start to last close), " +
	"avg and peak over 5 s windows in cores; peak RSS: VmHWM; pressure: /proc/pressure (PSI) share of the step's wall time; " +
	"others: machine busy minus the three processes measured, i.e. other work sharing the machine. " + "\n\n"

func workersText(n int) string {
	if n <= 1 {
		return "One worker process"
	}
	return fmt.Sprintf("%d worker processes on the task queue (MANUALDAG_BENCH_WORKERS; worker CPU, bytes and slots are their sum, peak RSS the largest one's), each", n)
}

// The benchmark's flow, in DataWorks time; at time scale 10 it runs about
// 80 s: start 3 s, then two extracts of 30 s and 24 s side by side, then a
// load of 36 s, each node with about 4 s of waiting and checking.
const (
	benchProject       = "bench_project"
	benchFlow          = "bench_flow"
	benchTimeScale     = 10
	benchStartParallel = 32
	benchFlowText      = "start (30s) → extract_a (5m) and extract_b (4m) → load (6m), phases wait 10s, resources 20s, checking 10s, in DataWorks time (about 80 s of clock time end to end)"
	benchBaseNodeID    = 104000001
)

// buildBenchWorker builds the worker as deployed (no race detector, unlike
// TestMain's) and returns its path.
func buildBenchWorker(b testing.TB) string {
	dir := b.TempDir()
	out, err := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "../worker").CombinedOutput()
	require.NoError(b, err, "building the worker: %s", out)
	return filepath.Join(dir, "worker")
}

func benchDefinition(b testing.TB) *emulator.Definition {
	d := func(v time.Duration) *emulator.Duration { x := emulator.Duration(v); return &x }
	def := &emulator.Definition{Projects: []emulator.Project{{
		Name: benchProject,
		Flows: []emulator.Flow{{
			Name:         benchFlow,
			WaitTime:     d(10 * time.Second),
			WaitResource: d(20 * time.Second),
			Checking:     d(10 * time.Second),
			Nodes: []emulator.Node{
				{ID: benchBaseNodeID, Name: "start", Duration: d(30 * time.Second), TaskType: "VIRTUAL"},
				{ID: benchBaseNodeID + 1, Name: "extract_a", Upstream: []int64{benchBaseNodeID}, Duration: d(5 * time.Minute)},
				{ID: benchBaseNodeID + 2, Name: "extract_b", Upstream: []int64{benchBaseNodeID}, Duration: d(4 * time.Minute)},
				{ID: benchBaseNodeID + 3, Name: "load", Upstream: []int64{benchBaseNodeID + 1, benchBaseNodeID + 2}, Duration: d(6 * time.Minute)},
			},
		}},
	}}}
	require.NoError(b, def.Validate())
	return def
}

type benchConfig struct {
	steps         []int
	qpsCeiling    float64
	qpsRuns       int
	maxActivities int
	histories     int
	budget        time.Duration
	stepTimeout   time.Duration
	memoryDB      bool
	workers       int
}

func benchConfigFromEnv(b testing.TB) benchConfig {
	c := benchConfig{workers: 1, qpsCeiling: 10, qpsRuns: 300, maxActivities: 500, histories: 1000, budget: 80 * time.Minute, stepTimeout: 15 * time.Minute}
	steps := "100,250,500,1000,2000,3000,4000"
	if v := os.Getenv("MANUALDAG_BENCH_STEPS"); v != "" {
		steps = v
	}
	for _, f := range strings.Split(steps, ",") {
		if steps == "none" {
			break
		}
		n, err := strconv.Atoi(strings.TrimSpace(f))
		require.NoError(b, err, "MANUALDAG_BENCH_STEPS=%s: comma-separated run counts", steps)
		require.Positive(b, n, "MANUALDAG_BENCH_STEPS")
		c.steps = append(c.steps, n)
	}
	envInt := func(name string, p *int) {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			require.NoError(b, err, name)
			*p = n
		}
	}
	envDur := func(name string, p *time.Duration) {
		if v := os.Getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			require.NoError(b, err, name)
			*p = d
		}
	}
	if v := os.Getenv("MANUALDAG_BENCH_QPS"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		require.NoError(b, err, "MANUALDAG_BENCH_QPS")
		c.qpsCeiling = f
	}
	envInt("MANUALDAG_BENCH_QPS_RUNS", &c.qpsRuns)
	envInt("MANUALDAG_BENCH_MAX_ACTIVITIES", &c.maxActivities)
	envInt("MANUALDAG_BENCH_HISTORIES", &c.histories)
	envInt("MANUALDAG_BENCH_WORKERS", &c.workers)
	envDur("MANUALDAG_BENCH_BUDGET", &c.budget)
	envDur("MANUALDAG_BENCH_STEP_TIMEOUT", &c.stepTimeout)
	switch v := os.Getenv("MANUALDAG_BENCH_DB"); v {
	case "", "file":
	case "memory":
		c.memoryDB = true
	default:
		b.Fatalf("MANUALDAG_BENCH_DB=%s: file (default, as the e2e tests) or memory", v)
	}
	return c
}

type benchStepConfig struct {
	runs          int
	qps           float64 // -dataworks-qps; 0 = no limit
	maxActivities int
	histories     int // histories read at most (an even sample beyond)
	waitLimit     time.Duration
	workerBin     string
	memoryDB      bool // the dev server without --db-filename
	workers       int  // worker processes on the task queue

	// The learned fleet (BenchmarkFleet); zero values: the scale steps.
	flow    *benchFlowSpec // nil: benchFlow
	warmup  int            // runs of the flow completed before the step, for its runs to learn from
	ramp    time.Duration  // the step's starts spread evenly over it; 0: as fast as they go
	pollers int            // the worker's -task-pollers; 0: its default (2)

	// Issue 17's fleet: the mix of flows at a time scale, in bursts, held.
	timeScale  float64       // 0: benchTimeScale
	mix        bool          // runs cycle through fleetMix's flows (flow is fleetMixFlow)
	seeded     int           // earlier runs of each flow seeded for the runs to learn from (seedEarlierRuns)
	burst      int           // starts come burst at a time, as fast as they go, one burst per burstEvery
	burstEvery time.Duration //
	hold       time.Duration // after the starts, keep runs open this long (finished ones replaced), then end the rest
}

func (c benchStepConfig) scale() float64 {
	if c.timeScale > 0 {
		return c.timeScale
	}
	return benchTimeScale
}

// benchFlowSpec is the flow a step runs.
type benchFlowSpec struct {
	name, text string
	definition func(testing.TB) *emulator.Definition
}

var benchDefaultFlow = &benchFlowSpec{name: benchFlow, text: benchFlowText, definition: benchDefinition}

// benchStep is one step's figures.
type benchStep struct {
	name string
	cfg  benchStepConfig
	// harness is set when the step itself broke (not the system measured).
	harness string
	total   time.Duration // the step with setup and teardown

	started, startErrors int
	firstStartErr        string
	startDur             time.Duration
	wall                 time.Duration // first start to last close
	statuses             map[string]int
	notClosed            int

	calls, searches, creates, notOK int
	outcomes                        map[string]int
	peakPerSecond                   int
	activeSeconds                   int
	over                            []emulator.SecondBucket // seconds above the QPS ceiling

	detection []time.Duration

	historiesRead                 int
	events, bytes, windows        []int
	sampledSearches               []int // the searches of the DAGs of the histories read
	searchesPerDAG                []int
	maxSliding                    int
	lateTimer, lateRetry          []time.Duration // poll lateness by kind
	timerLate, wftQueue, wftRun   []time.Duration // parts of lateTimer
	dispatch                      []time.Duration
	worker, server, self, machine procFigures
	db                            procFigures // PostgreSQL's process tree (cluster mode); zero on the dev server
	slotsActivity, slotsWorkflow  int
	idleWorker, idleServer        float64 // cores, 5 s before the first start
	psiCPU, psiIOSome, psiIOFull  float64 // % of the window
	loadBefore, loadAfter         string

	// The learned fleet.
	warmupCompleted             int
	warmupTook                  time.Duration
	warmupStatus                string
	peakOpen                    int64         // most runs open at once (visibility's count, sampled)
	peakOpenAt                  time.Duration // after the first start
	openSamples                 int
	timingsLooked, timingsFound int // histories read with a FlowTimings result, and with earlier runs in it
	timingsRuns                 []int
	logPredicted, logFallback   int // the step's runs logging "Polling predicted…" / "Polling without predictions"

	// Issue 17's fleet.
	actQueue               []time.Duration // search scheduled → started (activity schedule-to-start), first attempts
	replaced, terminated   int             // runs started during the hold, runs ended by the harness after it
	window                 float64         // seconds measured: first start to the end of the hold
	windowCalls            int             // DataWorks calls in the window
	openSeconds            float64         // ∫ open runs dt over the window (run-seconds), from the 5 s samples
	holdOpenMin            int64           // fewest runs open during the hold (after the starts)
	serverBefore, serverAt promMetrics     // the server's own metrics at the first start and at the end of the window
	pgBefore, pgAt         pgStats
}

type procFigures struct {
	writes int64   // bytes written to storage over the window (/proc/<pid>/io)
	runq   float64 // seconds its threads waited for a CPU over the window
	cpu    float64 // seconds over the window
	avg    float64 // cores
	peak5s float64 // cores
	hwmKB  int64
	window float64 // seconds measured (set for the database only)
}

func runBenchStep(b *testing.B, name string, cfg benchStepConfig) *benchStep {
	r := &benchStep{name: name, cfg: cfg}
	began := time.Now()
	ok := b.Run(name, func(b *testing.B) {
		r.measure(b)
	})
	r.total = time.Since(began)
	if !ok && r.harness == "" {
		r.harness = "the step failed (see the log above)"
	}
	fmt.Fprintf(os.Stdout, "bench step %s done in %s: %s\n", name, r.total.Round(time.Second), r.summaryLine())
	return r
}

func (r *benchStep) measure(b *testing.B) {
	cfg := r.cfg
	flow := cfg.flow
	if flow == nil {
		flow = benchDefaultFlow
	}
	r.loadBefore = loadAvg()

	// The emulator, in this process, over HTTP; no request log (it would
	// grow with every call).
	secret := "bench-secret-" + randomHex(b)
	emu, err := emulator.New(emulator.Options{
		Definition:   flow.definition(b),
		Credentials:  map[string]emulator.Key{accessKeyID: {Secret: secret}},
		TimeScale:    cfg.scale(),
		EmptyListFor: 300 * time.Millisecond,
	})
	require.NoError(b, err)
	calls := &callLog{byDAG: map[int64][]searchCall{}}
	srv := httptest.NewServer(calls.wrap(emu))
	b.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	require.NoError(b, err)

	var ts *temporalServer
	if cfg.memoryDB && !clusterMode() {
		ts = &temporalServer{port: freePort(b)}
		ts.Address = "127.0.0.1:" + strconv.Itoa(ts.port)
		ts.start(b)
		b.Cleanup(func() { ts.proc.stop(b) })
	} else {
		ts = startTemporal(b)
	}
	s := &stack{temporal: ts, client: ts.Client(b), emu: emu, emuLog: &syncBuffer{}, endpoint: u.Host, secret: secret,
		recorded: map[string]string{}, workerBin: cfg.workerBin}
	// The sampler's pids: the dev server, this process, then the workers.
	spid := ts.proc.cmd.Process.Pid
	pids := []int{spid, os.Getpid()}
	var workers []*process
	var metricsURLs []string
	for range max(1, cfg.workers) {
		port := strconv.Itoa(freePort(b))
		env := []string{"MANUALDAG_DATAWORKS_QPS=" + strconv.FormatFloat(cfg.qps, 'f', -1, 64),
			"MANUALDAG_MAX_CONCURRENT_ACTIVITIES=" + strconv.Itoa(cfg.maxActivities),
			"MANUALDAG_METRICS_ADDRESS=127.0.0.1:" + port,
			"MANUALDAG_LOG_FORMAT=json"}
		if cfg.pollers > 0 {
			env = append(env, "MANUALDAG_TASK_POLLERS="+strconv.Itoa(cfg.pollers))
		}
		w := s.startWorker(b, workflows.TaskQueue, env...)
		workers = append(workers, w)
		pids = append(pids, w.cmd.Process.Pid)
		metricsURLs = append(metricsURLs, "http://127.0.0.1:"+port+"/metrics")
	}
	workerCPU := func() float64 {
		t := 0.0
		for _, pid := range pids[2:] {
			t += procCPU(pid)
		}
		return t
	}

	// What the workers and the dev server burn before any run: the fixed
	// cost in the figures below.
	idleFrom, w0, s0 := time.Now(), workerCPU(), procCPU(spid)
	time.Sleep(5 * time.Second)
	idleFor := time.Since(idleFrom).Seconds()
	r.idleWorker, r.idleServer = (workerCPU()-w0)/idleFor, (procCPU(spid)-s0)/idleFor

	// Start runs, benchStartParallel at a time, as the starter would;
	// run i's start is due at due(i) after the first (nil: at once).
	startRuns := func(specs []runSpec, due func(i int) time.Duration) (ids []string, failed int, firstErr string) {
		ids = make([]string, len(specs))
		var errCount atomic.Int64
		var once sync.Once
		jobs := make(chan int)
		var wg sync.WaitGroup
		for range benchStartParallel {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range jobs {
					in := workflows.RunManualDagInput{ProjectName: benchProject, FlowName: specs[i].flow, Bizdate: specs[i].bizdate}
					if cfg.scale() != 1 {
						// DataWorks' settle time at the emulator's time scale.
						in.ListSettle = dag.Duration(float64(workflows.DefaultListSettle) / cfg.scale())
					}
					id := workflows.BizdateWorkflowID(in.ProjectName, in.FlowName, in.Bizdate)
					ids[i] = id
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					_, err := s.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
						ID:                                       id,
						TaskQueue:                                workflows.TaskQueue,
						WorkflowIDReusePolicy:                    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
						WorkflowIDConflictPolicy:                 enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
						WorkflowExecutionErrorWhenAlreadyStarted: true,
						StaticSummary:                            fmt.Sprintf("%s/%s @ %s", in.ProjectName, in.FlowName, in.Bizdate),
						TypedSearchAttributes:                    workflows.StartSearchAttributes(in, func(temporal.SearchAttributeKey) bool { return true }),
					}, workflows.WorkflowName, in)
					cancel()
					if err != nil {
						errCount.Add(1)
						once.Do(func() { firstErr = err.Error() })
					}
				}
			}()
		}
		first := time.Now()
		for i := range specs {
			if due != nil {
				time.Sleep(time.Until(first.Add(due(i))))
			}
			jobs <- i
		}
		close(jobs)
		wg.Wait()
		return ids, int(errCount.Load()), firstErr
	}
	predictedLogs := func() (predicted, fallback int) {
		for _, w := range workers {
			out := w.output()
			predicted += strings.Count(out, "Polling predicted from earlier runs")
			fallback += strings.Count(out, "Polling without predictions")
		}
		return predicted, fallback
	}

	// Warm-up: earlier runs of the flow, completed, for the step's runs to
	// learn from; none of their calls or runs count in the step's figures.
	warmupIDs := map[string]bool{}
	var base emulator.Stats
	var logPredicted0, logFallback0 int
	if cfg.warmup > 0 {
		var specs []runSpec
		for j := range cfg.warmup {
			specs = append(specs, runSpec{flow: flow.name, bizdate: bizdateN(cfg.runs + j)})
		}
		from := time.Now()
		ids, failed, firstErr := startRuns(specs, nil)
		require.Zero(b, failed, "starting the warm-up runs: %s", firstErr)
		for _, id := range ids {
			warmupIDs[id] = true
		}
		for {
			n, err := countOpen(s.client)
			if err == nil && n == 0 {
				break
			}
			require.False(b, time.Since(from) > cfg.waitLimit, "%d warm-up runs still open after %s", n, cfg.waitLimit)
			time.Sleep(2 * time.Second)
		}
		r.warmupTook = time.Since(from)
		_, _, statuses, err := listRuns(s.client, nil)
		require.NoError(b, err)
		r.warmupCompleted = statuses["Completed"]
		r.warmupStatus = statusText(statuses)
		base = emu.Stats()
		calls.reset()
		logPredicted0, logFallback0 = predictedLogs()
		b.Logf("%s: %d warm-up runs closed in %s: %s", r.name, cfg.warmup, r.warmupTook.Round(time.Second), r.warmupStatus)
	}

	if cfg.seeded > 0 {
		from := time.Now()
		maps.Copy(warmupIDs, seedEarlierRuns(b, s.client, cfg.seeded, nil))
		b.Logf("%s: seeded %d earlier runs of each of the %d flows in %s", r.name, cfg.seeded, len(fleetMix), time.Since(from).Round(time.Second))
	}

	dbPid := 0
	var db *postgres
	if ts.cluster != nil {
		db = ts.cluster.db
		dbPid = db.proc.cmd.Process.Pid
	}
	serverMetrics := ""
	if ts.metricsPort != 0 {
		serverMetrics = "http://127.0.0.1:" + strconv.Itoa(ts.metricsPort) + "/metrics"
	}
	r.serverBefore, r.pgBefore = scrapeProm(serverMetrics), readPGStats(db)
	smp := startSampler(pids, dbPid, metricsURLs)

	// The most runs open at once, from visibility, every 5 s until the
	// step's runs have closed.
	startedAt := time.Now()
	openDone := make(chan struct{})
	openStopped := make(chan struct{})
	var holdFrom, holdUntil atomic.Int64 // unix ns; the hold's span, once the starts are done
	go func() {
		defer close(openStopped)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-openDone:
				return
			case <-t.C:
				if n, err := countOpen(s.client); err == nil {
					now := time.Now()
					r.openSamples++
					if n > r.peakOpen {
						r.peakOpen, r.peakOpenAt = n, time.Since(startedAt)
					}
					if u := holdUntil.Load(); u == 0 || now.UnixNano() <= u {
						r.openSeconds += float64(n) * now.Sub(last).Seconds()
					}
					if f, u := holdFrom.Load(), holdUntil.Load(); f != 0 && now.UnixNano() >= f && now.UnixNano() <= u &&
						(r.holdOpenMin == 0 || n < r.holdOpenMin) {
						r.holdOpenMin = n
					}
					last = now
				}
			}
		}
	}()

	var specs []runSpec
	if cfg.mix {
		specs = mixSpecs(cfg.runs, 0)
	} else {
		for i := range cfg.runs {
			specs = append(specs, runSpec{flow: flow.name, bizdate: bizdateN(i)})
		}
	}
	var due func(int) time.Duration
	switch {
	case cfg.burst > 0:
		due = func(i int) time.Duration { return time.Duration(i/cfg.burst) * cfg.burstEvery }
	case cfg.ramp > 0:
		due = func(i int) time.Duration { return cfg.ramp * time.Duration(i) / time.Duration(len(specs)) }
	}
	ids, failed, firstErr := startRuns(specs, due)
	r.firstStartErr = firstErr
	r.startDur = time.Since(startedAt)
	r.startErrors = failed
	r.started = cfg.runs - r.startErrors

	var samples *samples
	if cfg.hold > 0 {
		// The hold: every run DataWorks finished gets a successor of its
		// flow, so the fleet stays at its size; then the window closes and
		// the harness ends the runs still open.
		until := time.Now().Add(cfg.hold)
		holdFrom.Store(time.Now().Add(time.Minute).UnixNano()) // the last burst's runs are open by then
		holdUntil.Store(until.UnixNano())
		next := len(specs) + cfg.warmup + 1000
		var mu sync.Mutex
		r.replaced = replaceFinished(emu, until, func(flowName string) {
			mu.Lock()
			spec := runSpec{flow: flowName, bizdate: bizdateN(next)}
			next++
			mu.Unlock()
			more, failed, firstErr := startRuns([]runSpec{spec}, nil)
			ids = append(ids, more...)
			if failed > 0 {
				r.startErrors += failed
				r.firstStartErr = firstErr
			}
		})
		r.window = time.Since(startedAt).Seconds()
		r.serverAt, r.pgAt = scrapeProm(serverMetrics), readPGStats(db)
		r.windowCalls = emu.Stats().Total - base.Total
		samples = smp.stop()
		r.terminated = terminateOpen(b, s.client)
		b.Logf("%s: hold over after %s: %d runs started during it, %d ended by the harness", r.name, cfg.hold, r.replaced, r.terminated)
	}

	// Wait until no run is open (visibility's count), within the limit.
	deadline := startedAt.Add(cfg.waitLimit)
	if cfg.hold > 0 {
		deadline = time.Now().Add(cfg.waitLimit)
	}
	for {
		n, err := countOpen(s.client)
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			r.notClosed = int(n)
			r.harness = fmt.Sprintf("%d runs still open %s after the first start", n, cfg.waitLimit)
			break
		}
		time.Sleep(2 * time.Second)
	}
	close(openDone)
	<-openStopped
	if samples == nil {
		r.window = time.Since(startedAt).Seconds()
		r.serverAt, r.pgAt = scrapeProm(serverMetrics), readPGStats(db)
		r.windowCalls = emu.Stats().Total - base.Total
		samples = smp.stop()
	}
	workerIdx := make([]int, len(workers))
	for i := range workers {
		workerIdx[i] = 2 + i
	}
	r.server, r.self, r.worker, r.machine = samples.figures(0), samples.figures(1), samples.figures(workerIdx...), samples.machineFigures()
	r.db = samples.dbFigures()
	r.slotsActivity, r.slotsWorkflow = samples.slotsActivity, samples.slotsWorkflow
	r.psiCPU, r.psiIOSome, r.psiIOFull = samples.pressure()
	r.server.hwmKB, r.self.hwmKB = procHWM(spid), procHWM(os.Getpid())
	for _, pid := range pids[2:] {
		r.worker.hwmKB = max(r.worker.hwmKB, procHWM(pid)) // the largest worker
	}
	r.loadAfter = loadAvg()

	// The emulator's counters.
	st := emu.Stats()
	r.calls = st.Total - base.Total
	r.searches = st.Calls["SearchManualDagNodeInstance"].Total - base.Calls["SearchManualDagNodeInstance"].Total
	r.creates = st.Calls["CreateManualDag"].Total - base.Calls["CreateManualDag"].Total
	r.outcomes = map[string]int{}
	for action, a := range st.Calls {
		for o, n := range a.Outcomes {
			if n -= base.Calls[action].Outcomes[o]; o != emulator.OutcomeOK && n > 0 {
				r.notOK += n
				r.outcomes[action+" "+o] += n
			}
		}
	}
	r.peakPerSecond = st.PeakPerSecond
	r.activeSeconds = len(st.PerSecond)
	if cfg.qps > 0 {
		for _, sec := range st.PerSecond {
			if float64(sec.Calls) > cfg.qps {
				r.over = append(r.over, sec)
			}
		}
	}

	// Close times and outcomes, from visibility.
	closedAt, runIDs, statuses, err := listRuns(s.client, warmupIDs)
	require.NoError(b, err)
	r.statuses = statuses
	var last time.Time
	for _, t := range closedAt {
		if t.After(last) {
			last = t
		}
	}
	if !last.IsZero() {
		r.wall = last.Sub(startedAt)
	}
	for _, d := range emu.DAGs() {
		id := workflows.BizdateWorkflowID(d.Project, d.Flow, d.Bizdate)
		if t, ok := closedAt[id]; ok && !d.FinishedAt.IsZero() {
			r.detection = append(r.detection, t.Sub(d.FinishedAt))
		}
	}

	// Histories: all runs up to cfg.histories, an even sample beyond.
	sample := ids
	if len(ids) > cfg.histories && cfg.histories > 0 {
		sample = nil
		for i := range cfg.histories {
			sample = append(sample, ids[i*len(ids)/cfg.histories])
		}
	}
	r.searchesPerDAG, r.maxSliding = calls.perDAG(), calls.maxInAnySecond()
	r.readHistories(b, s.client, sample, runIDs, calls)
	p, f := predictedLogs()
	r.logPredicted, r.logFallback = p-logPredicted0, f-logFallback0
	logBytes := 0
	for _, w := range workers {
		logBytes += len(w.output())
	}
	b.Logf("%s: worker logs %d bytes, benchmark process peak RSS %s", r.name, logBytes, mb(procHWM(os.Getpid())))
}

// readHistories counts events and bytes per run and the lateness of every
// timer-driven poll.
func (r *benchStep) readHistories(b testing.TB, c client.Client, ids []string, runIDs map[string]string, calls *callLog) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	jobs := make(chan string)
	var failed []string
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range jobs {
				h, err := fetchHistory(c, id, runIDs[id])
				mu.Lock()
				if err != nil {
					failed = append(failed, fmt.Sprintf("%s: %v", id, err))
				} else {
					r.addHistory(h, calls)
				}
				mu.Unlock()
			}
		}()
	}
	for _, id := range ids {
		if id != "" {
			jobs <- id
		}
	}
	close(jobs)
	wg.Wait()
	if len(failed) > 0 {
		b.Logf("%d histories could not be read, e.g. %s", len(failed), failed[0])
	}
}

func fetchHistory(c client.Client, id, runID string) ([]*historypb.HistoryEvent, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	iter := c.GetWorkflowHistory(ctx, id, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var events []*historypb.HistoryEvent
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, nil
}

const searchActivity = "SearchManualDagNodeInstance"

// addHistory counts a run's events and bytes and measures the lateness of
// its polls, joining its history with the DataWorks calls the emulator saw
// for its DAG. A search activity is a window of polls: the first poll
// follows a timer (workflow-driven), and, when the search has a repeat
// window (SearchInput.RepeatEvery), each retry is another poll that Temporal
// schedules RepeatEvery after the previous attempt failed with NothingYet
// (server-driven; retries leave no history).
func (r *benchStep) addHistory(events []*historypb.HistoryEvent, calls *callLog) {
	size := 0
	due := map[int64]time.Time{} // TimerStarted event id → when it was due
	type window struct {
		due, fired, wftStarted, scheduled time.Time // due zero: no timer before it
		every                             time.Duration
		closed                            time.Time
	}
	var windows []*window
	bySchedule := map[int64]*window{}
	var fired *window // a poll timer fired, its search not scheduled yet
	var dagID int64
	timingsScheduled := map[int64]bool{}
	for _, e := range events {
		size += proto.Size(e)
		at := e.GetEventTime().AsTime()
		switch e.GetEventType() {
		case enums.EVENT_TYPE_TIMER_STARTED:
			due[e.GetEventId()] = at.Add(e.GetTimerStartedEventAttributes().GetStartToFireTimeout().AsDuration())
			fired = nil
		case enums.EVENT_TYPE_TIMER_FIRED:
			if d, ok := due[e.GetTimerFiredEventAttributes().GetStartedEventId()]; ok {
				fired = &window{due: d, fired: at}
			}
		case enums.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			if fired != nil && fired.wftStarted.IsZero() {
				fired.wftStarted = at
			}
		case enums.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			a := e.GetActivityTaskScheduledEventAttributes()
			if a.GetActivityType().GetName() == "FlowTimings" {
				timingsScheduled[e.GetEventId()] = true
			}
			if a.GetActivityType().GetName() != searchActivity {
				continue
			}
			w := &window{}
			if fired != nil {
				w = fired
				if w.wftStarted.IsZero() {
					w.wftStarted = at
				}
			}
			fired = nil
			w.scheduled = at
			var in struct {
				DagID       int64         `json:"dagId"`
				RepeatEvery time.Duration `json:"repeatEvery"`
			}
			if p := a.GetInput().GetPayloads(); len(p) > 0 && json.Unmarshal(p[0].GetData(), &in) == nil {
				dagID, w.every = in.DagID, in.RepeatEvery
			}
			windows = append(windows, w)
			bySchedule[e.GetEventId()] = w
		case enums.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			a := e.GetActivityTaskStartedEventAttributes()
			if w := bySchedule[a.GetScheduledEventId()]; w != nil && a.GetAttempt() == 1 {
				r.actQueue = append(r.actQueue, at.Sub(w.scheduled))
			}
		case enums.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			if timingsScheduled[e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()] {
				var res activities.FlowTimingsResult
				if converter.GetDefaultDataConverter().FromPayloads(e.GetActivityTaskCompletedEventAttributes().GetResult(), &res) == nil {
					r.timingsLooked++
					if len(res.Runs) > 0 {
						r.timingsFound++
						r.timingsRuns = append(r.timingsRuns, len(res.Runs))
					}
				}
			}
			if w := bySchedule[e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()]; w != nil {
				w.closed = at
			}
		case enums.EVENT_TYPE_ACTIVITY_TASK_FAILED:
			if w := bySchedule[e.GetActivityTaskFailedEventAttributes().GetScheduledEventId()]; w != nil {
				w.closed = at
			}
		case enums.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
			if w := bySchedule[e.GetActivityTaskTimedOutEventAttributes().GetScheduledEventId()]; w != nil {
				w.closed = at
			}
		case enums.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
			if w := bySchedule[e.GetActivityTaskCanceledEventAttributes().GetScheduledEventId()]; w != nil {
				w.closed = at
			}
		}
	}
	dagCalls := calls.searches(dagID)
	for _, w := range windows {
		if w.closed.IsZero() {
			continue
		}
		var in []searchCall
		for _, c := range dagCalls {
			if !c.at.Before(w.scheduled) && !c.at.After(w.closed) {
				in = append(in, c)
			}
		}
		if len(in) == 0 {
			continue
		}
		if !w.due.IsZero() {
			r.lateTimer = append(r.lateTimer, in[0].at.Sub(w.due))
			r.timerLate = append(r.timerLate, w.fired.Sub(w.due))
			r.wftQueue = append(r.wftQueue, w.wftStarted.Sub(w.fired))
			r.wftRun = append(r.wftRun, w.scheduled.Sub(w.wftStarted))
			r.dispatch = append(r.dispatch, in[0].at.Sub(w.scheduled))
		}
		if w.every > 0 {
			for j := 1; j < len(in); j++ {
				r.lateRetry = append(r.lateRetry, in[j].at.Sub(in[j-1].done.Add(w.every)))
			}
		}
	}
	r.historiesRead++
	r.events = append(r.events, len(events))
	r.bytes = append(r.bytes, size)
	r.windows = append(r.windows, len(windows))
	r.sampledSearches = append(r.sampledSearches, len(dagCalls))
}

// callLog records, per DAG, when each search reached the emulator and when
// it was answered, and the arrival time of every call.
type callLog struct {
	mu    sync.Mutex
	byDAG map[int64][]searchCall
	all   []time.Time
}

type searchCall struct{ at, done time.Time }

// wrap serves h and records the calls it answers.
func (l *callLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(req.URL.Path, "/_emulator/") {
			h.ServeHTTP(w, req)
			return
		}
		at := time.Now()
		// Parsed here, the form is what the emulator reads too
		// (ParseForm does not read the body twice).
		_ = req.ParseForm()
		action, dag := req.Form.Get("Action"), req.Form.Get("DagId")
		h.ServeHTTP(w, req)
		done := time.Now()
		l.mu.Lock()
		defer l.mu.Unlock()
		l.all = append(l.all, at)
		if action == searchActivity {
			id, _ := strconv.ParseInt(dag, 10, 64)
			l.byDAG[id] = append(l.byDAG[id], searchCall{at: at, done: done})
		}
	})
}

// reset forgets the calls so far.
func (l *callLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.byDAG, l.all = map[int64][]searchCall{}, nil
}

func (l *callLog) searches(dag int64) []searchCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := slices.Clone(l.byDAG[dag])
	slices.SortFunc(c, func(a, b searchCall) int { return a.at.Compare(b.at) })
	return c
}

// perDAG is the number of searches of each DAG the emulator answered.
func (l *callLog) perDAG() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n []int
	for _, c := range l.byDAG {
		n = append(n, len(c))
	}
	return n
}

// maxInAnySecond is the most calls that arrived within any 1 s (a sliding
// window, not clock seconds).
func (l *callLog) maxInAnySecond() int {
	l.mu.Lock()
	t := slices.Clone(l.all)
	l.mu.Unlock()
	slices.SortFunc(t, func(a, b time.Time) int { return a.Compare(b) })
	most, j := 0, 0
	for i := range t {
		for t[i].Sub(t[j]) >= time.Second {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}

func countOpen(c client.Client) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running'", workflows.WorkflowName)})
	if err != nil {
		return -1, err
	}
	return resp.GetCount(), nil
}

// listRuns returns, per workflow id, the close time and run id of its last
// run (a run that continued as new is not the last), and the count of last
// runs by status.
// Runs in skip are left out.
func listRuns(c client.Client, skip map[string]bool) (map[string]time.Time, map[string]string, map[string]int, error) {
	closedAt, runIDs, statuses := map[string]time.Time{}, map[string]string{}, map[string]int{}
	var token []byte
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			PageSize: 1000, NextPageToken: token,
			Query: fmt.Sprintf("WorkflowType = '%s'", workflows.WorkflowName)})
		cancel()
		if err != nil {
			return nil, nil, nil, err
		}
		for _, e := range resp.GetExecutions() {
			if e.GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
				continue
			}
			id := e.GetExecution().GetWorkflowId()
			if skip[id] {
				continue
			}
			runIDs[id] = e.GetExecution().GetRunId()
			statuses[e.GetStatus().String()]++
			if e.GetCloseTime() != nil && e.GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
				closedAt[id] = e.GetCloseTime().AsTime()
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return closedAt, runIDs, statuses, nil
		}
	}
}

// Thresholds at which a scale step "gives".
const (
	benchMaxLatenessP99 = 2 * time.Second
	benchMaxWorkerRSSKB = 300 * 1024
)

// lateness is every poll's lateness, workflow- and server-driven.
func (r *benchStep) lateness() []time.Duration { return slices.Concat(r.lateTimer, r.lateRetry) }

func (r *benchStep) completed() int { return r.statuses["Completed"] }

// gave lists why the step counts as the system giving; nil if it held.
func (r *benchStep) gave() []string {
	var why []string
	if r.harness != "" {
		why = append(why, "harness: "+r.harness)
	}
	if r.startErrors > 0 {
		why = append(why, fmt.Sprintf("%d starts failed (%s)", r.startErrors, r.firstStartErr))
	}
	if r.cfg.hold > 0 {
		// Runs still open after the hold are ended by the harness.
		if bad := sum(slices.Collect(maps.Values(r.statuses))) - r.completed() - r.statuses["Terminated"]; bad > 0 {
			why = append(why, fmt.Sprintf("%d runs closed neither completed nor ended by the harness (%s)", bad, r.statusText()))
		}
	} else if c := r.completed(); c != r.cfg.runs {
		why = append(why, fmt.Sprintf("%d of %d runs completed (%s)", c, r.cfg.runs, r.statusText()))
	}
	if p := pct(r.lateness(), 0.99); p > benchMaxLatenessP99 {
		why = append(why, fmt.Sprintf("poll lateness p99 %s > %s", secs(p), secs(benchMaxLatenessP99)))
	}
	if r.worker.hwmKB > benchMaxWorkerRSSKB {
		why = append(why, fmt.Sprintf("worker peak RSS %s > 300 MB", mb(r.worker.hwmKB)))
	}
	return why
}

func (r *benchStep) statusText() string {
	t := statusText(r.statuses)
	if r.notClosed > 0 {
		t += fmt.Sprintf(", still open at the limit %d", r.notClosed)
	}
	return t
}

func statusText(statuses map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(statuses)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, statuses[k]))
	}
	if len(parts) == 0 {
		return "none listed"
	}
	return strings.Join(parts, ", ")
}

func (r *benchStep) summaryLine() string {
	return fmt.Sprintf("%d/%d completed, lateness p99 %s, worker %.2f cores avg %s, "+serverName()+" %.2f cores avg %s",
		r.completed(), r.cfg.runs, secs(pct(r.lateness(), 0.99)), r.worker.avg, mb(r.worker.hwmKB), r.server.avg, mb(r.server.hwmKB))
}

func (r *benchStep) qpsFinding() string {
	if r.cfg.qps <= 0 {
		return ""
	}
	dispatch := fmt.Sprintf(" Most calls arriving within any 1 s (sliding, not clock seconds): %d.", r.maxSliding)
	if len(r.over) == 0 {
		return fmt.Sprintf("QPS ceiling %g: the most calls in any one second at the emulator was %d; the ceiling was never exceeded (%d seconds with calls).",
			r.cfg.qps, r.peakPerSecond, r.activeSeconds) + dispatch
	}
	var secsOver []string
	for _, sec := range r.over {
		var acts []string
		for _, a := range slices.Sorted(maps.Keys(sec.Actions)) {
			acts = append(acts, fmt.Sprintf("%s %d", a, sec.Actions[a]))
		}
		secsOver = append(secsOver, fmt.Sprintf("%s %d calls (+%d: %s)", sec.Second.UTC().Format("15:04:05"), sec.Calls, sec.Calls-int(r.cfg.qps), strings.Join(acts, ", ")))
	}
	return fmt.Sprintf("QPS ceiling %g EXCEEDED in %d of %d seconds with calls; most in one second %d (%.0f%% over the ceiling). Seconds over (UTC): %s.",
		r.cfg.qps, len(r.over), r.activeSeconds, r.peakPerSecond, 100*(float64(r.peakPerSecond)/r.cfg.qps-1), strings.Join(secsOver, "; ")) + dispatch
}

func scaleFinding(ceiling, gave *benchStep, stopped string, all []*benchStep) string {
	var b strings.Builder
	switch {
	case ceiling == nil && gave != nil:
		fmt.Fprintf(&b, "Ceiling: below the first step: %s gave.\n", gave.name)
	case ceiling != nil:
		fmt.Fprintf(&b, "Ceiling: %s held (every run completed, lateness p99 %s, worker peak RSS %s).\n",
			ceiling.name, secs(pct(ceiling.lateness(), 0.99)), mb(ceiling.worker.hwmKB))
	}
	if gave != nil {
		fmt.Fprintf(&b, "\n%s gave: %s.\n", gave.name, strings.Join(gave.gave(), "; "))
		fmt.Fprintf(&b, "\nAt %s: worker %.2f cores avg (peak 5 s %.2f), "+serverName()+" %.2f cores avg (peak 5 s %.2f), benchmark process (emulator + harness) %.2f avg; the machine %.2f of %d cores busy avg (peak 5 s %.2f), other processes %.2f. Larger CPU user: %s.\n",
			gave.name, gave.worker.avg, gave.worker.peak5s, gave.server.avg, gave.server.peak5s, gave.self.avg,
			gave.machine.avg, numCPU(), gave.machine.peak5s, math.Max(0, gave.machine.avg-gave.worker.avg-gave.server.avg-gave.self.avg), largerUser(gave))
		fmt.Fprintf(&b, "Lateness p99: after a timer %s (timer fired late %s, fired → workflow task started %s, workflow task started → search scheduled %s, search scheduled → DataWorks call %s), window retries %s; CPU pressure (some) %.1f%%, IO pressure (some / full) %.1f%% / %.1f%%.\n",
			secs(pct(gave.lateTimer, 0.99)), secs(pct(gave.timerLate, 0.99)), secs(pct(gave.wftQueue, 0.99)), secs(pct(gave.wftRun, 0.99)), secs(pct(gave.dispatch, 0.99)),
			secs(pct(gave.lateRetry, 0.99)), gave.psiCPU, gave.psiIOSome, gave.psiIOFull)
	} else if stopped == "" && len(all) > 0 {
		fmt.Fprintf(&b, "\nNo step gave: the ceiling is above %s.\n", all[len(all)-1].name)
	}
	if stopped != "" {
		fmt.Fprintf(&b, "\n%s.\n", stopped)
	}
	return b.String()
}

func largerUser(r *benchStep) string {
	if r.server.avg > r.worker.avg {
		return fmt.Sprintf("the %s (%.2f vs the worker's %.2f cores)", serverName(), r.server.avg, r.worker.avg)
	}
	return fmt.Sprintf("the worker (%.2f vs the %s's %.2f cores)", r.worker.avg, serverName(), r.server.avg)
}

// benchTable renders the steps side by side as a markdown table whose
// columns are padded, so that it reads as text too.
func benchTable(steps []*benchStep) string {
	header := []string{"figure"}
	for _, s := range steps {
		header = append(header, s.name)
	}
	rows := [][]string{header}
	add := func(label string, f func(s *benchStep) string) {
		row := []string{label}
		for _, s := range steps {
			row = append(row, f(s))
		}
		rows = append(rows, row)
	}
	if slices.ContainsFunc(steps, func(s *benchStep) bool { return s.cfg.warmup > 0 || s.cfg.ramp > 0 }) {
		add("warm-up runs before the step: completed of / took", func(s *benchStep) string {
			if s.cfg.warmup == 0 {
				return "-"
			}
			return fmt.Sprintf("%d of %d (%s) / %s", s.warmupCompleted, s.cfg.warmup, s.warmupStatus, secs(s.warmupTook))
		})
		add("starts spread over (ramp)", func(s *benchStep) string { return secs(s.cfg.ramp) })
		add("peak open runs (at, after the first start; samples)", func(s *benchStep) string {
			return fmt.Sprintf("%d (%s; %d)", s.peakOpen, secs(s.peakOpenAt), s.openSamples)
		})
		add("learned: runs logging predicted / without predictions", func(s *benchStep) string {
			return fmt.Sprintf("%d / %d", s.logPredicted, s.logFallback)
		})
		add("learned: histories read whose FlowTimings found runs (runs found mean)", func(s *benchStep) string {
			return fmt.Sprintf("%d of %d (%s)", s.timingsFound, s.timingsLooked, ratio(sum(s.timingsRuns), len(s.timingsRuns), 1))
		})
		add("-task-pollers (workflow, activity each)", func(s *benchStep) string {
			if s.cfg.pollers == 0 {
				return "2 (default)"
			}
			return strconv.Itoa(s.cfg.pollers)
		})
	}
	add("runs started / start errors", func(s *benchStep) string { return fmt.Sprintf("%d / %d", s.started, s.startErrors) })
	add("time to start all (starts/s)", func(s *benchStep) string {
		return fmt.Sprintf("%s (%.0f/s)", secs(s.startDur), float64(s.started)/s.startDur.Seconds())
	})
	add("run outcomes", func(s *benchStep) string { return s.statusText() })
	add("first start → last close", func(s *benchStep) string { return secs(s.wall) })
	add("-dataworks-qps / -max-concurrent-activities", func(s *benchStep) string {
		q := "0 (no limit)"
		if s.cfg.qps > 0 {
			q = strconv.FormatFloat(s.cfg.qps, 'f', -1, 64)
		}
		return fmt.Sprintf("%s / %d", q, s.cfg.maxActivities)
	})
	add("DataWorks calls (not ok)", func(s *benchStep) string { return fmt.Sprintf("%d (%d)", s.calls, s.notOK) })
	add("searches per DAG mean / max", func(s *benchStep) string {
		if len(s.searchesPerDAG) == 0 {
			return "-"
		}
		return fmt.Sprintf("%s / %d", ratio(s.searches, s.cfg.runs, 2), slices.Max(s.searchesPerDAG))
	})
	add("creates per DAG", func(s *benchStep) string { return ratio(s.creates, s.cfg.runs, 3) })
	add("max calls in one second (ceiling)", func(s *benchStep) string {
		if s.cfg.qps > 0 {
			return fmt.Sprintf("%d (%g)", s.peakPerSecond, s.cfg.qps)
		}
		return fmt.Sprintf("%d (none)", s.peakPerSecond)
	})
	add("seconds over the ceiling", func(s *benchStep) string {
		if s.cfg.qps <= 0 {
			return "-"
		}
		return fmt.Sprintf("%d of %d", len(s.over), s.activeSeconds)
	})
	add("max calls within any 1 s (sliding)", func(s *benchStep) string { return strconv.Itoa(s.maxSliding) })
	add("detection delay p50 / p95 / max (DAGs)", func(s *benchStep) string { return p3(s.detection, 0.5, 0.95) })
	add("histories read", func(s *benchStep) string { return strconv.Itoa(s.historiesRead) })
	add("events per run mean / max", func(s *benchStep) string { return meanMax(s.events) })
	add("history bytes per run mean / max", func(s *benchStep) string { return meanMax(s.bytes) })
	add("search activities (windows) per run mean / max", func(s *benchStep) string { return meanMax(s.windows) })
	add("searches (polls) per run read mean / max", func(s *benchStep) string { return meanMax(s.sampledSearches) })
	add("events per poll", func(s *benchStep) string { return ratio(sum(s.events), sum(s.sampledSearches), 2) })
	add("poll lateness, all polls p50 / p99 / max (polls)", func(s *benchStep) string { return p3(s.lateness(), 0.5, 0.99) })
	add("· after a timer p50 / p99 / max", func(s *benchStep) string { return p3(s.lateTimer, 0.5, 0.99) })
	add("  · timer fired late", func(s *benchStep) string { return p3(s.timerLate, 0.5, 0.99) })
	add("  · fired → workflow task started", func(s *benchStep) string { return p3(s.wftQueue, 0.5, 0.99) })
	add("  · workflow task started → search scheduled", func(s *benchStep) string { return p3(s.wftRun, 0.5, 0.99) })
	add("  · search scheduled → DataWorks call", func(s *benchStep) string { return p3(s.dispatch, 0.5, 0.99) })
	add("· window retries p50 / p99 / max", func(s *benchStep) string { return p3(s.lateRetry, 0.5, 0.99) })
	add("worker CPU-s (avg / peak 5 s cores)", func(s *benchStep) string { return cpuText(s.worker) })
	add("worker peak RSS (VmHWM)", func(s *benchStep) string { return mb(s.worker.hwmKB) })
	add(serverName()+" CPU-s (avg / peak 5 s cores)", func(s *benchStep) string { return cpuText(s.server) })
	add(serverName()+" peak RSS (VmHWM)", func(s *benchStep) string { return mb(s.server.hwmKB) })
	if clusterMode() {
		add("PostgreSQL CPU-s (avg / peak 5 s cores)", func(s *benchStep) string { return cpuText(s.db) })
		add("PostgreSQL bytes written (per second)", func(s *benchStep) string {
			return fmt.Sprintf("%.1f MB (%.2f MB/s)", float64(s.db.writes)/(1<<20), float64(s.db.writes)/(1<<20)/math.Max(1, s.db.window))
		})
	}
	add("idle before the runs: worker / "+serverName()+" cores", func(s *benchStep) string {
		return fmt.Sprintf("%.3f / %.3f", s.idleWorker, s.idleServer)
	})
	add("benchmark process (emulator + harness) CPU-s", func(s *benchStep) string { return cpuText(s.self) })
	add("machine busy cores avg / peak 5 s (others avg)", func(s *benchStep) string {
		return fmt.Sprintf("%.2f / %.2f (%.2f)", s.machine.avg, s.machine.peak5s, math.Max(0, s.machine.avg-s.worker.avg-s.server.avg-s.db.avg-s.self.avg))
	})
	add("pressure: CPU some / IO some / IO full", func(s *benchStep) string {
		return fmt.Sprintf("%.1f%% / %.1f%% / %.1f%%", s.psiCPU, s.psiIOSome, s.psiIOFull)
	})
	add("waited for a CPU: "+serverName()+" / worker (s)", func(s *benchStep) string {
		return fmt.Sprintf("%.1f / %.1f", s.server.runq, s.worker.runq)
	})
	add(serverName()+" / worker bytes written", func(s *benchStep) string {
		w := func(n int64) string { return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MB" }
		return fmt.Sprintf("%s / %s", w(s.server.writes), w(s.worker.writes))
	})
	add("load avg before → after", func(s *benchStep) string { return s.loadBefore + " → " + s.loadAfter })
	add("peak slots used: activity / workflow task", func(s *benchStep) string {
		return fmt.Sprintf("%d of %d / %d of 1000", s.slotsActivity, s.cfg.maxActivities, s.slotsWorkflow)
	})
	add("verdict", func(s *benchStep) string {
		if s.cfg.qps > 0 && s.cfg.flow == nil { // the QPS step; the fleet's cap is its account's quota
			return "- (rate-limited on purpose)"
		}
		if why := s.gave(); len(why) > 0 {
			return "gave: " + strings.Join(why, "; ")
		}
		return "held"
	})
	add("step time (with setup, teardown)", func(s *benchStep) string { return secs(s.total) })

	widths := make([]int, len(header))
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	line := func(row []string) {
		b.WriteString("|")
		for i, c := range row {
			b.WriteString(" " + c + strings.Repeat(" ", widths[i]-len([]rune(c))) + " |")
		}
		b.WriteString("\n")
	}
	line(rows[0])
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = strings.Repeat("-", widths[i])
	}
	line(sep)
	for _, row := range rows[1:] {
		line(row)
	}
	return b.String()
}

func sum(v []int) int {
	t := 0
	for _, x := range v {
		t += x
	}
	return t
}

func ratio(a, b, prec int) string {
	if b == 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(a)/float64(b), 'f', prec, 64)
}

func meanMax(v []int) string {
	if len(v) == 0 {
		return "-"
	}
	return fmt.Sprintf("%s / %d", ratio(sum(v), len(v), 1), slices.Max(v))
}

// pct is the nearest-rank percentile; 0 for no values.
func pct(v []time.Duration, p float64) time.Duration {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func p3(v []time.Duration, a, b float64) string {
	if len(v) == 0 {
		return "-"
	}
	return fmt.Sprintf("%s / %s / %s (%d)", secs(pct(v, a)), secs(pct(v, b)), secs(slices.Max(v)), len(v))
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + " s" }

func mb(kb int64) string {
	if kb <= 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(kb)/1024, 'f', 1, 64) + " MB"
}

// serverName names the Temporal server the benchmarks ran on.
func serverName() string {
	if clusterMode() {
		return "Temporal server"
	}
	return "dev server"
}

// serverText describes it for the benchmarks' method paragraphs.
func serverText(db string) string {
	if clusterMode() {
		return "a fresh Temporal server v" + strings.TrimPrefix(filepath.Base(filepath.Dir(os.Getenv("MANUALDAG_TEMPORAL_SERVER"))), "temporal-server-v") +
			" (`make cluster`'s configuration, deployments/temporal/cluster.yaml) on a PostgreSQL of its own (MANUALDAG_E2E_SERVER=cluster)"
	}
	return "a fresh Temporal dev server (`temporal server start-dev`, " + db + ")"
}

func cpuText(p procFigures) string { return fmt.Sprintf("%.2f (%.2f / %.2f)", p.cpu, p.avg, p.peak5s) }

// sampler reads the CPU time of some processes and of the machine, and the
// worker's task slots in use, every second.
type sampler struct {
	pids    []int
	dbPid   int      // in cluster mode, PostgreSQL's postmaster: sampled with its children; 0: none
	metrics []string // the workers' /metrics
	done    chan struct{}
	out     chan *samples
}

type samples struct {
	at            []time.Time
	cpu           [][]float64 // per sample, per pid, seconds
	writes        [][]int64   // per sample, per pid, write_bytes
	runq          [][]float64 // per sample, per pid, run-queue wait (s)
	psi           [][3]int64  // per sample: cpu some, io some, io full (µs)
	dbCPU         []float64   // per sample: PostgreSQL's process tree, seconds
	dbWrites      []int64     // per sample: PostgreSQL's process tree, write_bytes
	busy, total   []float64   // machine, in ticks
	slotsActivity int
	slotsWorkflow int
}

func startSampler(pids []int, dbPid int, metricsURLs []string) *sampler {
	s := &sampler{pids: pids, dbPid: dbPid, metrics: metricsURLs, done: make(chan struct{}), out: make(chan *samples, 1)}
	go s.loop()
	return s
}

func (s *sampler) loop() {
	res := &samples{}
	hc := &http.Client{Timeout: 900 * time.Millisecond}
	take := func() {
		var cpus []float64
		var writes []int64
		var runq []float64
		for _, pid := range s.pids {
			cpus = append(cpus, procCPU(pid))
			writes = append(writes, procWriteBytes(pid))
			runq = append(runq, procRunQueueWait(pid))
		}
		res.writes = append(res.writes, writes)
		res.runq = append(res.runq, runq)
		res.psi = append(res.psi, psiTotals())
		if s.dbPid != 0 {
			cpu, w := procTreeCPUWrites(s.dbPid)
			res.dbCPU, res.dbWrites = append(res.dbCPU, cpu), append(res.dbWrites, w)
		}
		busy, total := machineCPU()
		res.at = append(res.at, time.Now())
		res.cpu = append(res.cpu, cpus)
		res.busy, res.total = append(res.busy, busy), append(res.total, total)
		// Slots in use across the workers at this moment.
		act, wf := 0, 0
		for _, u := range s.metrics {
			a, w := scrapeSlots(hc, u)
			act, wf = act+a, wf+w
		}
		res.slotsActivity, res.slotsWorkflow = max(res.slotsActivity, act), max(res.slotsWorkflow, wf)
	}
	take()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			take()
			s.out <- res
			return
		case <-t.C:
			take()
		}
	}
}

func (s *sampler) stop() *samples {
	close(s.done)
	return <-s.out
}

// figures of the pids at idx, summed: CPU seconds over the window,
// average and peak over any 5 s in cores, bytes written, run-queue wait.
func (r *samples) figures(idx ...int) procFigures {
	n := len(r.at)
	if n < 2 {
		return procFigures{}
	}
	cpu := func(j int) float64 {
		t := 0.0
		for _, i := range idx {
			t += r.cpu[j][i]
		}
		return t
	}
	var f procFigures
	for _, i := range idx {
		f.writes += r.writes[n-1][i] - r.writes[0][i]
		f.runq += r.runq[n-1][i] - r.runq[0][i]
	}
	f.cpu = cpu(n-1) - cpu(0)
	f.avg = f.cpu / r.at[n-1].Sub(r.at[0]).Seconds()
	for j := 0; j+5 < n; j++ {
		f.peak5s = math.Max(f.peak5s, (cpu(j+5)-cpu(j))/r.at[j+5].Sub(r.at[j]).Seconds())
	}
	return f
}

// dbFigures are PostgreSQL's (cluster mode): its process tree's CPU and
// bytes written over the window; zero without a database process.
func (r *samples) dbFigures() procFigures {
	n := len(r.dbCPU)
	if n < 2 {
		return procFigures{}
	}
	f := procFigures{cpu: r.dbCPU[n-1] - r.dbCPU[0], writes: r.dbWrites[n-1] - r.dbWrites[0], window: r.at[n-1].Sub(r.at[0]).Seconds()}
	f.avg = f.cpu / f.window
	for j := 0; j+5 < n; j++ {
		f.peak5s = math.Max(f.peak5s, (r.dbCPU[j+5]-r.dbCPU[j])/r.at[j+5].Sub(r.at[j]).Seconds())
	}
	return f
}

// pressure is the share of the window (%) with some task stalled on CPU,
// some on IO, and all on IO (PSI).
func (r *samples) pressure() (cpu, ioSome, ioFull float64) {
	n := len(r.at)
	if n < 2 {
		return 0, 0, 0
	}
	us := float64(r.at[n-1].Sub(r.at[0]).Microseconds())
	d := func(k int) float64 { return 100 * float64(r.psi[n-1][k]-r.psi[0][k]) / us }
	return d(0), d(1), d(2)
}

// machineFigures is the machine's busy time in cores (from /proc/stat).
func (r *samples) machineFigures() procFigures {
	n := len(r.at)
	if n < 2 {
		return procFigures{}
	}
	cores := float64(numCPU())
	busyCores := func(a, b int) float64 {
		if r.total[b] == r.total[a] {
			return 0
		}
		return cores * (r.busy[b] - r.busy[a]) / (r.total[b] - r.total[a])
	}
	f := procFigures{avg: busyCores(0, n-1)}
	f.cpu = f.avg * r.at[n-1].Sub(r.at[0]).Seconds()
	for j := 0; j+5 < n; j++ {
		f.peak5s = math.Max(f.peak5s, busyCores(j, j+5))
	}
	return f
}

// clockTicks is USER_HZ, 100 on every Linux the project runs on.
const clockTicks = 100

// procCPU is utime+stime of a process in seconds (0 if unreadable).
func procCPU(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The fields after the command name, which may hold spaces: state is
	// field 3, utime 14, stime 15.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks
}

// procTreeCPUWrites is PostgreSQL's CPU seconds and bytes written: the
// postmaster's own and its reaped children's CPU (cutime, cstime), plus
// each live child's (the backends of Temporal's connections, the WAL
// writer, the checkpointer) CPU and write_bytes. A child that exits between
// two samples moves its CPU into the parent's cutime; its bytes are lost,
// which the long-lived writers make small.
func procTreeCPUWrites(pid int) (float64, int64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 15 {
		return 0, 0
	}
	ticks := 0.0
	for _, i := range []int{11, 12, 13, 14} { // utime, stime, cutime, cstime
		v, _ := strconv.ParseFloat(f[i], 64)
		ticks += v
	}
	cpu, writes := ticks/clockTicks, procWriteBytes(pid)
	kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	for _, k := range strings.Fields(string(kids)) {
		if c, err := strconv.Atoi(k); err == nil {
			cpu += procCPU(c)
			writes += procWriteBytes(c)
		}
	}
	return cpu, writes
}

// procRunQueueWait is the time (s) the threads of a process have spent
// runnable but waiting for a CPU: the second field of each thread's
// /proc/<pid>/task/<tid>/schedstat (threads that exited are not counted).
func procRunQueueWait(pid int) float64 {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var ns float64
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) >= 2 {
			v, _ := strconv.ParseFloat(f[1], 64)
			ns += v
		}
	}
	return ns / 1e9
}

// procWriteBytes is write_bytes of /proc/<pid>/io, 0 if unreadable.
func procWriteBytes(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "write_bytes:"); ok {
			v, _ := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			return v
		}
	}
	return 0
}

// psiTotals reads the stall totals (µs) of /proc/pressure: CPU some, IO
// some, IO full; zeros where the kernel has no PSI.
func psiTotals() [3]int64 {
	var out [3]int64
	read := func(file, kind string) int64 {
		b, err := os.ReadFile("/proc/pressure/" + file)
		if err != nil {
			return 0
		}
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(line, kind+" ") {
				continue
			}
			for _, f := range strings.Fields(line) {
				if v, ok := strings.CutPrefix(f, "total="); ok {
					n, _ := strconv.ParseInt(v, 10, 64)
					return n
				}
			}
		}
		return 0
	}
	out[0], out[1], out[2] = read("cpu", "some"), read("io", "some"), read("io", "full")
	return out
}

// procHWM is VmHWM (peak RSS) in kB, 0 if unreadable.
func procHWM(pid int) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			v, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return v
		}
	}
	return 0
}

// machineCPU is the busy and total ticks of all CPUs (/proc/stat).
func machineCPU() (busy, total float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0
	}
	// user nice system idle iowait irq softirq steal (guest is in user).
	var v []float64
	for _, x := range f[1:9] {
		n, _ := strconv.ParseFloat(x, 64)
		v = append(v, n)
	}
	for _, n := range v {
		total += n
	}
	return total - v[3] - v[4], total
}

func numCPU() int {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "cpu") && len(line) > 3 && line[3] >= '0' && line[3] <= '9' {
			n++
		}
	}
	return n
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// scrapeSlots reads the worker's task slots in use from its /metrics
// (the SDK's temporal_worker_task_slots_used gauge).
func scrapeSlots(hc *http.Client, url string) (activity, workflow int) {
	resp, err := hc.Get(url)
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "temporal_worker_task_slots_used{") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			continue
		}
		switch {
		case strings.Contains(line, `worker_type="ActivityWorker"`):
			activity = max(activity, int(v))
		case strings.Contains(line, `worker_type="WorkflowWorker"`):
			workflow = max(workflow, int(v))
		}
	}
	return activity, workflow
}
