package policybench

import (
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/manualdag/manualdag/dag"
)

// Delivery is how DataWorks' pushed events (OpenEvent, issue 16) reach a
// run: the signals the OpenEvent receiver would send it. The zero value is
// no events, as without OpenEvent.
type Delivery struct {
	// On sends a DAG event when the run starts (RUNNING, at the trigger)
	// and when it ends (SUCCESS or FAILURE, when the timeline is final),
	// each Delay after DataWorks' change.
	On    bool
	Delay time.Duration
	// Drop loses that share of the events, seeded by the run and the event
	// (the same events are lost under every replay). The flow's earlier
	// runs lost theirs alike, and their memos say so (earlier).
	Drop float64
	// Instances also sends an event per node change (waiting, running,
	// final), which DataWorks documents only for auto-triggered nodes.
	Instances bool
	// Forged adds, every forgedEvery from forgedFirst after the trigger, a
	// forged final DAG event (SUCCESS and FAILURE by turns) and one about
	// another DAG, and replays every real event replayAfter later.
	Forged bool
}

// Events is the benchmark's delivery: about a second from DataWorks to the
// workflow (EventBridge, the receiver and a signal).
var Events = Delivery{On: true, Delay: 1200 * time.Millisecond}

const (
	forgedFirst = 3 * time.Minute
	forgedEvery = 7 * time.Minute
	replayAfter = 30 * time.Second
)

// timedEvent is an event and when it reaches the workflow.
type timedEvent struct {
	at time.Time
	ev dag.Event
}

// events are the events run's workflow receives, in time order.
func (d Delivery) events(run *Run) []timedEvent {
	if !d.On {
		return nil
	}
	tl := &run.Timeline
	var out []timedEvent
	send := func(at int64, ev dag.Event) {
		ev.ID = fmt.Sprintf("%s/%d", run.WorkflowID, len(out))
		ev.Time = time.Unix(at, 0).UTC()
		if ev.DagID == 0 {
			ev.DagID = DagID
		}
		if d.Drop > 0 && unit(run.WorkflowID, ev.ID) < d.Drop {
			return
		}
		out = append(out, timedEvent{time.Unix(at, 0).Add(d.Delay).UTC(), ev})
	}
	end := dag.StatusSuccess
	if tl.Failed() {
		end = dag.StatusFailure
	}
	send(tl.Trigger, dag.Event{Kind: dag.EventDag, Status: dag.StatusRunning})
	send(tl.Final(), dag.Event{Kind: dag.EventDag, Status: end, Final: true})
	if d.Instances {
		for _, n := range tl.Nodes {
			if n.Ready == 0 {
				continue
			}
			final := dag.StatusSuccess
			if n.Failed {
				final = dag.StatusFailure
			}
			send(n.Ready, dag.Event{Kind: dag.EventInstance, NodeID: n.ID, Status: n.Wait})
			send(n.Start, dag.Event{Kind: dag.EventInstance, NodeID: n.ID, Status: dag.StatusRunning})
			send(n.Finish, dag.Event{Kind: dag.EventInstance, NodeID: n.ID, Status: final, Final: true})
		}
	}
	if d.Forged {
		for _, real := range slices.Clone(out) {
			out = append(out, timedEvent{real.at.Add(replayAfter), real.ev})
		}
		forged := []dag.Status{dag.StatusSuccess, dag.StatusFailure}
		for i, at := 0, tl.Trigger+int64(forgedFirst/time.Second); at < tl.Final(); i, at = i+1, at+int64(forgedEvery/time.Second) {
			t := time.Unix(at, 0).UTC()
			ev := dag.Event{ID: fmt.Sprintf("forged/%d", i), Kind: dag.EventDag, DagID: DagID, Status: forged[i%2], Final: true, Time: t}
			other := ev
			other.ID, other.DagID = ev.ID+"/other", DagID+1
			out = append(out, timedEvent{t, ev}, timedEvent{t, other})
		}
	}
	slices.SortStableFunc(out, func(a, b timedEvent) int { return a.at.Compare(b.at) })
	return out
}

// earlier are the flow's earlier runs as their memos would be with this
// delivery: how many events each received, and the start event missed when
// it was lost and the end's came (the count a run makes, events.go). A
// lost end event is left uncounted: runs on the normal policy often see
// the end before it would be due, so the count under-reports losses, and
// the figures of a lossy delivery are, if anything, pessimistic.
func (d Delivery) earlier(run *Run) []dag.RunTimings {
	if !d.On || len(run.Earlier) == 0 {
		return run.Earlier
	}
	out := slices.Clone(run.Earlier)
	for k := range out {
		id := fmt.Sprint(run.Flow, out[k].Finish) // the same earlier run, whichever later run asks
		startLost := d.Drop > 0 && unit(id, "start") < d.Drop
		endLost := d.Drop > 0 && unit(id, "end") < d.Drop
		switch {
		case startLost && endLost:
		case startLost:
			out[k].Events, out[k].EventMiss = 1, 1
		case endLost:
			out[k].Events = 1
		default:
			out[k].Events = 2
		}
	}
	return out
}

// unit is a number in [0,1) for (a, b), the same on every replay.
func unit(a, b string) float64 {
	h := fnv.New64a()
	h.Write([]byte(a + "\x00" + b))
	return float64(h.Sum64()>>11) / (1 << 53)
}
