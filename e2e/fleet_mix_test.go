//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/internal/emulator"
	"github.com/manualdag/manualdag/workflows"
)

// The fleet's mix (issue 17): six flows from 5 minutes to 2 hours end to
// end in DataWorks time, the shapes of internal/policybench's workload (a
// short chain, fan-outs, a long chain), every node with phases wait 10s,
// resources 20s, checking 10s. At time scale 1 DataWorks time is clock time.
type mixFlow struct {
	name  string
	nodes []mixNode
}

type mixNode struct {
	name     string
	upstream []string
	run      time.Duration
}

var fleetMix = []mixFlow{
	{"mix_5m", []mixNode{{"start", nil, 30 * time.Second}, {"load", []string{"start"}, 3*time.Minute + 10*time.Second}}},
	{"mix_15m", []mixNode{{"start", nil, 30 * time.Second}, {"extract_a", []string{"start"}, 6 * time.Minute}, {"extract_b", []string{"start"}, 5 * time.Minute},
		{"load", []string{"extract_a", "extract_b"}, 6 * time.Minute}}},
	{"mix_30m", []mixNode{{"ods", nil, 6 * time.Minute}, {"dwd", []string{"ods"}, 7 * time.Minute}, {"dws", []string{"dwd"}, 7 * time.Minute},
		{"ads", []string{"dws"}, 7 * time.Minute}}},
	{"mix_60m", []mixNode{{"start", nil, time.Minute}, {"part_1", []string{"start"}, 20 * time.Minute}, {"part_2", []string{"start"}, 24 * time.Minute},
		{"part_3", []string{"start"}, 27 * time.Minute}, {"part_4", []string{"start"}, 22 * time.Minute}, {"merge", []string{"part_1", "part_2", "part_3", "part_4"}, 28 * time.Minute},
		{"report", []string{"merge"}, 2 * time.Minute}}},
	{"mix_90m", []mixNode{{"extract", nil, 25 * time.Minute}, {"clean", []string{"extract"}, 20 * time.Minute}, {"join_a", []string{"clean"}, 22 * time.Minute},
		{"join_b", []string{"clean"}, 18 * time.Minute}, {"publish", []string{"join_a", "join_b"}, 18 * time.Minute}}},
	{"mix_120m", []mixNode{{"start", nil, time.Minute}, {"stage_1", []string{"start"}, 28 * time.Minute}, {"stage_2", []string{"stage_1"}, 30 * time.Minute},
		{"side", []string{"stage_1"}, 12 * time.Minute}, {"stage_3", []string{"stage_2", "side"}, 30 * time.Minute}, {"stage_4", []string{"stage_3"}, 26 * time.Minute}}},
}

// The phases every mix node goes through besides running.
const (
	mixWaitTime     = 10 * time.Second
	mixWaitResource = 20 * time.Second
	mixChecking     = 10 * time.Second
	mixBaseNodeID   = 106000001
)

func mixFlowText() string {
	var parts []string
	for _, f := range fleetMix {
		parts = append(parts, fmt.Sprintf("`%s` (%d nodes, %s)", f.name, len(f.nodes), mixTimings(f).end().Round(time.Minute)))
	}
	return "six flows, started in turn: " + strings.Join(parts, ", ") + "; phases wait 10s, resources 20s, checking 10s per node"
}

func fleetMixDefinition(b testing.TB) *emulator.Definition {
	d := func(v time.Duration) *emulator.Duration { x := emulator.Duration(v); return &x }
	p := emulator.Project{Name: benchProject}
	id := int64(mixBaseNodeID)
	for _, f := range fleetMix {
		ids := map[string]int64{}
		fl := emulator.Flow{Name: f.name, WaitTime: d(mixWaitTime), WaitResource: d(mixWaitResource), Checking: d(mixChecking)}
		for _, n := range f.nodes {
			ids[n.name] = id
			var up []int64
			for _, u := range n.upstream {
				up = append(up, ids[u])
			}
			fl.Nodes = append(fl.Nodes, emulator.Node{ID: id, Name: n.name, Upstream: up, Duration: d(n.run)})
			id++
		}
		p.Flows = append(p.Flows, fl)
	}
	def := &emulator.Definition{Projects: []emulator.Project{p}}
	require.NoError(b, def.Validate())
	return def
}

var fleetMixFlow = &benchFlowSpec{name: "mix", text: "", definition: fleetMixDefinition}

// mixRun is a flow's node timings as the emulator runs them: a node is
// ready when its upstreams have succeeded, begins running after the wait
// and resource phases and finishes after its run and check.
type mixRun map[string][2]time.Duration

func (m mixRun) end() time.Duration {
	var e time.Duration
	for _, t := range m {
		e = max(e, t[1])
	}
	return e
}

func mixTimings(f mixFlow) mixRun {
	out := mixRun{}
	for _, n := range f.nodes {
		var ready time.Duration
		for _, u := range n.upstream {
			ready = max(ready, out[u][1])
		}
		begin := ready + mixWaitTime + mixWaitResource
		out[n.name] = [2]time.Duration{begin, begin + n.run + mixChecking}
	}
	return out
}

// seedEarlierRuns gives every flow of the mix n earlier successful runs to
// learn from, as a week of daily runs would have: closed RunManualDag
// workflows whose memo holds the flow's node timings (activities.MemoTimings),
// which is all FlowTimings reads (seedStandIns). At time scale 1 real
// warm-up runs of the 2-hour flow would take 2 hours. events, when not nil,
// says how many DataWorks events earlier run k of flow received and missed.
func seedEarlierRuns(b testing.TB, c client.Client, n int, events func(flow string, k int) (received, missed int32)) map[string]bool {
	var runs []seededRun
	for _, f := range fleetMix {
		tm := mixTimings(f)
		for k := range n {
			rt := dag.RunTimings{}
			for _, nd := range f.nodes {
				rt.Names = append(rt.Names, nd.name)
				rt.Begin = append(rt.Begin, int32(tm[nd.name][0].Seconds()))
				rt.Finish = append(rt.Finish, int32(tm[nd.name][1].Seconds()))
			}
			if events != nil {
				rt.Events, rt.EventMiss = events(f.name, k)
			}
			in := workflows.RunManualDagInput{ProjectName: benchProject, FlowName: f.name, Bizdate: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, k).Format(time.DateOnly)}
			runs = append(runs, seededRun{in, rt})
		}
	}
	return seedStandIns(b, c, runs)
}

// seededRun is an earlier run to seed: its input and its memo's timings.
type seededRun struct {
	in workflows.RunManualDagInput
	rt dag.RunTimings
}

// seedStandIns starts runs as closed RunManualDag workflows (a stand-in
// workflow of that type on a queue of its own, which returns at once)
// whose memo holds their timings, and waits until visibility lists them.
func seedStandIns(b testing.TB, c client.Client, runs []seededRun) map[string]bool {
	const queue = "bench-seed"
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(func(workflow.Context, workflows.RunManualDagInput) error { return nil },
		workflow.RegisterOptions{Name: workflows.WorkflowName})
	require.NoError(b, w.Start())
	defer w.Stop()
	ids, perFlow := map[string]bool{}, map[string]int64{}
	for _, r := range runs {
		id := workflows.BizdateWorkflowID(r.in.ProjectName, r.in.FlowName, r.in.Bizdate)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue,
			Memo:                  map[string]any{activities.MemoTimings: r.rt},
			TypedSearchAttributes: workflows.StartSearchAttributes(r.in, func(temporal.SearchAttributeKey) bool { return true }),
		}, workflows.WorkflowName, r.in)
		require.NoError(b, err, "seeding an earlier run of %s", r.in.FlowName)
		require.NoError(b, run.Get(ctx, nil))
		cancel()
		ids[id] = true
		perFlow[r.in.FlowName]++
	}
	// Visibility is eventually consistent: wait until every flow lists them.
	waitFor(b, 2*time.Minute, "the seeded runs are listed", func() bool {
		for flow, n := range perFlow {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: fmt.Sprintf(
				"WorkflowType = '%s' AND DataWorksFlow = '%s' AND ExecutionStatus = 'Completed'", workflows.WorkflowName, flow)})
			cancel()
			if err != nil || resp.GetCount() < n {
				return false
			}
		}
		return true
	}, func() string { return "" })
	return ids
}

// replaceFinished keeps the fleet at its size while the hold lasts: every
// DAG run that DataWorks finished gets a successor of the same flow (a new
// bizdate), as the next day's or the next backfill's run would.
func replaceFinished(emu *emulator.Emulator, until time.Time, next func(flow string)) int {
	seen := map[int64]bool{}
	started := 0
	for time.Now().Before(until) {
		for _, d := range emu.DAGs() {
			if d.FinishedAt.IsZero() || seen[d.DagID] {
				continue
			}
			seen[d.DagID] = true
			next(d.Flow)
			started++
		}
		// Every 5 s: listing thousands of DAG runs costs the benchmark
		// process (the emulator's) CPU.
		time.Sleep(5 * time.Second)
	}
	return started
}

// terminateOpen ends the runs still open after the hold (the harness's
// doing: they show as Terminated, not as failures).
func terminateOpen(b testing.TB, c client.Client) int {
	n := 0
	for round := 0; round < 20; round++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{PageSize: 1000,
			Query: fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running'", workflows.WorkflowName)})
		cancel()
		if err != nil {
			b.Logf("listing open runs to terminate: %v", err)
			time.Sleep(2 * time.Second)
			continue
		}
		if len(resp.GetExecutions()) == 0 {
			break
		}
		jobs := make(chan [2]string)
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range benchStartParallel {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range jobs {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					err := c.TerminateWorkflow(ctx, j[0], j[1], "benchmark hold over")
					cancel()
					if err == nil {
						mu.Lock()
						n++
						mu.Unlock()
					}
				}
			}()
		}
		for _, e := range resp.GetExecutions() {
			jobs <- [2]string{e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId()}
		}
		close(jobs)
		wg.Wait()
		time.Sleep(2 * time.Second)
	}
	return n
}

// promMetrics is one scrape of a Prometheus text endpoint: series (name
// with its labels, as printed) → value.
type promMetrics map[string]float64

func scrapeProm(url string) promMetrics {
	out := promMetrics{}
	if url == "" {
		return out
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get(url)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 256<<20))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out
}

// label returns a label's value in a series name.
func label(series, name string) string {
	i := strings.Index(series, name+`="`)
	if i < 0 {
		return ""
	}
	rest := series[i+len(name)+2:]
	if j := strings.IndexByte(rest, '"'); j >= 0 {
		return rest[:j]
	}
	return ""
}

// opLatency is one histogram's change over the window, for one operation.
type opLatency struct {
	op      string
	count   float64
	sum     float64 // in the histogram's unit
	buckets map[float64]float64
	p99     float64
}

// histogramDelta sums a histogram family's change between two scrapes per
// value of the label by (across the other labels), and returns them by
// total time, largest first.
func histogramDelta(before, after promMetrics, family, by string) []opLatency {
	ops := map[string]*opLatency{}
	get := func(op string) *opLatency {
		if ops[op] == nil {
			ops[op] = &opLatency{op: op, buckets: map[float64]float64{}}
		}
		return ops[op]
	}
	for series, v := range after {
		name := series
		if i := strings.IndexByte(series, '{'); i >= 0 {
			name = series[:i]
		}
		d := v - before[series]
		switch {
		case name == family+"_count" || name == family+"_seconds_count":
			get(label(series, by)).count += d
		case name == family+"_sum" || name == family+"_seconds_sum":
			get(label(series, by)).sum += d
		case name == family+"_bucket" || name == family+"_seconds_bucket":
			le := label(series, "le")
			if le == "+Inf" {
				continue
			}
			f, err := strconv.ParseFloat(le, 64)
			if err == nil {
				get(label(series, by)).buckets[f] += d
			}
		}
	}
	var out []opLatency
	for _, o := range ops {
		if o.count <= 0 {
			continue
		}
		les := make([]float64, 0, len(o.buckets))
		for le := range o.buckets {
			les = append(les, le)
		}
		sort.Float64s(les)
		o.p99 = math.Inf(1)
		for _, le := range les {
			if o.buckets[le] >= 0.99*o.count {
				o.p99 = le
				break
			}
		}
		out = append(out, *o)
	}
	slices.SortFunc(out, func(a, b opLatency) int {
		switch {
		case a.sum > b.sum:
			return -1
		case a.sum < b.sum:
			return 1
		}
		return strings.Compare(a.op, b.op)
	})
	return out
}

// latencyText prints the top k operations of a histogram family.
func latencyText(before, after promMetrics, family, by string, k int, window float64) string {
	ops := histogramDelta(before, after, family, by)
	if len(ops) == 0 {
		return "no " + family + " series"
	}
	var parts []string
	shown := 0
	for _, o := range ops {
		if shown == k {
			break
		}
		if strings.HasPrefix(o.op, "Poll") {
			continue // long polls: their latency is the wait for work
		}
		shown++
		// The server's Prometheus timers (tally's reporter) are in
		// seconds, whether or not the name says so.
		scale := 1000.0
		p99 := "> largest bucket"
		if !math.IsInf(o.p99, 1) {
			p99 = fmt.Sprintf("%g ms", o.p99*scale)
		}
		parts = append(parts, fmt.Sprintf("%s %.1f/s, mean %.1f ms, p99 ≤ %s", o.op, o.count/window, o.sum/o.count*scale, p99))
	}
	return strings.Join(parts, "; ")
}

// counterRate is a counter family's change per second over the window,
// summed over its series.
func counterRate(before, after promMetrics, family string, window float64) float64 {
	t := 0.0
	for series, v := range after {
		name := series
		if i := strings.IndexByte(series, '{'); i >= 0 {
			name = series[:i]
		}
		if name == family {
			t += v - before[series]
		}
	}
	return t / window
}

// pgStats is PostgreSQL's own account of its work (cluster mode): commits,
// rows written, WAL bytes; zero without a database.
type pgStats struct{ commits, rows, walBytes float64 }

func readPGStats(p *postgres) pgStats {
	if p == nil {
		return pgStats{}
	}
	out, err := p.command("psql", "-h", p.dir, "-p", strconv.Itoa(p.port), "-U", pgUser, "-d", "postgres", "-Atc",
		"select (select sum(xact_commit) from pg_stat_database), (select sum(tup_inserted+tup_updated+tup_deleted) from pg_stat_database), (select wal_bytes from pg_stat_wal)").Output()
	if err != nil {
		return pgStats{}
	}
	f := strings.Split(strings.TrimSpace(string(out)), "|")
	if len(f) != 3 {
		return pgStats{}
	}
	var s pgStats
	for i, p := range []*float64{&s.commits, &s.rows, &s.walBytes} {
		*p, _ = strconv.ParseFloat(f[i], 64)
	}
	return s
}

// runSpec is one run the step starts.
type runSpec struct{ flow, bizdate string }

// mixSpecs are n runs cycling through the mix's flows, bizdates from
// offset on.
func mixSpecs(n, offset int) []runSpec {
	out := make([]runSpec, n)
	for i := range out {
		out[i] = runSpec{flow: fleetMix[i%len(fleetMix)].name, bizdate: bizdateN(offset + i)}
	}
	return out
}

// mixFinding is issue 17's figures for one server: the hold, the parts of
// poll lateness, the server's own metrics, PostgreSQL's account and the
// cost of one run-hour of each component, for sizing a real cluster.
func mixFinding(r *benchStep) string {
	var b strings.Builder
	w := math.Max(r.window, 1)
	runHours := r.openSeconds / 3600
	fmt.Fprintf(&b, "\nWindow %.0f s: %d runs started in bursts, %d more during the hold (successors of finished runs), fewest open during the hold %d, most %d (visibility's count every 5 s); %.0f run-hours open; %d runs completed in the window, %d ended by the harness after it.\n",
		w, r.started, r.replaced, r.holdOpenMin, r.peakOpen, runHours, r.completed(), r.terminated)
	goal := func(ok bool) string {
		if ok {
			return "met"
		}
		return "not met"
	}
	p99 := pct(r.lateness(), 0.99)
	fmt.Fprintf(&b, "Goals: p99 poll lateness %s ≤ 2 s: %s; worker peak RSS %s ≤ 300 MB: %s.\n",
		secs(p99), goal(p99 <= benchMaxLatenessP99), mb(r.worker.hwmKB), goal(r.worker.hwmKB <= benchMaxWorkerRSSKB))
	fmt.Fprintf(&b, "Schedule-to-start p50 / p99: workflow task after a poll timer fired %s / %s; search activity (first attempts) %s / %s; search scheduled → DataWorks call (schedule-to-start plus the QPS cap's wait) %s / %s.\n",
		secs(pct(r.wftQueue, 0.5)), secs(pct(r.wftQueue, 0.99)), secs(pct(r.actQueue, 0.5)), secs(pct(r.actQueue, 0.99)),
		secs(pct(r.dispatch, 0.5)), secs(pct(r.dispatch, 0.99)))
	fmt.Fprintf(&b, "DataWorks calls: %.2f/s over the window (%d), most in one second %d, under the worker's `-dataworks-qps %g`.\n",
		float64(r.windowCalls)/w, r.windowCalls, r.peakPerSecond, r.cfg.qps)
	if r.db.window > 0 {
		fmt.Fprintf(&b, "PostgreSQL: %.1f commits/s, %.1f rows written/s, WAL %.2f MB/s, %.2f MB/s written to disk (its process tree).\n",
			(r.pgAt.commits-r.pgBefore.commits)/w, (r.pgAt.rows-r.pgBefore.rows)/w, (r.pgAt.walBytes-r.pgBefore.walBytes)/(1<<20)/w,
			float64(r.db.writes)/(1<<20)/math.Max(1, r.db.window))
	} else {
		fmt.Fprintf(&b, "Dev server: %.2f MB/s written to disk (SQLite file and its WAL).\n", float64(r.server.writes)/(1<<20)/w)
	}
	if len(r.serverAt) > 0 {
		fmt.Fprintf(&b, "Server metrics over the window: persistence %.0f requests/s; slowest persistence operations by total time: %s. History task queue latency (task created → processed), by task: %s. Frontend/history service latency, by operation: %s.\n",
			counterRate(r.serverBefore, r.serverAt, "persistence_requests", w),
			latencyText(r.serverBefore, r.serverAt, "persistence_latency", "operation", 4, w),
			latencyText(r.serverBefore, r.serverAt, "task_latency_queue", "operation", 3, w),
			latencyText(r.serverBefore, r.serverAt, "service_latency", "operation", 3, w))
	}
	if runHours > 0 {
		fmt.Fprintf(&b, "Per run-hour open: worker %.1f CPU-s, server %.1f CPU-s", r.worker.cpu/runHours, r.server.cpu/runHours)
		if r.db.window > 0 {
			fmt.Fprintf(&b, ", PostgreSQL %.1f CPU-s, %.0f commits, %.0f rows, %.2f MB WAL", r.db.cpu/runHours,
				(r.pgAt.commits-r.pgBefore.commits)/runHours, (r.pgAt.rows-r.pgBefore.rows)/runHours, (r.pgAt.walBytes-r.pgBefore.walBytes)/(1<<20)/runHours)
		} else {
			fmt.Fprintf(&b, ", %.2f MB written by the dev server", float64(r.server.writes)/(1<<20)/runHours)
		}
		fmt.Fprintf(&b, ", %.1f DataWorks calls.\n", float64(r.windowCalls)/runHours)
	}
	return b.String()
}
