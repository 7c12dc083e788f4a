//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/internal/emulator"
	"github.com/manualdag/manualdag/openevent"
	"github.com/manualdag/manualdag/workflows"
)

// BenchmarkOpenEvents is issue 16's figure on the real dev server: the same
// runs under three deliveries side by side, each on a stack of its own (a
// Temporal dev server, the emulator at time scale 1 pushing v2-signed
// events to its worker's receiver, the worker binary): every event
// delivered, 30 % of them dropped, and no events (the poll policy alone).
//
// Runs, per delivery: the fleet's 5- and 15-minute flows (e2e's fleetMix),
// each with 3 earlier runs seeded (they poll predicted; their memos say
// they received the events this delivery gives, so that events may lead,
// workflows.EventTrustRuns) and a copy of each never run before (first
// runs); per flow two runs that succeed and one whose last node fails half
// way through. Every run is started at once with the default input
// (project, flow, bizdate).
//
// Events reach the receiver 1 s after DataWorks' change (EventBridge's
// delivery time is not documented) and are retried as EventBridge's
// back-off policy does (3 tries, 10 to 20 s apart). End detection is the
// run's close minus the DAG's true end (the emulator's); calls are the
// create and every search. About 20 minutes; run it alone
// (MANUALDAG_BENCH=1, make bench-events; MANUALDAG_BENCH_OUT=FILE writes
// the table to FILE).
func BenchmarkOpenEvents(b *testing.B) {
	if os.Getenv("MANUALDAG_BENCH") != "1" {
		b.Skip("the real-server benchmark runs only with MANUALDAG_BENCH=1 (make bench-events)")
	}
	wait := eventsBenchWait(b)
	workerBin := buildBenchWorker(b)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(b, err)
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(b, err)
	pubFile := filepath.Join(b.TempDir(), "eventbridge.pem")
	require.NoError(b, os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600))

	deliveries := []eventsDelivery{
		{name: "events", on: true, faults: emulator.EventFaults{Delay: time.Second}},
		{name: "events, 30 % dropped", on: true, faults: emulator.EventFaults{Delay: time.Second, DropRate: 0.3}},
		{name: "no events", on: false},
	}
	load0 := loadAvg()
	start := time.Now()
	// Stacks are set up and runs started on this goroutine (require may
	// stop it); the waits go side by side.
	waits := make([]func() []eventsRun, len(deliveries))
	for i, d := range deliveries {
		waits[i] = startEventsDelivery(b, d, workerBin, key, pubFile, wait)
	}
	results := make([][]eventsRun, len(deliveries))
	var wg sync.WaitGroup
	for i := range deliveries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = waits[i]()
		}()
	}
	wg.Wait()
	text := eventsReport(deliveries, results, load0, loadAvg(), time.Since(start))
	fmt.Println(text)
	if path := os.Getenv("MANUALDAG_BENCH_OUT"); path != "" {
		require.NoError(b, os.WriteFile(path, []byte(text), 0o644))
	}
}

type eventsDelivery struct {
	name   string
	on     bool
	faults emulator.EventFaults
}

// eventsRun is one run's figures.
type eventsRun struct {
	flow, stratum string // stratum: first, seeded
	fails         bool
	dagLength     time.Duration
	detection     time.Duration
	calls         int
	wrong         bool // the verdict is not DataWorks'
	dags          int
}

// The flows of the benchmark, and copies never run before: fleetMix's two
// shortest (about 20 minutes), or the fleetMix flows that
// MANUALDAG_BENCH_EVENTS_FLOWS lists (e.g. mix_60m: a DAG long enough for
// the calls per DAG-hour to mean something, about 70 minutes).
var eventsBenchFlows = benchEventsFlows()

func benchEventsFlows() []string {
	v := os.Getenv("MANUALDAG_BENCH_EVENTS_FLOWS")
	if v == "" {
		return []string{"mix_5m", "mix_15m"}
	}
	return strings.Split(v, ",")
}

// eventsBenchWait is how long the benchmark waits for a run's report: the
// flows' longest run and then some.
func eventsBenchWait(b testing.TB) time.Duration {
	longest := time.Duration(0)
	for _, name := range eventsBenchFlows {
		i := slices.IndexFunc(fleetMix, func(f mixFlow) bool { return f.name == name })
		if i < 0 {
			b.Fatalf("MANUALDAG_BENCH_EVENTS_FLOWS names %q, which is no flow of the fleet mix (%s)", name, mixFlowText())
		}
		longest = max(longest, mixTimings(fleetMix[i]).end())
	}
	return longest + 30*time.Minute
}

const eventsFailDateBench = "2024-12-03"

func eventsBenchDefinition(b testing.TB) *emulator.Definition {
	def := fleetMixDefinition(b)
	p := &def.Projects[0]
	var flows []emulator.Flow
	half := func(d *emulator.Duration) *emulator.Duration { x := *d / 2; return &x }
	for _, f := range p.Flows {
		if !slices.Contains(eventsBenchFlows, f.Name) {
			continue
		}
		for _, name := range []string{f.Name, "first_" + f.Name} {
			g := f
			g.Name = name
			g.Nodes = slices.Clone(f.Nodes)
			for i := range g.Nodes {
				g.Nodes[i].Upstream = slices.Clone(g.Nodes[i].Upstream)
			}
			last := &g.Nodes[len(g.Nodes)-1]
			last.ByBizdate = map[string]emulator.NodeVariant{eventsFailDateBench: {Duration: half(last.Duration), Outcome: emulator.OutcomeFailure}}
			if name != f.Name {
				for i := range g.Nodes {
					g.Nodes[i].ID += 1000
					for j := range g.Nodes[i].Upstream {
						g.Nodes[i].Upstream[j] += 1000
					}
				}
			}
			flows = append(flows, g)
		}
	}
	p.Flows = flows
	require.NoError(b, def.Validate())
	return def
}

// startEventsDelivery sets up d's stack and starts its runs; the function
// it returns waits for them (on any goroutine: it fails no benchmark).
func startEventsDelivery(b *testing.B, d eventsDelivery, workerBin string, key *rsa.PrivateKey, pubFile string, wait time.Duration) func() []eventsRun {
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(b)))
	s := newStackWith(b, startTemporal(b), func(o *emulator.Options) {
		o.Definition = eventsBenchDefinition(b)
		o.TimeScale = 1
		if d.on {
			o.Events = emulator.EventOptions{URL: "http://" + listen + "/dataworks", Faults: d.faults,
				Signer: func(now func() time.Time) (emulator.EventSigner, error) {
					return &openevent.Signer{Key: key, CertURL: eventCertURL, Version: openevent.V2, Now: now}, nil
				}}
		}
	})
	s.workerBin = workerBin
	var extra []string
	if d.on {
		extra = []string{"MANUALDAG_EVENTS_LISTEN=" + listen, "MANUALDAG_EVENTS_AUTH=v2", "MANUALDAG_EVENTS_PUBLIC_KEY=" + pubFile}
	}
	s.startWorker(b, workflows.TaskQueue, extra...)
	// The earlier runs received events as this delivery gives them: all,
	// or each lost with its chance (drawn per run and event, seeded).
	var events func(flow string, k int) (int32, int32)
	if d.on {
		events = func(flow string, k int) (received, missed int32) {
			rng := mrand.New(mrand.NewPCG(uint64(len(flow)), uint64(k)+uint64(flow[len(flow)-2])))
			for range 2 {
				if rng.Float64() < d.faults.DropRate {
					missed++
				} else {
					received++
				}
			}
			if received == 0 {
				return 0, 0 // a run that received no event says nothing (dag.RunTimings)
			}
			return received, missed
		}
	}
	seedEarlierRuns(b, s.client, 3, events)

	type job struct{ flow, bizdate, stratum string }
	var jobs []job
	for _, f := range eventsBenchFlows {
		for _, bizdate := range []string{"2024-12-01", "2024-12-02", eventsFailDateBench} {
			jobs = append(jobs, job{f, bizdate, "seeded"}, job{"first_" + f, bizdate, "first"})
		}
	}
	runs := make([]client.WorkflowRun, len(jobs))
	for i, j := range jobs {
		in := workflows.RunManualDagInput{ProjectName: benchProject, FlowName: j.flow, Bizdate: j.bizdate}
		id := workflows.BizdateWorkflowID(in.ProjectName, in.FlowName, in.Bizdate)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		run, err := s.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: id, TaskQueue: workflows.TaskQueue,
			WorkflowIDReusePolicy:                    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
			WorkflowIDConflictPolicy:                 enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
			WorkflowExecutionErrorWhenAlreadyStarted: true,
			TypedSearchAttributes:                    workflows.StartSearchAttributes(in, func(temporal.SearchAttributeKey) bool { return true }),
		}, workflows.WorkflowName, in)
		cancel()
		require.NoError(b, err, "start %s", id)
		runs[i] = run
	}
	return func() []eventsRun {
		out := make([]eventsRun, len(jobs))
		var wg sync.WaitGroup
		for i, j := range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rep, err := waitReport(s.client, runs[i].GetID(), wait)
				info, found := s.emu.DAG(rep.DagID)
				want := dag.OutcomeSucceeded
				if info.Status == emulator.DAGFailure {
					want = dag.OutcomeFailed
				}
				// A run with no verdict, or no DAG, counts as wrong.
				out[i] = eventsRun{flow: strings.TrimPrefix(j.flow, "first_"), stratum: j.stratum, fails: j.bizdate == eventsFailDateBench,
					dagLength: info.FinishedAt.Sub(info.CreatedAt), detection: rep.FinishedAt.Sub(info.FinishedAt),
					calls: rep.Polls + 1, wrong: err != nil || !found || rep.Outcome != want || info.FinishedAt.IsZero(),
					dags: len(s.emu.CreatedDAGs(benchProject, j.flow, j.bizdate))}
			}()
		}
		wg.Wait()
		return out
	}
}

// eventsReport is the side-by-side table: per delivery and stratum, the
// end detection p50 / p95 / max, calls per run and per DAG-hour, wrong
// verdicts and DAGs per run.
func eventsReport(ds []eventsDelivery, results [][]eventsRun, load0, load1 string, took time.Duration) string {
	var sb strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&sb, format, a...) }
	w("# manualdag OpenEvent benchmark (issue 16)\n\n")
	w("%s, %d CPUs; load average (1, 5, 15 min) before: %s, after: %s; took %s.\n\n", time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), load0, load1, took.Round(time.Second))
	w("Three stacks side by side, each a Temporal dev server, the worker binary (no -race) and the emulator at time scale 1 over signed HTTP; with events the emulator pushes v2-signed DagStatusChanges 1 s after each change to the worker's receiver (-events-listen, pinned key), retried 3 times 10–20 s apart on a 5xx. ")
	w("Runs per stack: the flows %s, each with 3 earlier runs seeded (\"seeded\": their memos received the events the delivery gives, all or each lost at 30 %%, so events may lead from the first run, 3 being the trust threshold) and a copy never run before (\"first\": events only hint); per flow two runs that succeed and one whose last node fails half way. Default input (project, flow, bizdate). ", strings.Join(eventsBenchFlows, ", "))
	w("End detection: the run's close minus the DAG's true end. Calls: the create and every search; per DAG-hour: the stratum's calls over its DAGs' hours.\n\n")
	w("| delivery | stratum | runs | end detection p50 / p95 / max | calls per run mean / max | calls per DAG-hour | wrong verdicts | DAGs per run |\n")
	w("|---|---|---|---|---|---|---|---|\n")
	for i, d := range ds {
		strata := []struct {
			name string
			keep func(eventsRun) bool
		}{
			{"all", func(eventsRun) bool { return true }},
			{"first runs", func(r eventsRun) bool { return r.stratum == "first" }},
			{"seeded", func(r eventsRun) bool { return r.stratum == "seeded" }},
			{"failures", func(r eventsRun) bool { return r.fails }},
		}
		for _, f := range eventsBenchFlows {
			strata = append(strata, struct {
				name string
				keep func(eventsRun) bool
			}{f + " (succeeded)", func(r eventsRun) bool { return r.flow == f && !r.fails }})
		}
		for _, st := range strata {
			var det []time.Duration
			var calls, maxCalls, wrong, dags, n int
			var hours float64
			for _, r := range results[i] {
				if !st.keep(r) {
					continue
				}
				n++
				det = append(det, r.detection)
				calls += r.calls
				maxCalls = max(maxCalls, r.calls)
				hours += r.dagLength.Hours()
				dags += r.dags
				if r.wrong {
					wrong++
				}
			}
			if n == 0 {
				continue
			}
			w("| %s | %s | %d | %s / %s / %s | %.1f / %d | %.1f | %d | %.2f |\n", d.name, st.name, n,
				secs(pct(det, 0.50)), secs(pct(det, 0.95)), secs(slices.Max(det)), float64(calls)/float64(n), maxCalls,
				float64(calls)/math.Max(hours, 1e-9), wrong, float64(dags)/float64(n))
		}
	}
	return sb.String()
}
