//go:build e2e

package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/internal/emulator"
	"github.com/manualdag/manualdag/workflows"
)

// (9) Verdict faults (issue 12): DataWorks lists part of each DAG's nodes
// for a while after the trigger; while the runs watch, searches answer
// empty lists and then a window of undocumented HTTP-200 business errors.
// Every run must still reach the report of a fault-free run, from its one
// DAG. Then creates answered with a business error after DataWorks created
// the DAG: each ends TriggerOutcomeUnknown with exactly one DAG, and a
// second `starter run` of its bizdate is refused (exit 4), creating none.
// Figures: wrong verdicts (lost) and second DAGs (duplicates), both 0.
func (c *chaos) suiteVerdictFaults(t *testing.T) {
	t.Parallel()
	r := c.row("9 verdict faults")
	// The partial list lasts 4 s of clock time; the runs wait 8 s after the
	// trigger (listSettle) before any verdict: the sample flows' first
	// nodes finish inside the partial window at this time scale, which is
	// exactly when a verdict on the listed nodes alone would be wrong.
	const partialFor, settle = 4 * time.Second, 8 * time.Second
	s := c.suiteStack(t, c.shared, c.sharedClient, timeScale, func(o *emulator.Options) { o.PartialListFor = partialFor })
	const queue = "chaos-verdict"
	c.worker(t, s, r, queue)
	input := func(flow, bizdate string) workflows.RunManualDagInput {
		in := chaosInput(flow, bizdate)
		in.ListSettle = dag.Duration(settle)
		return in
	}

	runs := c.n(2, 8)
	done := make(chan struct{})
	go func() {
		// Faults while the runs watch: empty replies after nodes were
		// listed, then a 15 s window of business errors on every search.
		select {
		case <-time.After(6 * time.Second):
		case <-done:
			return
		}
		s.emu.SetFaults("SearchManualDagNodeInstance", emulator.Faults{EmptyReplies: 2 * runs})
		select {
		case <-time.After(4 * time.Second):
		case <-done:
			return
		}
		s.emu.SetFaults("SearchManualDagNodeInstance", emulator.Faults{BusinessErrorFor: 15 * time.Second})
	}()
	inParallel(t, runs, runs, func(t *testing.T, i int) {
		flow := []string{flowOK, flowBroken}[i%2]
		id := fmt.Sprintf("chaos/verdict/%d", i)
		c.start(t, s, id, queue, input(flow, bizdateN(7000+i)))
		rep, err := finished(t, s.client, id, 6*time.Minute)
		v := c.judge(s, flow, bizdateN(7000+i), rep, err)
		if v.lost || v.duplicate {
			t.Errorf("%s: %s", id, v.why)
		}
		c.count(r, v)
	})
	close(done)
	st := s.emu.Stats()
	search := st.Calls["SearchManualDagNodeInstance"]
	empty, business := search.Outcomes[emulator.OutcomeEmpty], 0
	for outcome, n := range search.Outcomes {
		if outcome != emulator.OutcomeOK && outcome != emulator.OutcomeEmpty {
			business += n
		}
	}
	c.add(func() { r.faults += empty + business + runs }) // every run met a partial list

	// Creates answered with an error after DataWorks acted on them.
	s.emu.ClearFaults("SearchManualDagNodeInstance")
	s.emu.SetFaults("CreateManualDag", emulator.Faults{BusinessErrors: 1000, BusinessErrorAfterProcessing: true})
	creates := c.n(1, 3)
	inParallel(t, creates, creates, func(t *testing.T, i int) {
		bizdate := bizdateN(7050 + i)
		id := workflows.BizdateWorkflowID(project, flowOK, bizdate)
		c.start(t, s, id, queue, input(flowOK, bizdate))
		c.count(r, c.unknownOnceRefusedAgain(t, s, queue, id, bizdate))
		c.add(func() { r.faults++ })
	})
	r.note = fmt.Sprintf("%d runs through a %v partial list, %d empty replies and %d business errors on searches: each its fault-free report; %d creates answered with a business error after processing: TriggerOutcomeUnknown, 1 DAG, `starter run` again exit 4",
		runs, partialFor, empty, business, creates)
}
