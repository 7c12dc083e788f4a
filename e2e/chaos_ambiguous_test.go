//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/internal/emulator"
	"github.com/manualdag/manualdag/workflows"
)

// (4) Ambiguous create, under each API version: the create reaches
// DataWorks, and the worker does not learn what came of it.
//
// Under 2018-06-01 and 2020-05-18 nothing can find the run again: the
// emulator processes CreateManualDag and drops the connection, and every
// run must end TriggerOutcomeUnknown with exactly one DAG; `starter run` of
// the same bizdate is then refused (exit 4) without a second create.
//
// Under 2024-05-18 the create settles it itself (activities/create2024.go):
// whichever of ambiguities2024 a run meets, it must end with the DAG's
// verdict (SUCCEEDED or FAILED, as the flow dictates) from exactly one
// workflow instance and one create sent; a create DataWorks accepted and
// then failed must end DataWorksPermanent, never resent.
//
// Each version's bizdates count from 9000 + 100 × its index in
// dag.APIVersions.
func (c *chaos) suiteAmbiguousCreate(t *testing.T) {
	t.Parallel()
	for i, version := range dag.APIVersions {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			r := c.row("4 ambiguous create " + version)
			if version == dag.APIVersion2024 {
				c.ambiguous2024(t, r, 9000+100*i)
				return
			}
			c.ambiguousUnknown(t, r, version, 9000+100*i)
		})
	}
}

// ambiguousUnknown runs the 2018-06-01 or 2020-05-18 trials: one emulator
// that drops every create's connection after processing it, one worker.
func (c *chaos) ambiguousUnknown(t *testing.T, r *figureRow, version string, base int) {
	s := c.suiteStack(t, c.shared, c.sharedClient, timeScale, func(o *emulator.Options) {
		o.Faults = map[string]emulator.Faults{"CreateManualDag": {DropRate: 1}}
	})
	queue := "chaos-ambiguous-" + version
	c.worker(t, s, r, queue)
	inParallel(t, c.n(1, 5), 5, func(t *testing.T, i int) {
		bizdate := bizdateN(base + i)
		id := workflows.BizdateWorkflowID(project, flowOK, bizdate)
		in := chaosInput(flowOK, bizdate)
		in.APIVersion = version
		c.start(t, s, id, queue, in)
		c.count(r, c.unknownOnceRefusedAgain(t, s, queue, id, bizdate, "--api-version", version))
		c.add(func() { r.faults++ })
	})
	r.note = "each: TriggerOutcomeUnknown, 1 DAG at the emulator; `starter run` again: exit 4, no second create"
}

// unknownOnceRefusedAgain waits for run id of flowOK on bizdate, whose
// create DataWorks acted on without a usable reply: it must end
// TriggerOutcomeUnknown with exactly one DAG, and `starter run` of the same
// bizdate (with the extra flags) must then exit 4 and create none.
func (c *chaos) unknownOnceRefusedAgain(t *testing.T, s *stack, queue, id, bizdate string, extra ...string) verdict {
	t.Helper()
	rep, err := finished(t, s.client, id, 2*time.Minute)
	v := c.judge(s, flowOK, bizdate, rep, err)
	if !v.unknown || v.creates != 1 {
		t.Errorf("%s: want TriggerOutcomeUnknown with one DAG, got %s (%d creates, error %v)", id, v.why, v.creates, err)
	}
	again := s.starter(t, append([]string{"run", "--task-queue", queue, "--project", project, "--flow", flowOK, "--bizdate", bizdate, "--wait"}, extra...)...)
	if n := len(s.emu.CreatedDAGs(project, flowOK, bizdate)); again.Code != 4 || n != 1 {
		t.Errorf("a second start of %s: %s; DAGs %d", id, again, n)
		v.duplicate = v.duplicate || n > 1
	}
	return v
}

// ambiguity2024 is one way a 2024-05-18 create can leave the worker without
// its outcome: faults at the emulator, and a SIGKILL of the worker.
type ambiguity2024 struct {
	name   string
	faults map[string]emulator.Faults
	// kill SIGKILLs the worker killAfter the emulator made the run; a new
	// worker takes over after a random 0–2 s.
	kill      bool
	killAfter time.Duration
	// failure: DataWorks accepts the create and then fails it.
	failure bool
}

// createFailureMessage is the FailureMessage of the injected CreateFailure.
const createFailureMessage = "chaos: workflow 1002101 has no version deployed to Prod"

// ambiguities2024 are the trials of suite 4 under 2024-05-18, one each in the
// short variant, each with both flows in the full one.
var ambiguities2024 = []ambiguity2024{
	// The reply is 3 s away: the next attempt looks the run up by its marker.
	{name: "worker killed before the create's reply", kill: true,
		faults: map[string]emulator.Faults{"CreateWorkflowInstances": {Latency: 3 * time.Second}}},
	// The OperationId is recorded and a result read is in flight for
	// 3 s: the next attempt reads the OperationId whose result was never
	// read.
	{name: "worker killed before it read the result", kill: true, killAfter: time.Second,
		faults: map[string]emulator.Faults{"GetCreateWorkflowInstancesResult": {Latency: 3 * time.Second}}},
	{name: "create reply dropped",
		faults: map[string]emulator.Faults{"CreateWorkflowInstances": {DropRate: 1}}},
	{name: "2 result replies dropped",
		faults: map[string]emulator.Faults{"GetCreateWorkflowInstancesResult": {DropReplies: 2}}},
	{name: "CreateFailure", failure: true,
		faults: map[string]emulator.Faults{"CreateWorkflowInstances": {CreateFailures: 1, CreateFailureMessage: createFailureMessage}}},
}

// ambiguous2024 runs the 2024-05-18 trials, each on an emulator and a
// worker of its own, so that its faults and call counts are its own.
func (c *chaos) ambiguous2024(t *testing.T, r *figureRow, base int) {
	kinds := len(ambiguities2024)
	settled := map[string]int{}
	inParallel(t, c.n(kinds, 2*kinds), kinds, func(t *testing.T, i int) {
		a := ambiguities2024[i%kinds]
		flow := []string{flowOK, flowBroken}[(i%kinds+i/kinds)%2]
		s := c.suiteStack(t, c.shared, c.sharedClient, timeScale, func(o *emulator.Options) {
			o.Faults, o.CreatingFor = a.faults, 500*time.Millisecond
		})
		queue := fmt.Sprintf("chaos-ambiguous-2024-%d", i)
		w := c.worker(t, s, r, queue)
		bizdate := bizdateN(base + i)
		in := chaosInput(flow, bizdate)
		in.ProjectName, in.FlowName = dagNames(dag.APIVersion2024, flow)
		in.APIVersion = dag.APIVersion2024
		id := workflows.BizdateWorkflowID(in.ProjectName, in.FlowName, bizdate)
		c.start(t, s, id, queue, in)
		if a.kill {
			s.dagFor(t, flow, bizdate)
			time.Sleep(a.killAfter)
			c.kill(w)
			time.Sleep(time.Duration(c.rng(uint64(base + i)).Int64N(int64(2 * time.Second))))
			c.worker(t, s, r, queue)
		}
		rep, err := finished(t, s.client, id, 4*time.Minute)
		st := s.emu.Stats()
		var v verdict
		how := "by OperationId"
		switch {
		case a.failure:
			v, how = createFailed(s, flow, bizdate, err), "DataWorksPermanent"
		default:
			v = c.judge(s, flow, bizdate, rep, err)
			if st.Calls["ListWorkflowInstances"].Total > 0 {
				how = "by marker"
			}
		}
		if sent := st.Calls["CreateWorkflowInstances"].Total; sent != 1 {
			v.correct, v.duplicate, v.why = false, v.duplicate || sent > 1, fmt.Sprintf("%d creates sent; %s", sent, v.why)
		}
		if !v.correct {
			t.Errorf("%s (%s, %s): %s", id, a.name, flow, v.why)
			v.correct, v.unknown, v.lost = false, false, true
		}
		// `starter run` again: refused after SUCCEEDED; after a CreateFailure
		// (no run exists) let through, to the verdict of the one run it makes.
		wantCode := -1
		switch {
		case !v.correct:
		case a.failure:
			wantCode = map[string]int{flowOK: 0, flowBroken: 1}[flow]
		case flow == flowOK:
			wantCode = 2
		}
		if wantCode >= 0 {
			again := s.starter(t, append(append([]string{"run", "--task-queue", queue, "--bizdate", bizdate, "--wait"},
				dagArgs(dag.APIVersion2024, flow)...), fastPoll...)...)
			if n := len(s.emu.CreatedDAGs(project, flow, bizdate)); again.Code != wantCode || n != 1 {
				t.Errorf("a second start of %s: %s; instances %d, want exit %d and 1", id, again, n, wantCode)
				v.duplicate = v.duplicate || n > 1
			}
		}
		// A kill or a CreateFailure is one fault; dropped replies count each.
		faults := st.Calls["GetCreateWorkflowInstancesResult"].Outcomes[emulator.OutcomeDropped] +
			st.Calls["CreateWorkflowInstances"].Outcomes[emulator.OutcomeDropped]
		if a.kill || a.failure {
			faults = 1
		}
		c.count(r, v)
		c.add(func() {
			r.faults += faults
			settled[a.name+": "+how]++
		})
	})
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(settled)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, settled[k]))
	}
	r.note = "each: the DAG's verdict from 1 workflow instance, 1 create sent (after SUCCEEDED `starter run` again: exit 2, no second instance); " +
		"a CreateFailure: DataWorksPermanent with its FailureMessage, 0 instances, 1 create (`starter run` again goes through to the one run's verdict). " +
		"Settled: " + strings.Join(parts, "; ")
}

// createFailed judges a run whose create DataWorks accepted and then failed:
// correct is the final, non-retryable DataWorksPermanent carrying
// DataWorks' FailureMessage, with no workflow instance made.
func createFailed(s *stack, flow, bizdate string, err error) verdict {
	ids := s.emu.CreatedDAGs(project, flow, bizdate)
	v := verdict{creates: len(ids), duplicate: len(ids) > 1}
	var appErr *temporal.ApplicationError
	switch {
	case !errors.As(err, &appErr) || appErr.Type() != dag.ErrPermanent || !appErr.NonRetryable():
		v.lost, v.why = true, fmt.Sprintf("want a non-retryable %s, got %v", dag.ErrPermanent, err)
	case !strings.Contains(appErr.Message(), createFailureMessage):
		v.lost, v.why = true, fmt.Sprintf("the error does not carry DataWorks' FailureMessage: %v", err)
	case len(ids) != 0:
		v.lost, v.why = true, fmt.Sprintf("%d workflow instances after a CreateFailure", len(ids))
	default:
		v.correct = true
	}
	return v
}
