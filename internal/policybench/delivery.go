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
		ev.ID = fmt.Sprintf("%s/%s/%d/%s", run.WorkflowID, ev.Kind, ev.InstanceID, ev.Status)
		ev.Time = time.Unix(at, 0).UTC()
		ev.DagID = DagID
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
			send(n.Ready, dag.Event{Kind: dag.EventInstance, InstanceID: n.ID, Status: n.Wait})
			send(n.Start, dag.Event{Kind: dag.EventInstance, InstanceID: n.ID, Status: dag.StatusRunning})
			send(n.Finish, dag.Event{Kind: dag.EventInstance, InstanceID: n.ID, Status: final, Final: true})
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
// delivery: how many DAG events each received and how many it missed (the
// count a run makes at its verdict, workflows/events.go), each event lost
// as this run's are; a run that lost both kept no count.
func (d Delivery) earlier(run *Run) []dag.RunTimings {
	if !d.On || len(run.Earlier) == 0 {
		return run.Earlier
	}
	out := slices.Clone(run.Earlier)
	for k := range out {
		id := fmt.Sprint(run.Flow, out[k].Finish) // the same earlier run, whichever later run asks
		for _, ev := range []string{"start", "end"} {
			if d.Drop > 0 && unit(id, ev) < d.Drop {
				out[k].EventMiss++
			} else {
				out[k].Events++
			}
		}
		if out[k].Events == 0 {
			out[k].EventMiss = 0
		}
	}
	return out
}

// unit is a number in [0,1) for (a, b), the same on every replay. FNV
// alone barely moves its high bits for a change in the last byte (".../0"
// and ".../1" would draw alike): splitmix64's finaliser mixes them.
func unit(a, b string) float64 {
	h := fnv.New64a()
	h.Write([]byte(a + "\x00" + b))
	x := h.Sum64()
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / (1 << 53)
}
