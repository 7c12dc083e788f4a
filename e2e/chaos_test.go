//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/internal/emulator"
	"github.com/manualdag/manualdag/workflows"
)

// TestChaos runs the fault suites of docs/reliability.md against real
// processes: Temporal dev servers (or, in cluster mode, Temporal servers on
// PostgreSQL: cluster_test.go), worker binaries (built with -race), and
// emulators over signed HTTP. Each suite has an emulator of its own, so that
// faults, quotas and call counts are its own, and its own task queues; they
// share one server, except the suites that restart one or stop its
// database.
//
// `make test` runs the short variant (a few trials per suite). `make chaos`
// sets MANUALDAG_CHAOS=full for the full one and MANUALDAG_CHAOS_TABLE to a
// file that receives the figure table. MANUALDAG_CHAOS_SEED repeats a run's
// random choices (kill moments, fault draws); the seed is logged and printed
// in the table.
func TestChaos(t *testing.T) {
	c := newChaos(t)
	c.scan = &figureRow{suite: "8 secret scan"}
	c.shared = startTemporal(t)
	c.sharedClient = c.shared.Client(t)
	t.Run("suites", func(t *testing.T) {
		t.Run("WorkerKilled", c.suiteWorkerKilled)
		t.Run("ServerRestart", c.suiteServerRestart)
		t.Run("PostgresOutage", c.suitePostgresOutage)
		t.Run("APIFaults", c.suiteAPIFaults)
		t.Run("AmbiguousCreate", c.suiteAmbiguousCreate)
		t.Run("BadCredentials", c.suiteBadCredentials)
		t.Run("DailyQuota", c.suiteDailyQuota)
		t.Run("GracefulStop", c.suiteGracefulStop)
		t.Run("VerdictFaults", c.suiteVerdictFaults)
		t.Run("CredentialsNotInInput", c.testCredentialsNotInInput)
	})
	c.scanHistories(t, c.sharedClient)
	c.scanOutputs(t)
	c.rows = append(c.rows, c.scan)
	c.scan.note = "trials = workflow histories (payloads decoded) and process logs searched for every AccessKey secret used"
	table := c.table()
	t.Log("\n" + table)
	if path := os.Getenv("MANUALDAG_CHAOS_TABLE"); path != "" {
		require.NoError(t, os.WriteFile(path, []byte(table), 0o644))
	}
	for _, r := range c.rows {
		if r.lost+r.duplicates+r.panics+r.leaks > 0 {
			t.Errorf("%s: runs lost %d, duplicate creates %d, panics %d, leaked secrets %d: all must be 0", r.suite, r.lost, r.duplicates, r.panics, r.leaks)
		}
	}
}

// chaos holds what the suites share and the figures they produce.
type chaos struct {
	full bool
	seed uint64

	shared       *temporalServer
	sharedClient client.Client

	mu      sync.Mutex
	rows    []*figureRow
	secrets []string
	procs   []*process // every worker started, for the panic and secret scans
	owner   map[*process]*figureRow
	killed  map[*process]bool // stopped or killed on purpose
	emuLogs []*syncBuffer
	notes   []string
	// scan is the row of the secret scan over every history and log.
	scan *figureRow
}

// figureRow is one line of the figure table.
type figureRow struct {
	suite      string
	trials     int
	faults     int
	correct    int
	unknown    int // ended TriggerOutcomeUnknown (with the create count as noted)
	lost       int // neither correct nor a clear TriggerOutcomeUnknown
	duplicates int // runs whose bizdate saw more than one create
	panics     int // panic / data race lines, or a worker that died unasked
	leaks      int
	note       string
}

func newChaos(t *testing.T) *chaos {
	c := &chaos{full: os.Getenv("MANUALDAG_CHAOS") == "full", owner: map[*process]*figureRow{}, killed: map[*process]bool{}}
	c.seed = uint64(time.Now().UnixNano())
	if s := os.Getenv("MANUALDAG_CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "MANUALDAG_CHAOS_SEED")
		c.seed = v
	}
	t.Logf("chaos seed %d (repeat with MANUALDAG_CHAOS_SEED=%d), full=%v", c.seed, c.seed, c.full)
	return c
}

// n picks the trial count of the variant.
func (c *chaos) n(short, full int) int {
	if c.full {
		return full
	}
	return short
}

func (c *chaos) row(suite string) *figureRow {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := &figureRow{suite: suite}
	c.rows = append(c.rows, r)
	return r
}

// add updates a row under the lock (trials run in parallel).
func (c *chaos) add(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f()
}

func (c *chaos) rng(stream uint64) *rand.Rand { return rand.New(rand.NewPCG(c.seed, stream)) }

// suiteStack is a stack (stack_test.go) with an emulator of its own on the
// given dev server, and no worker yet.
func (c *chaos) suiteStack(t *testing.T, ts *temporalServer, tsClient client.Client, timeScale float64, mutate func(*emulator.Options)) *stack {
	t.Helper()
	s := &stack{temporal: ts, client: tsClient, emuLog: &syncBuffer{}, recorded: map[string]string{},
		secret: "chaos-secret-marker-" + randomHex(t)}
	def := emulator.SampleDefinition()
	opts := emulator.Options{
		Definition:   def,
		Credentials:  map[string]emulator.Key{accessKeyID: {Secret: s.secret}},
		TimeScale:    timeScale,
		Seed:         int64(c.seed & (1<<62 - 1)),
		EmptyListFor: 300 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(s.emuLog, nil)),
	}
	if mutate != nil {
		mutate(&opts)
	}
	var err error
	s.emu, err = emulator.New(opts)
	require.NoError(t, err)
	srv := httptest.NewServer(s.emu)
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	s.endpoint = u.Host
	c.add(func() {
		for _, k := range opts.Credentials {
			c.secrets = append(c.secrets, k.Secret)
		}
		c.emuLogs = append(c.emuLogs, s.emuLog)
	})
	return s
}

// worker starts a worker for row on queue and keeps it for the scans.
func (c *chaos) worker(t *testing.T, s *stack, r *figureRow, queue string, extra ...string) *process {
	t.Helper()
	// Many workers run at once: none serves metrics on the default port.
	w := s.startWorker(t, queue, append([]string{"MANUALDAG_METRICS_ADDRESS=off"}, extra...)...)
	c.add(func() { c.procs = append(c.procs, w); c.owner[w] = r })
	return w
}

// kill SIGKILLs a worker on purpose.
func (c *chaos) kill(w *process) {
	c.add(func() { c.killed[w] = true })
	w.kill()
}

// stopWorker stops a worker on purpose (SIGINT, as the harness does).
func (c *chaos) stopWorker(t *testing.T, w *process) {
	c.add(func() { c.killed[w] = true })
	w.stop(t)
}

// chaosInput is a run of flow on bizdate with poll settings fit for the
// emulator's time scale.
func chaosInput(flow, bizdate string) workflows.RunManualDagInput {
	return workflows.RunManualDagInput{
		ProjectName:  project,
		FlowName:     flow,
		Bizdate:      bizdate,
		Poll:         workflows.PollOptions{InitialInterval: dag.Duration(time.Second), MaxInterval: dag.Duration(3 * time.Second)},
		BlockedGrace: dag.Duration(5 * time.Second),
		ListSettle:   fastSettle,
		Timeout:      dag.Duration(time.Hour),
	}
}

// bizdateN is the n-th bizdate: every run of an emulator has its own, so
// that the emulator's create count per bizdate is the run's. The suites
// share one Temporal server, and RunManualDag refuses to trigger a bizdate
// another run of it may have left a DAG for (the re-trigger rule), so each
// suite counts from a base of its own (0, 1000, 2000, …).
func bizdateN(n int) string {
	return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n).Format(time.DateOnly)
}

func (c *chaos) start(t *testing.T, s *stack, id, queue string, in workflows.RunManualDagInput) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := s.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.WorkflowName, in)
	require.NoError(t, err, "start %s", id)
}

// finished waits until the workflow is closed, riding out a Temporal
// server that is away for a while, and returns its report and error.
func finished(t *testing.T, c client.Client, id string, timeout time.Duration) (dag.DagReport, error) {
	t.Helper()
	waitFor(t, timeout, "workflow "+id+" closes", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d, err := c.DescribeWorkflow(ctx, id, "")
		return err == nil && d.RawResponse.GetWorkflowExecutionInfo().GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING
	}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var rep dag.DagReport
	err := c.GetWorkflow(ctx, id, "").Get(ctx, &rep)
	if err != nil {
		rep, _ = workflows.ReportFromError(err)
	}
	return rep, err
}

func errType(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Type()
	}
	if err != nil {
		return fmt.Sprintf("%T", err)
	}
	return ""
}

// shape is what a report says about the DAG, without ids, times and poll
// counts: two runs of one flow must have the same shape.
func shape(rep dag.DagReport) string {
	var nodes []string
	for _, n := range rep.Nodes {
		nodes = append(nodes, n.Name+"="+string(n.Status))
	}
	slices.Sort(nodes)
	sorted := func(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }
	return fmt.Sprintf("%s nodes=%v failed=%v blocked=%v unfinished=%v", rep.Outcome, nodes,
		sorted(rep.FailedNodes), sorted(rep.BlockedNodes), sorted(rep.UnfinishedNodes))
}

// expectedShape is the report of a fault-free run of the sample flows.
var expectedShape = map[string]string{
	flowOK: fmt.Sprintf("%s nodes=%v failed=[] blocked=[] unfinished=[]", dag.OutcomeSucceeded,
		[]string{"ads_sales_report=SUCCESS", "dwd_customers_clean=SUCCESS", "dwd_orders_clean=SUCCESS", "dws_sales_daily=SUCCESS",
			"ods_customers_sync=SUCCESS", "ods_orders_sync=SUCCESS", "start_daily_sales=SUCCESS"}),
	flowBroken: fmt.Sprintf("%s nodes=%v failed=[dwd_orders_merge] blocked=[ads_sales_report dws_sales_daily] unfinished=[]", dag.OutcomeFailed,
		[]string{"ads_sales_report=NOT_RUN", "dwd_customers_clean=SUCCESS", "dwd_orders_merge=FAILURE", "dws_sales_daily=NOT_RUN",
			"ods_customers_sync=SUCCESS", "ods_orders_sync=SUCCESS", "start_daily_sales=SUCCESS"}),
}

// verdict classifies a finished run: correct (the expected report, from the
// one DAG created), unknown (TriggerOutcomeUnknown; creates says how many
// DAGs the emulator made for it), or lost; and whether a second DAG was
// created.
type verdict struct {
	correct, unknown, lost, duplicate bool
	creates                           int
	why                               string
}

func (c *chaos) judge(s *stack, flow, bizdate string, rep dag.DagReport, err error) verdict {
	ids := s.emu.CreatedDAGs(project, flow, bizdate)
	v := verdict{creates: len(ids), duplicate: len(ids) > 1}
	wantFailure := flow == flowBroken
	switch {
	case errType(err) == dag.ErrTriggerOutcomeUnknown && len(ids) <= 1:
		v.unknown = true
		v.why = fmt.Sprintf("TriggerOutcomeUnknown, %d create(s)", len(ids))
	case len(ids) != 1:
		v.lost, v.why = true, fmt.Sprintf("%d creates; error %v", len(ids), err)
	case rep.DagID != ids[0]:
		v.lost, v.why = true, fmt.Sprintf("report names DAG %d, the emulator created %d; error %v", rep.DagID, ids[0], err)
	case shape(rep) != expectedShape[flow]:
		v.lost, v.why = true, fmt.Sprintf("report %s, want %s; error %v", shape(rep), expectedShape[flow], err)
	case wantFailure && errType(err) != dag.ErrDagFailed, !wantFailure && err != nil:
		v.lost, v.why = true, fmt.Sprintf("error %v", err)
	default:
		v.correct = true
	}
	return v
}

func (c *chaos) count(r *figureRow, v verdict) {
	c.add(func() {
		r.trials++
		switch {
		case v.correct:
			r.correct++
		case v.unknown:
			r.unknown++
		default:
			r.lost++
		}
		if v.duplicate {
			r.duplicates++
		}
	})
}

// closed reports whether the workflow has ended.
func closed(s *stack, id string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := s.client.DescribeWorkflow(ctx, id, "")
	return err == nil && d.RawResponse.GetWorkflowExecutionInfo().GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING
}

// pendingPhase says what the workflow is doing, from its pending activities:
// "create", "poll" (a search started), "between polls", or "after the end".
func pendingPhase(s *stack, id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := s.client.DescribeWorkflow(ctx, id, "")
	if err != nil {
		return "unknown"
	}
	if d.RawResponse.GetWorkflowExecutionInfo().GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return "after the end"
	}
	for _, pa := range d.RawResponse.GetPendingActivities() {
		started := pa.GetState() == enums.PENDING_ACTIVITY_STATE_STARTED
		switch name := pa.GetActivityType().GetName(); {
		case name == "CreateManualDag":
			if started {
				return "create"
			}
			return "before create"
		case name == "SearchManualDagNodeInstance" && started:
			return "poll"
		}
	}
	return "between polls"
}

// inParallel runs n trials, at most width at a time, each as a subtest.
func inParallel(t *testing.T, n, width int, trial func(t *testing.T, i int)) {
	sem := make(chan struct{}, width)
	t.Run("trials", func(t *testing.T) {
		for i := range n {
			t.Run(strconv.Itoa(i), func(t *testing.T) {
				t.Parallel()
				sem <- struct{}{}
				defer func() { <-sem }()
				trial(t, i)
			})
		}
	})
}

// (1) Worker SIGKILLed at a random moment: during the create (the create
// has 2 s of added latency after DataWorks processed it, so the kill often
// falls between the send and the reply), during a poll (searches have 1 s
// of latency), or between polls; then a new worker. Each run must end with
// the right report and one create, or with TriggerOutcomeUnknown and still
// at most one create.
func (c *chaos) suiteWorkerKilled(t *testing.T) {
	t.Parallel()
	r := c.row("1 worker SIGKILL")
	// Half the usual speed: the sample flow runs about 25 s, time for
	// several polls even on a loaded machine.
	s := c.suiteStack(t, c.shared, c.sharedClient, timeScale/2, func(o *emulator.Options) {
		o.Faults = map[string]emulator.Faults{
			"CreateManualDag":             {Latency: 2 * time.Second},
			"SearchManualDagNodeInstance": {Latency: time.Second},
		}
	})
	targets := []string{"create", "poll", "between polls"}
	phases := map[string]int{}
	inParallel(t, c.n(3, 24), c.n(3, 6), func(t *testing.T, i int) {
		rng := c.rng(1000 + uint64(i))
		target := targets[i%len(targets)]
		queue := fmt.Sprintf("chaos-kill-%d", i)
		id := fmt.Sprintf("chaos/kill/%d", i)
		bizdate := bizdateN(i)
		w := c.worker(t, s, r, queue)
		c.start(t, s, id, queue, chaosInput(flowOK, bizdate))
		switch target {
		case "create":
			// From the start: the worker takes the task, records its intent,
			// sends; DataWorks creates at once and replies 2 s later.
			time.Sleep(time.Duration(rng.Int64N(int64(2600 * time.Millisecond))))
		default:
			// On a loaded machine a run may finish before the moment comes:
			// then the kill falls after the end, and the phase says so.
			polls := 1 + rng.IntN(2)
			waitFor(t, 2*time.Minute, "the watch has polled", func() bool {
				rep, err := s.query(id)
				return err == nil && rep.Polls >= polls || closed(s, id)
			}, nil)
			if target == "poll" {
				waitFor(t, time.Minute, "a search in flight", func() bool { return pendingPhase(s, id) == "poll" || closed(s, id) }, nil)
				time.Sleep(time.Duration(rng.Int64N(int64(700 * time.Millisecond))))
			} else {
				waitFor(t, time.Minute, "between polls", func() bool { return pendingPhase(s, id) == "between polls" || closed(s, id) }, nil)
				time.Sleep(time.Duration(rng.Int64N(int64(500 * time.Millisecond))))
			}
		}
		phase := pendingPhase(s, id)
		c.kill(w)
		t.Logf("trial %d: target %s, killed %s", i, target, phase)
		time.Sleep(time.Duration(rng.Int64N(int64(2 * time.Second))))
		w2 := c.worker(t, s, r, queue)
		rep, err := finished(t, s.client, id, 4*time.Minute)
		v := c.judge(s, flowOK, bizdate, rep, err)
		if v.lost || v.duplicate {
			t.Errorf("trial %d (killed %s): %s", i, phase, v.why)
		}
		if w2.exited() {
			c.add(func() { r.panics++ })
			t.Errorf("the restarted worker died:\n%s", w2.output())
		}
		c.stopWorker(t, w2)
		c.count(r, v)
		c.add(func() {
			r.faults++
			key := phase + ": completed"
			if v.unknown {
				key = fmt.Sprintf("%s: TriggerOutcomeUnknown with %d create", phase, v.creates)
			}
			phases[key]++
		})
	})
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(phases)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, phases[k]))
	}
	r.note = "kills by moment: " + strings.Join(parts, "; ")
}

// (2) The Temporal server restarted (same database) while runs
// are being watched, and in the full variant once more by SIGKILL while
// triggers are in flight: every run completes with its report and one
// create.
func (c *chaos) suiteServerRestart(t *testing.T) {
	t.Parallel()
	r := c.row("2 Temporal restart")
	ts := startTemporal(t)
	tc := ts.Client(t)
	s := c.suiteStack(t, ts, tc, timeScale, func(o *emulator.Options) {
		o.Faults = map[string]emulator.Faults{"CreateManualDag": {Latency: 500 * time.Millisecond}}
	})
	const queue = "chaos-restart"
	w := c.worker(t, s, r, queue)
	rng := c.rng(2000)
	runs := c.n(2, 6)
	flow := func(i int) string { return []string{flowOK, flowBroken}[i%2] }
	startRuns := func(from, to int) {
		for i := from; i < to; i++ {
			c.start(t, s, fmt.Sprintf("chaos/restart/%d", i), queue, chaosInput(flow(i), bizdateN(1000+i)))
		}
	}
	startRuns(0, runs)
	waitFor(t, 2*time.Minute, "every run is watching its DAG", func() bool {
		for i := range runs {
			if rep, err := s.query(fmt.Sprintf("chaos/restart/%d", i)); err != nil || rep.Polls == 0 {
				return false
			}
		}
		return true
	}, nil)
	time.Sleep(time.Duration(rng.Int64N(int64(2 * time.Second))))
	ts.Restart(t)
	r.faults++
	if c.full {
		// A crash of the server while triggers are in flight.
		startRuns(runs, 2*runs)
		time.Sleep(time.Duration(rng.Int64N(int64(time.Second))))
		ts.proc.kill()
		ts.start(t)
		r.faults++
		runs *= 2
	}
	for i := range runs {
		id := fmt.Sprintf("chaos/restart/%d", i)
		rep, err := finished(t, tc, id, 4*time.Minute)
		v := c.judge(s, flow(i), bizdateN(1000+i), rep, err)
		if !v.correct {
			t.Errorf("%s: %s", id, v.why)
		}
		c.count(r, v)
	}
	if w.exited() {
		r.panics++
		t.Errorf("the worker died while Temporal restarted:\n%s", w.output())
	}
	c.scanHistories(t, tc)
	c.stopWorker(t, w)
	server := "dev server"
	if clusterMode() {
		server = "Temporal server (PostgreSQL)"
	}
	r.note = fmt.Sprintf("%d restart(s) of the %s (graceful%s); the worker reconnected by itself", r.faults, server, map[bool]string{true: ", then SIGKILL during triggers", false: ""}[c.full])
}

// (2b) Cluster mode only (MANUALDAG_E2E_SERVER=cluster): the server's
// PostgreSQL goes away while runs are being watched, by an immediate
// shutdown (every connection cut, as in a crash of the database), and comes
// back after a while with crash recovery. The Temporal server and the
// worker stay up and must ride it out: every run completes with its report
// and one create.
func (c *chaos) suitePostgresOutage(t *testing.T) {
	t.Parallel()
	if !clusterMode() {
		t.Skip("the dev server has no database process: MANUALDAG_E2E_SERVER=cluster (make test-cluster) runs this suite")
	}
	r := c.row("2b PostgreSQL outage")
	ts := startTemporal(t)
	tc := ts.Client(t)
	s := c.suiteStack(t, ts, tc, timeScale, nil)
	const queue = "chaos-pg-outage"
	w := c.worker(t, s, r, queue)
	runs := c.n(2, 6)
	outage := time.Duration(c.n(10, 30)) * time.Second
	flow := func(i int) string { return []string{flowOK, flowBroken}[i%2] }
	for i := range runs {
		c.start(t, s, fmt.Sprintf("chaos/pg-outage/%d", i), queue, chaosInput(flow(i), bizdateN(8000+i)))
	}
	waitFor(t, 2*time.Minute, "every run is watching its DAG", func() bool {
		for i := range runs {
			if rep, err := s.query(fmt.Sprintf("chaos/pg-outage/%d", i)); err != nil || rep.Polls == 0 {
				return false
			}
		}
		return true
	}, nil)
	ts.cluster.db.crash(t)
	time.Sleep(outage)
	ts.cluster.db.start(t)
	r.faults++
	for i := range runs {
		id := fmt.Sprintf("chaos/pg-outage/%d", i)
		rep, err := finished(t, tc, id, 5*time.Minute)
		v := c.judge(s, flow(i), bizdateN(8000+i), rep, err)
		if !v.correct {
			t.Errorf("%s: %s", id, v.why)
		}
		c.count(r, v)
	}
	if w.exited() {
		r.panics++
		t.Errorf("the worker died during the database outage:\n%s", w.output())
	}
	if ts.proc.exited() {
		t.Errorf("the Temporal server died during the database outage:\n%s", ts.proc.output())
	}
	c.scanHistories(t, tc)
	c.stopWorker(t, w)
	r.note = fmt.Sprintf("PostgreSQL stopped (immediate shutdown) for %s under the Temporal server while runs polled; server and worker stayed up", outage)
}

// (3) API faults: 30% throttling, 10% 5xx and 2 s latency on searches;
// 30% throttling and 10% 5xx on creates. A throttled create is retried (it
// was refused before processing); a 5xx create is never resent (DataWorks
// may have acted on it): that run ends TriggerOutcomeUnknown, which is
// counted, with the emulator's proof that no DAG was made for it. Every
// other run must report exactly what a fault-free run reports, and the
// calls per second at the emulator stay low (no retry storm).
func (c *chaos) suiteAPIFaults(t *testing.T) {
	t.Parallel()
	r := c.row("3 API faults")
	s := c.suiteStack(t, c.shared, c.sharedClient, timeScale, nil)
	const queue = "chaos-faults"
	c.worker(t, s, r, queue)

	// The fault-free reports the faulty runs are compared with.
	baseline := []string{flowOK, flowBroken}
	for i, flow := range baseline {
		c.start(t, s, fmt.Sprintf("chaos/faults/baseline-%d", i), queue, chaosInput(flow, bizdateN(2000+100+i)))
	}
	for i, flow := range baseline {
		rep, err := finished(t, s.client, fmt.Sprintf("chaos/faults/baseline-%d", i), 3*time.Minute)
		require.Equal(t, expectedShape[flow], shape(rep), "fault-free %s: %v", flow, err)
	}
	s.emu.ResetStats()
	s.emu.SetFaults("SearchManualDagNodeInstance", emulator.Faults{ThrottleRate: 0.3, ServerErrorRate: 0.1, Latency: 2 * time.Second})
	s.emu.SetFaults("CreateManualDag", emulator.Faults{ThrottleRate: 0.3, ServerErrorRate: 0.1})
	runs := c.n(2, 10)
	began := time.Now()
	inParallel(t, runs, runs, func(t *testing.T, i int) {
		flow := []string{flowOK, flowBroken}[i%2]
		id := fmt.Sprintf("chaos/faults/%d", i)
		c.start(t, s, id, queue, chaosInput(flow, bizdateN(2000+i)))
		rep, err := finished(t, s.client, id, 6*time.Minute)
		v := c.judge(s, flow, bizdateN(2000+i), rep, err)
		if v.unknown && v.creates != 0 {
			t.Errorf("%s: TriggerOutcomeUnknown after a 5xx, but the emulator made a DAG: the 5xx is answered before processing", id)
		}
		if v.lost || v.duplicate {
			t.Errorf("%s: %s", id, v.why)
		}
		c.count(r, v)
	})
	st := s.emu.Stats()
	for _, a := range st.Calls {
		for outcome, n := range a.Outcomes {
			if outcome != emulator.OutcomeOK && outcome != emulator.OutcomeDropped {
				r.faults += n
			}
		}
	}
	creates5xx := st.Calls["CreateManualDag"].Outcomes["ServiceUnavailable"] + st.Calls["CreateManualDag"].Outcomes["InternalError.System"]
	perRunPerMinute := float64(st.Total) / float64(runs) / time.Since(began).Minutes()
	r.note = fmt.Sprintf("%d calls (%d creates answered 5xx), peak %d calls/s at the emulator for %d concurrent runs, %.1f calls per run-minute; a 5xx create ends TriggerOutcomeUnknown by design",
		st.Total, creates5xx, st.PeakPerSecond, runs, perRunPerMinute)
	if st.PeakPerSecond > 2*runs+2 {
		t.Errorf("retry storm: %d calls in one second for %d runs", st.PeakPerSecond, runs)
	}
	if r.unknown > creates5xx {
		t.Errorf("%d runs ended TriggerOutcomeUnknown, but only %d creates met a 5xx", r.unknown, creates5xx)
	}
}

// (5) Bad credentials and no permission: the run fails fast with the
// non-retryable DataWorksPermanent after exactly one API call, naming the
// AccessKeyId and the DataWorks code, never the secret.
func (c *chaos) suiteBadCredentials(t *testing.T) {
	t.Parallel()
	r := c.row("5 bad credentials")
	const noPermKey = "chaos-no-permission-key"
	cases := []struct {
		name, keyID, code string
		secret            func(s *stack) string
	}{
		{"unknown AccessKeyId", "chaos-unknown-key", "InvalidAccessKeyId.NotFound", func(*stack) string { return "chaos-unknown-secret-" + strconv.FormatUint(c.seed, 36) }},
		{"wrong secret", accessKeyID, "SignatureDoesNotMatch", func(s *stack) string { return "chaos-wrong-" + s.secret }},
		{"no permission", noPermKey, "Forbidden.Wkbench.ProjectNoPermission", func(s *stack) string { return s.secret + "-noperm" }},
	}
	var took []string
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := c.suiteStack(t, c.shared, c.sharedClient, timeScale, func(o *emulator.Options) {
				o.Credentials[noPermKey] = emulator.Key{Secret: o.Credentials[accessKeyID].Secret + "-noperm", NoPermission: true}
			})
			secret := tc.secret(s)
			c.add(func() { c.secrets = append(c.secrets, secret) })
			queue := fmt.Sprintf("chaos-creds-%d", i)
			w := c.worker(t, s, r, queue, "ALIBABA_CLOUD_ACCESS_KEY_ID="+tc.keyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+secret)
			id := fmt.Sprintf("chaos/creds/%d", i)
			began := time.Now()
			c.start(t, s, id, queue, chaosInput(flowOK, bizdateN(4000+i)))
			_, err := finished(t, s.client, id, time.Minute)
			elapsed := time.Since(began)
			calls := s.emu.Stats().Total
			var appErr *temporal.ApplicationError
			ok := errors.As(err, &appErr) && appErr.Type() == dag.ErrPermanent && appErr.NonRetryable() &&
				strings.Contains(err.Error(), tc.keyID) && strings.Contains(err.Error(), tc.code) &&
				!strings.Contains(err.Error(), secret) && calls == 1 && elapsed < 20*time.Second
			if !ok {
				t.Errorf("want a non-retryable DataWorksPermanent naming %s and %s, without the secret, after 1 call within 20 s; got %d calls in %s: %v", tc.keyID, tc.code, calls, elapsed, err)
			}
			v := verdict{correct: ok, lost: !ok}
			c.count(r, v)
			c.add(func() { r.faults++ })
			took = append(took, fmt.Sprintf("%s %s", tc.code, elapsed.Round(100*time.Millisecond)))
			c.stopWorker(t, w)
		})
	}
	r.note = "\"correct\" = failed DataWorksPermanent, non-retryable, 1 call, message names AccessKeyId and code: " + strings.Join(took, ", ")
}

// (6) Daily quota spent (Throttling.Api.Risk) mid-watch: polling slows to
// the quota back-off (MANUALDAG_QUOTA_BACKOFF, shortened to 5 s here; 30 min
// by default), the live status says why, and the watch resumes and
// completes when the quota returns.
func (c *chaos) suiteDailyQuota(t *testing.T) {
	t.Parallel()
	r := c.row("6 daily quota")
	var notes []string
	for i := range c.n(1, 2) {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			// A slower clock: the DAG runs for about 25 s.
			s := c.suiteStack(t, c.shared, c.sharedClient, timeScale/2, nil)
			queue := fmt.Sprintf("chaos-quota-%d", i)
			w := c.worker(t, s, r, queue, "MANUALDAG_QUOTA_BACKOFF=5s")
			id := fmt.Sprintf("chaos/quota/%d", i)
			bizdate := bizdateN(5000 + i)
			c.start(t, s, id, queue, chaosInput(flowOK, bizdate))
			// Counted at the emulator: a repeat window shows the workflow
			// only its last poll.
			waitFor(t, time.Minute, "two polls", func() bool {
				return s.emu.Stats().Calls["SearchManualDagNodeInstance"].Total >= 2
			}, nil)
			s.emu.SetDailyQuota(s.emu.Quota().Used)
			spentAt := time.Now()
			var live dag.DagReport
			waitFor(t, time.Minute, "the live status says the quota is spent", func() bool {
				rep, err := s.query(id)
				live = rep
				return err == nil && strings.Contains(rep.Message, "Throttling.Api.Risk")
			}, func() string { return live.Message })
			st := s.starter(t, "status", id)
			if !strings.Contains(st.Stdout, "daily API quota") {
				t.Errorf("starter status does not say why polling paused:\n%s", st)
			}
			time.Sleep(12 * time.Second)
			refused := s.emu.Stats().Calls["SearchManualDagNodeInstance"].Outcomes["Throttling.Api.Risk"]
			pause := time.Since(spentAt)
			s.emu.SetDailyQuota(0)
			s.emu.ResetQuota()
			rep, err := finished(t, s.client, id, 3*time.Minute)
			v := c.judge(s, flowOK, bizdate, rep, err)
			// Fast polling (1 to 3 s) would have called 4 to 12 times.
			if refused > 4 || refused < 1 {
				t.Errorf("%d refused calls in %s of spent quota: want 1 to 4 (5–10 s apart)", refused, pause.Round(time.Second))
				v.correct, v.lost = false, true
			}
			if !v.correct {
				t.Errorf("%s: %s", id, v.why)
			}
			c.count(r, v)
			c.add(func() { r.faults += refused })
			notes = append(notes, fmt.Sprintf("%d refused calls in %s", refused, pause.Round(time.Second)))
			if i == 0 {
				t.Logf("live status while the quota was spent: %s", live.Message)
				c.add(func() { c.notes = append(c.notes, "Daily quota, live status: "+live.Message) })
			}
			c.stopWorker(t, w)
		})
	}
	r.note = "quota back-off 5–10 s (MANUALDAG_QUOTA_BACKOFF=5s): " + strings.Join(notes, ", ") + "; status query and `starter status` say why"
}

// (7) SIGTERM while an activity is in flight (a create with 3 s of
// latency, or a search with 2 s): the worker lets it finish within its
// shutdown timeout and exits 0; a new worker carries on; the run completes
// with one create and never ends TriggerOutcomeUnknown.
func (c *chaos) suiteGracefulStop(t *testing.T) {
	t.Parallel()
	r := c.row("7 graceful stop")
	s := c.suiteStack(t, c.shared, c.sharedClient, timeScale, func(o *emulator.Options) {
		o.Faults = map[string]emulator.Faults{
			"CreateManualDag":             {Latency: 3 * time.Second},
			"SearchManualDagNodeInstance": {Latency: 2 * time.Second},
		}
	})
	targets := []string{"create", "poll"}
	inParallel(t, c.n(2, 6), 3, func(t *testing.T, i int) {
		target := targets[i%2]
		queue := fmt.Sprintf("chaos-term-%d", i)
		id := fmt.Sprintf("chaos/term/%d", i)
		bizdate := bizdateN(6000 + i)
		w := c.worker(t, s, r, queue, "MANUALDAG_SHUTDOWN_TIMEOUT=15s")
		c.start(t, s, id, queue, chaosInput(flowOK, bizdate))
		if target == "create" {
			// Processed by DataWorks: the reply is 3 s away.
			waitFor(t, time.Minute, "the create reached DataWorks", func() bool { return len(s.emu.CreatedDAGs(project, flowOK, bizdate)) > 0 }, nil)
		} else {
			waitFor(t, 2*time.Minute, "a search in flight after the first poll", func() bool {
				rep, err := s.query(id)
				return err == nil && rep.Polls >= 1 && pendingPhase(s, id) == "poll" || closed(s, id)
			}, nil)
		}
		phase := pendingPhase(s, id)
		c.add(func() { c.killed[w] = true })
		sent := time.Now()
		require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
		code := w.wait(t, time.Minute)
		stopped := time.Since(sent)
		if code != 0 {
			t.Errorf("the worker exited %d after SIGTERM:\n%s", code, w.output())
		}
		t.Logf("trial %d: SIGTERM during %s; the worker exited %d after %s", i, phase, code, stopped.Round(100*time.Millisecond))
		c.worker(t, s, r, queue)
		rep, err := finished(t, s.client, id, 4*time.Minute)
		v := c.judge(s, flowOK, bizdate, rep, err)
		if !v.correct {
			t.Errorf("%s (SIGTERM during %s): %s", id, phase, v.why)
			v.correct, v.unknown, v.lost = false, false, true
		}
		c.count(r, v)
		c.add(func() { r.faults++ })
	})
	r.note = "SIGTERM during a create (3 s latency) or a search (2 s): the call finished, the worker exited 0 within its shutdown timeout"
}

// panicLine matches what a panic, a crash or the race detector prints.
var panicLine = regexp.MustCompile(`(?m)^panic: |^fatal error: |WARNING: DATA RACE|Activity panic|Workflow panic|PanicError`)

// scanOutputs counts panics and secrets in every worker's output and the
// emulators' logs. A worker that failed without being killed counts as a
// crash.
func (c *chaos) scanOutputs(t *testing.T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		r := c.owner[p]
		if r == nil {
			r = c.scan
		}
		out := p.output()
		for _, line := range strings.Split(out, "\n") {
			if panicLine.MatchString(line) {
				r.panics++
				t.Errorf("%s (%s): %s", p.name, r.suite, line)
			}
		}
		// Workers left running are stopped (SIGINT) by their test's cleanup
		// and exit 0; any other end is a crash.
		if p.exited() && !c.killed[p] && p.err != nil {
			r.panics++
			t.Errorf("%s (%s) exited by itself: %v\n%s", p.name, r.suite, p.err, out)
		}
		c.scan.trials++
		for _, sec := range c.secrets {
			c.scan.leaks += strings.Count(out, sec)
		}
	}
	for _, l := range c.emuLogs {
		c.scan.trials++
		for _, sec := range c.secrets {
			c.scan.leaks += strings.Count(l.String(), sec)
		}
	}
}

// scanHistories reads every workflow history on a dev server as the Web
// UI shows it (payloads decoded) and counts the secrets in it, charged to
// the suite whose workflow it is.
func (c *chaos) scanHistories(t *testing.T, tc client.Client) {
	t.Helper()
	readable := temporalproto.CustomJSONMarshalOptions{Metadata: map[string]any{commonpb.EnablePayloadShorthandMetadataKey: true}}
	ctx := testContext(t)
	var token []byte
	for {
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{NextPageToken: token})
		require.NoError(t, err)
		for _, e := range resp.GetExecutions() {
			id := e.GetExecution().GetWorkflowId()
			st := &stack{client: tc}
			b, err := readable.Marshal(st.history(t, id, e.GetExecution().GetRunId()))
			require.NoError(t, err)
			c.mu.Lock()
			c.scan.trials++
			for _, sec := range c.secrets {
				if n := strings.Count(string(b), sec); n > 0 {
					t.Errorf("the history of %s holds a secret", id)
					c.scan.leaks += n
				}
			}
			c.mu.Unlock()
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
}

// table is the figure table, as docs/reliability.md shows it.
func (c *chaos) table() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	slices.SortFunc(c.rows, func(a, b *figureRow) int { return strings.Compare(a.suite, b.suite) })
	var b strings.Builder
	variant := "short (make test)"
	if c.full {
		variant = "full (make chaos)"
	}
	fmt.Fprintf(&b, "manualdag chaos figures: %s variant, seed %d, %s\n\n", variant, c.seed, time.Now().UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "suite\ttrials\tfaults injected\tcompleted correctly\tTriggerOutcomeUnknown\truns lost\tduplicate creates\tpanics\tleaked secrets")
	var tot figureRow
	for _, r := range c.rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", r.suite, r.trials, r.faults, r.correct, r.unknown, r.lost, r.duplicates, r.panics, r.leaks)
		tot.trials += r.trials
		tot.faults += r.faults
		tot.correct += r.correct
		tot.unknown += r.unknown
		tot.lost += r.lost
		tot.duplicates += r.duplicates
		tot.panics += r.panics
		tot.leaks += r.leaks
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", tot.trials, tot.faults, tot.correct, tot.unknown, tot.lost, tot.duplicates, tot.panics, tot.leaks)
	_ = tw.Flush()
	b.WriteString("\n")
	for _, r := range c.rows {
		if r.note != "" {
			fmt.Fprintf(&b, "%s: %s\n", r.suite, r.note)
		}
	}
	for _, n := range c.notes {
		fmt.Fprintln(&b, n)
	}
	return b.String()
}

// Workflow input that carries a credential, started with the plain
// Temporal CLI (the starter has no way to send one: it builds the input
// from flags): the workflow refuses it as InvalidInput, says where
// credentials belong, and calls DataWorks not once.
func (c *chaos) testCredentialsNotInInput(t *testing.T) {
	t.Parallel()
	s := c.suiteStack(t, c.shared, c.sharedClient, timeScale, nil)
	const queue = "chaos-credential-input"
	c.worker(t, s, nil, queue)
	cli, err := temporalCLI()
	require.NoError(t, err)
	for i, field := range []string{"accessKeySecret", "ALIBABA_CLOUD_ACCESS_KEY_ID", "securityToken"} {
		id := fmt.Sprintf("chaos/credential-input/%d", i)
		input := fmt.Sprintf(`{"projectName":%q,"flowName":%q,"bizdate":"2025-03-01",%q:"chaos-input-secret"}`, project, flowOK, field)
		r := runCommand(t, time.Minute, nil, cli, "workflow", "start", "--address", s.temporal.Address,
			"--type", workflows.WorkflowName, "--task-queue", queue, "--workflow-id", id, "--input", input)
		require.Equal(t, 0, r.Code, "%s", r)
		_, err := finished(t, s.client, id, time.Minute)
		var appErr *temporal.ApplicationError
		require.ErrorAs(t, err, &appErr, "field %s", field)
		require.Equal(t, dag.ErrInvalidInput, appErr.Type())
		require.Contains(t, appErr.Message(), field)
		require.Contains(t, appErr.Message(), "credentials belong to the worker's environment")
		require.NotContains(t, appErr.Message(), "chaos-input-secret", "the refusal does not repeat the value")
	}
	require.Zero(t, s.emu.Stats().Total, "no DataWorks call for refused input")
}
