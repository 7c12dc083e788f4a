//go:build e2e

package e2e

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/manualdag/manualdag/internal/emulator"
)

// BenchmarkFleet is the learned fleet (`make bench-fleet`): issue 6's scale
// target, one worker keeping some 2,000 concurrent DAG runs polled on time,
// with the default poll policy learning from earlier runs, as it does in
// production. One step of BenchmarkRealServer's kind (a fresh dev server, the
// worker binary, the emulator over HTTP, time scale 10, the same figures and
// the same "gives" rule), but:
//   - the flow is longer, fleetFlowText (about 10 minutes of clock time);
//   - MANUALDAG_BENCH_WARMUP runs of it (default 2, different bizdates) are
//     started at once and completed on the same dev server before the step,
//     so that the step's runs find their timings (FlowTimings) and poll
//     predicted; their calls and runs are not in the step's figures;
//   - MANUALDAG_BENCH_FLEET_RUNS runs (default 2000) are started evenly over
//     MANUALDAG_BENCH_RAMP (default 5m), so that about all of them are open
//     at once between the end of the ramp and the first finishes; the table
//     shows the most open at once (visibility's count, every 5 s);
//   - MANUALDAG_BENCH_POLLERS is the worker's -task-pollers (default 0: the
//     worker's default, 2 workflow and 2 activity task pollers);
//   - MANUALDAG_BENCH_FLEET_QPS is the worker's -dataworks-qps (default 0:
//     no cap), the account's quota the fleet shares;
//   - MANUALDAG_BENCH_HISTORIES defaults to 500 and
//     MANUALDAG_BENCH_STEP_TIMEOUT to 30m.
//
// MANUALDAG_BENCH_MAX_ACTIVITIES, MANUALDAG_BENCH_DB and
// MANUALDAG_BENCH_WORKERS are BenchmarkRealServer's; MANUALDAG_BENCH_OUT=FILE
// also writes the table to FILE. With MANUALDAG_E2E_SERVER=cluster (make
// bench-fleet-cluster) the server is the Temporal server on PostgreSQL
// instead of the dev server, and the table adds PostgreSQL's CPU and bytes
// written (its process tree). Skipped unless MANUALDAG_BENCH=1.
func BenchmarkFleet(b *testing.B) {
	if os.Getenv("MANUALDAG_BENCH") != "1" {
		b.Skip("the real-server benchmark runs only with MANUALDAG_BENCH=1 (make bench-fleet)")
	}
	base := benchConfigFromEnv(b)
	histories, stepTimeout := 500, 30*time.Minute
	if os.Getenv("MANUALDAG_BENCH_HISTORIES") != "" {
		histories = base.histories
	}
	if os.Getenv("MANUALDAG_BENCH_STEP_TIMEOUT") != "" {
		stepTimeout = base.stepTimeout
	}
	mix := os.Getenv("MANUALDAG_BENCH_FLEET_MIX") != "0"
	runs, warmup, pollers, ramp := 2000, 2, 0, 5*time.Minute
	seeded, burst, burstEvery, hold, scale := 0, 0, time.Duration(0), time.Duration(0), float64(benchTimeScale)
	if mix {
		// Issue 17's fleet: time scale 1, the mix, bursts of 1,000 a
		// minute, held 30 minutes, under a 50 QPS cap.
		warmup, seeded, burst, burstEvery, hold, scale, ramp = 0, 3, 1000, time.Minute, 30*time.Minute, 1, 0
	}
	for name, p := range map[string]*int{"MANUALDAG_BENCH_FLEET_RUNS": &runs, "MANUALDAG_BENCH_WARMUP": &warmup, "MANUALDAG_BENCH_POLLERS": &pollers,
		"MANUALDAG_BENCH_SEEDED": &seeded, "MANUALDAG_BENCH_BURST": &burst} {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			require.NoError(b, err, name)
			*p = n
		}
	}
	qps := 0.0
	if mix {
		qps = 50
	}
	if v := os.Getenv("MANUALDAG_BENCH_TIME_SCALE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		require.NoError(b, err, "MANUALDAG_BENCH_TIME_SCALE")
		require.Positive(b, f, "MANUALDAG_BENCH_TIME_SCALE")
		scale = f
	}
	for name, p := range map[string]*time.Duration{"MANUALDAG_BENCH_HOLD": &hold, "MANUALDAG_BENCH_BURST_EVERY": &burstEvery} {
		if v := os.Getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			require.NoError(b, err, name)
			*p = d
		}
	}
	if v := os.Getenv("MANUALDAG_BENCH_FLEET_QPS"); v != "" {
		q, err := strconv.ParseFloat(v, 64)
		require.NoError(b, err, "MANUALDAG_BENCH_FLEET_QPS")
		qps = q
	}
	if v := os.Getenv("MANUALDAG_BENCH_RAMP"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(b, err, "MANUALDAG_BENCH_RAMP")
		ramp = d
	}
	began := time.Now()
	loadBefore := loadAvg()

	sc := benchStepConfig{runs: runs, qps: qps, maxActivities: base.maxActivities, histories: histories, waitLimit: stepTimeout,
		workerBin: buildBenchWorker(b), memoryDB: base.memoryDB, workers: base.workers,
		flow: fleetFlow, warmup: warmup, ramp: ramp, pollers: pollers,
		timeScale: scale, mix: mix, seeded: seeded, burst: burst, burstEvery: burstEvery, hold: hold}
	if mix {
		sc.flow = fleetMixFlow
		if hold > 0 {
			sc.waitLimit = 10 * time.Minute // for the harness's terminations to show
		}
	}
	name := fmt.Sprintf("fleet/N=%d", runs)
	if mix {
		name = fmt.Sprintf("mix/N=%d", runs)
	}
	if pollers > 0 {
		name += fmt.Sprintf("/pollers=%d", pollers)
	}
	if qps > 0 {
		name += fmt.Sprintf("/qps=%g", qps)
	}
	if base.memoryDB && !clusterMode() {
		name += "/db=memory"
	}
	if clusterMode() {
		name += "/cluster"
	}
	r := runBenchStep(b, name, sc)

	var doc strings.Builder
	fmt.Fprintf(&doc, "# manualdag learned-fleet benchmark\n\n")
	fmt.Fprintf(&doc, "%s, %d CPUs, GOMAXPROCS %d; load average (1, 5, 15 min) before: %s, after: %s; took %s.\n\n",
		began.UTC().Format(time.RFC3339), numCPU(), runtime.GOMAXPROCS(0), loadBefore, loadAvg(), time.Since(began).Round(time.Second))
	db := "SQLite file, as the e2e tests run it"
	if base.memoryDB {
		db = "in-memory SQLite, MANUALDAG_BENCH_DB=memory"
	}
	pollersText := "the default 2 workflow and 2 activity task pollers"
	if pollers > 0 {
		pollersText = fmt.Sprintf("`-task-pollers %d` (workflow and activity task pollers each)", pollers)
	}
	if qps > 0 {
		pollersText += fmt.Sprintf(", `-dataworks-qps %g`", qps)
	}
	if mix {
		fmt.Fprintf(&doc, "%s, the worker binary (no -race) and the DataWorks emulator in the benchmark process over signed HTTP, time scale %g "+
			"(DataWorks time is clock time). Flows: %s. Every flow has %d earlier successful runs seeded (their memos hold the flow's node timings, "+
			"which is all the runs' predictions read), so the runs poll predicted, as a fleet does from its second day. %d runs started with the Go SDK "+
			"(the starter's options), %d at a time as fast as they go, one burst every %s (a 02:00 schedule), cycling through the flows; input = project, "+
			"flow, bizdate only (the default poll policy). Then the fleet is held %s: every DAG run DataWorks finishes gets a successor of its flow "+
			"(a new bizdate), so that about N stay open; at the end of the hold the window closes and the harness terminates the runs still open. "+
			"%s: `-max-concurrent-activities %d`, %s, 1000 workflow task slots, per worker. Figures are over the window (first start to the end of the hold).\n\n",
			"A"+strings.TrimPrefix(serverText(db), "a"), scale, mixFlowText(), seeded, runs, burst, burstEvery, hold,
			workersText(base.workers), base.maxActivities, pollersText)
	} else {
		fmt.Fprintf(&doc, "%s, the worker binary (no -race) and the DataWorks emulator "+
			"in the benchmark process over signed HTTP, time scale %d. Flow `%s`: %s. First %d warm-up runs of the flow, started at once and "+
			"completed, so that the step's runs learn from them (FlowTimings); then %d runs started with the Go SDK (the starter's options) "+
			"evenly over %s, %d starters at a time, input = project, flow, bizdate only, so the workflow's default poll policy (predictive). "+
			"%s: `-max-concurrent-activities %d`, %s, 1000 workflow task slots, per worker. The warm-up's calls and runs are not in the figures.\n\n",
			"A"+strings.TrimPrefix(serverText(db), "a"), benchTimeScale, fleetFlowName, fleetFlowText, warmup, runs, ramp, benchStartParallel, workersText(base.workers), base.maxActivities, pollersText)
	}
	doc.WriteString(benchMethodText)
	doc.WriteString(benchTable([]*benchStep{r}))
	doc.WriteString("\n")
	doc.WriteString(fleetFinding(r))
	if mix {
		doc.WriteString(mixFinding(r))
	}
	text := doc.String()
	fmt.Fprint(os.Stdout, "\n"+text)
	if path := os.Getenv("MANUALDAG_BENCH_OUT"); path != "" {
		require.NoError(b, os.WriteFile(path, []byte(text), 0o644))
	}
}

func fleetFinding(r *benchStep) string {
	var b strings.Builder
	if why := r.gave(); len(why) > 0 {
		fmt.Fprintf(&b, "%s gave: %s.\n", r.name, strings.Join(why, "; "))
	} else {
		fmt.Fprintf(&b, "%s held: every run completed (or, held, was ended by the harness), lateness p99 %s, worker peak RSS %s, %d runs open at once at the peak.\n",
			r.name, secs(pct(r.lateness(), 0.99)), mb(r.worker.hwmKB), r.peakOpen)
	}
	fmt.Fprintf(&b, "\nWorker %.2f cores avg (peak 5 s %.2f), peak RSS %s; "+serverName()+" %.2f cores avg (peak 5 s %.2f), peak RSS %s; benchmark process (emulator + harness) %.2f avg; the machine %.2f of %d cores busy avg (peak 5 s %.2f), other processes %.2f. Larger CPU user: %s.\n",
		r.worker.avg, r.worker.peak5s, mb(r.worker.hwmKB), r.server.avg, r.server.peak5s, mb(r.server.hwmKB), r.self.avg,
		r.machine.avg, numCPU(), r.machine.peak5s, math.Max(0, r.machine.avg-r.worker.avg-r.server.avg-r.db.avg-r.self.avg), largerUser(r))
	if clusterMode() {
		fmt.Fprintf(&b, "PostgreSQL (its process tree) %.2f cores avg (peak 5 s %.2f), %.2f MB/s written.\n",
			r.db.avg, r.db.peak5s, float64(r.db.writes)/(1<<20)/math.Max(1, r.db.window))
	}
	fmt.Fprintf(&b, "Lateness p99: after a timer %s (timer fired late %s, fired → workflow task started %s, workflow task started → search scheduled %s, search scheduled → DataWorks call %s), window retries %s; CPU pressure (some) %.1f%%, IO pressure (some / full) %.1f%% / %.1f%%.\n",
		secs(pct(r.lateTimer, 0.99)), secs(pct(r.timerLate, 0.99)), secs(pct(r.wftQueue, 0.99)), secs(pct(r.wftRun, 0.99)), secs(pct(r.dispatch, 0.99)),
		secs(pct(r.lateRetry, 0.99)), r.psiCPU, r.psiIOSome, r.psiIOFull)
	return b.String()
}

// The fleet's flow, in DataWorks time: about 100 minutes, so about 10
// minutes of clock time at time scale 10.
const (
	fleetFlowName   = "fleet_flow"
	fleetFlowText   = "start (1m) → extract_a (30m) and extract_b (24m) → transform (30m) → load (35m), phases wait 10s, resources 20s, checking 10s, in DataWorks time (about 100 min, 10 min of clock time end to end)"
	fleetBaseNodeID = 105000001
)

var fleetFlow = &benchFlowSpec{name: fleetFlowName, text: fleetFlowText, definition: fleetDefinition}

func fleetDefinition(b testing.TB) *emulator.Definition {
	d := func(v time.Duration) *emulator.Duration { x := emulator.Duration(v); return &x }
	def := &emulator.Definition{Projects: []emulator.Project{{
		Name: benchProject,
		Flows: []emulator.Flow{{
			Name:         fleetFlowName,
			WaitTime:     d(10 * time.Second),
			WaitResource: d(20 * time.Second),
			Checking:     d(10 * time.Second),
			Nodes: []emulator.Node{
				{ID: fleetBaseNodeID, Name: "start", Duration: d(time.Minute), TaskType: "VIRTUAL"},
				{ID: fleetBaseNodeID + 1, Name: "extract_a", Upstream: []int64{fleetBaseNodeID}, Duration: d(30 * time.Minute)},
				{ID: fleetBaseNodeID + 2, Name: "extract_b", Upstream: []int64{fleetBaseNodeID}, Duration: d(24 * time.Minute)},
				{ID: fleetBaseNodeID + 3, Name: "transform", Upstream: []int64{fleetBaseNodeID + 1, fleetBaseNodeID + 2}, Duration: d(30 * time.Minute)},
				{ID: fleetBaseNodeID + 4, Name: "load", Upstream: []int64{fleetBaseNodeID + 3}, Duration: d(35 * time.Minute)},
			},
		}},
	}}}
	require.NoError(b, def.Validate())
	return def
}
