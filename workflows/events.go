package workflows

// DataWorks' pushed events (OpenEvent, issue 16): the receiver signals a run
// with dag.SignalEvent, and the run takes each event as a hint to look now.
// Only a search decides a verdict, so a forged, stale or misrouted event can
// cost a call but never a wrong verdict. docs/design.md, "Push events",
// explains the three modes:
//
//   - no event received: the poll policy alone, exactly as without events;
//   - events received but not trusted: the poll policy, and each event makes
//     the run look now (unless the latest look shows what it says already);
//   - events lead ("events lean"): an event this run received was confirmed
//     by the look it caused, at least EventTrustRuns earlier runs of the
//     flow received events and none of the last 7 missed one, so
//     polling backs off to EventSafetyNet, until a silence (EventSilence)
//     hands the run back to the poll policy.

import (
	"cmp"
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/manualdag/manualdag/dag"
)

const (
	// EventSafetyNet is the longest wait between two looks while events
	// lead the run, and the failure watch then (a node failure is not a
	// DAG event: it is seen within this, the DAG's end within seconds).
	// Waits are never shorter than the poll policy wants.
	EventSafetyNet = 10 * time.Minute
	// EventSilence ends the lean mode when the flow's earlier runs
	// predicted the end and no event has come for this long past the
	// predicted end (the last moment of the region where the end is
	// likely, see PredictivePolicy.LikelyEnd), or past the last event if
	// that is later. Then the poll policy takes over again, and the
	// status says so. A DAG sends its DAG events when it starts and when
	// it ends, so silence says something only once the end is due:
	// without a prediction there is no due end, the events lead until the
	// DAG's final event, and EventSafetyNet bounds how late a lost one
	// leaves the end (falling back after an hour of silence, say, would
	// spend the policy's blind prompt polling, 200 searches an hour, on
	// every long first-time run for nothing).
	EventSilence = 5 * time.Minute

	// eventCoalesce spaces the looks events cause: events that come
	// together, or a flood of forged ones, cost at most one search per
	// eventCoalesce.
	eventCoalesce = 2 * time.Second
	// eventConfirm: a final DAG event that the search does not confirm
	// (DataWorks' DAG status and its node list are two views, not
	// promised to change at once; or the event is forged) is looked
	// into again, eventCoalesce doubled per look, for this long: 2, 6,
	// 14 and 30 s after the look it caused, four more searches at most.
	eventConfirm = 30 * time.Second
	// eventLate: a run over sooner than this after its trigger does not
	// count its start event as missed (it may be on its way); see
	// eventMisses.
	eventLate = 30 * time.Second
	// EventTrustRuns: events lead a run only once this many of the flow's
	// earlier runs received events, none of the last 7 missing one. A DAG
	// sends two DAG events, and a lost final one is seen only by the
	// safety net: trusted on no evidence (a first-time flow, or one whose
	// feed loses events), events would make a run minutes late wherever
	// the final event is lost, where the poll policy alone is prompt. With
	// 30 % of events lost, 3 clean runs in a row come 12 % of the time.
	EventTrustRuns = 3

	// maxPendingEvents bounds the events kept before the DAG id is known
	// and those waiting for a look to check them.
	maxPendingEvents = 8
)

// EventState is what a run learned from events, carried across
// continue-as-new (the zero value: no event).
type EventState struct {
	// Received counts the events about this run's DAG; Ignored the others
	// (another DAG, an unknown kind).
	Received int `json:"received,omitempty"`
	Ignored  int `json:"ignored,omitempty"`
	// LastAt is when the last event about the DAG came (workflow time),
	// Last what it said.
	LastAt time.Time `json:"lastAt,omitzero"`
	Last   string    `json:"last,omitempty"`
	// Started and Ended: a DAG event that is not final, and a final one,
	// came (for the count of missed events).
	Started bool `json:"started,omitempty"`
	Ended   bool `json:"ended,omitempty"`
	// Agreed: a look confirmed an event.
	Agreed bool `json:"agreed,omitempty"`
	// ConfirmUntil: a final event the look did not confirm is looked into
	// again until then; Confirms counts those looks.
	ConfirmUntil time.Time `json:"confirmUntil,omitzero"`
	Confirms     int       `json:"confirms,omitempty"`
}

// eventMode is how events steer the run's waits.
type eventMode int

const (
	eventsNone   eventMode = iota // no event: the poll policy alone
	eventsHint                    // events make the run look now
	eventsLean                    // events lead; polling is a safety net
	eventsSilent                  // events led, then fell silent: the poll policy
)

// listenForEvents receives the events the OpenEvent receiver signals, for
// the run's life. An event it cannot decode is dropped by the SDK (logged
// and counted as a corrupted signal).
func (r *run) listenForEvents(ctx workflow.Context) {
	r.events = workflow.NewBufferedChannel(ctx, 1)
	ch := workflow.GetSignalChannel(ctx, dag.SignalEvent)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var ev dag.Event
			if more := ch.Receive(ctx, &ev); !more {
				return
			}
			r.event(ctx, ev)
		}
	})
}

// event sorts one event: a hint for later before the DAG id is known,
// ignored when it is about another DAG, accepted otherwise.
func (r *run) event(ctx workflow.Context, ev dag.Event) {
	switch {
	case ev.Kind != dag.EventDag && ev.Kind != dag.EventInstance:
		r.st.Events.Ignored++
		r.logger.Warn("Ignoring a DataWorks event of an unknown kind", "eventId", ev.ID, "kind", ev.Kind)
	case r.report.DagID == 0:
		if len(r.hints) == maxPendingEvents {
			r.hints = r.hints[1:]
			r.st.Events.Ignored++
		}
		r.hints = append(r.hints, ev)
	case ev.DagID != r.report.DagID:
		r.st.Events.Ignored++
		r.logger.Info("Ignoring a DataWorks event about another DAG", "eventId", ev.ID, "eventDagId", ev.DagID)
	default:
		if r.accept(ctx, ev) {
			r.events.SendAsync(struct{}{}) // full: asked for already
		}
	}
	// Every signal adds to the history, also those that ask for no look
	// (ignored, already confirmed): a stream of them during a long wait
	// must not carry the history past its limits, so the watch is woken
	// to continue as new.
	if r.report.DagID != 0 && !r.compact && (workflow.GetInfo(ctx).GetContinueAsNewSuggested() || r.historyFull(ctx)) {
		r.compact = true
		r.events.SendAsync(struct{}{})
	}
}

// takeHints sorts the events that came before the DAG id was known. The
// watch's first look is due at once, so they ask for no look of their own.
func (r *run) takeHints(ctx workflow.Context) {
	hints := r.hints
	r.hints = nil
	for _, ev := range hints {
		if ev.DagID == r.report.DagID {
			r.accept(ctx, ev)
		} else {
			r.st.Events.Ignored++
		}
	}
}

// accept records an event about the run's DAG, and reports whether the
// watch has something to do: look (the next look checks the event), or
// choose its wait again. An event the latest snapshot shows already (the
// DAG event of a DAG that runs, most often) is news to nobody: it is
// confirmed without a look.
func (r *run) accept(ctx workflow.Context, ev dag.Event) bool {
	es := &r.st.Events
	es.Received++
	es.LastAt, es.Last = workflow.Now(ctx), describeEvent(ev)
	if ev.Kind == dag.EventDag {
		es.Started = es.Started || !ev.Final
		es.Ended = es.Ended || ev.Final
	}
	r.logger.Info("DataWorks event", "eventId", ev.ID, "event", es.Last)
	if eventAgrees(ev, r.st.Nodes, dagEnded(r.st.Nodes)) {
		if es.Agreed {
			return false
		}
		r.logger.Info("The latest search confirms a DataWorks event", "event", describeEvent(ev))
		es.Agreed = true
		// Events may lead now: the wait is chosen again.
		r.replan = r.distrust() == ""
		return r.replan
	}
	if len(r.unchecked) == maxPendingEvents {
		r.unchecked = r.unchecked[1:]
	}
	r.unchecked = append(r.unchecked, ev)
	return true
}

func describeEvent(ev dag.Event) string {
	what := "DAG"
	if ev.Kind == dag.EventInstance {
		what = fmt.Sprintf("node %d", cmp.Or(ev.NodeID, ev.InstanceID))
	}
	switch {
	case ev.Status != "":
		return what + " " + string(ev.Status)
	case ev.Final:
		return what + " final"
	}
	return what + " changed"
}

// takeUnchecked hands the events received so far to the look that starts
// now, and consumes their request for a look: this look serves them.
func (r *run) takeUnchecked() []dag.Event {
	r.events.ReceiveAsync(nil)
	evs := r.unchecked
	r.unchecked = nil
	return evs
}

// requeue puts back events a look could not check (it saw nothing usable).
func (r *run) requeue(evs []dag.Event) {
	r.unchecked = append(evs, r.unchecked...)
	if n := len(r.unchecked); n > maxPendingEvents {
		r.unchecked = r.unchecked[n-maxPendingEvents:]
	}
}

// checkEvents compares the events a look was for with what it saw. A
// confirmed event lets events lead (with a clean history); a final DAG
// event the look did not confirm is looked into again for eventConfirm.
// Neither ever touches the verdict.
func (r *run) checkEvents(ctx workflow.Context, evs []dag.Event) {
	es := &r.st.Events
	now := workflow.Now(ctx)
	ended := dagEnded(r.st.Nodes)
	if ended {
		es.ConfirmUntil = time.Time{}
	}
	for _, ev := range evs {
		if eventAgrees(ev, r.st.Nodes, ended) {
			if !es.Agreed {
				r.logger.Info("A search confirmed a DataWorks event", "event", describeEvent(ev))
			}
			es.Agreed = true
			continue
		}
		if ev.Kind == dag.EventDag && ev.Final && !ended {
			es.ConfirmUntil, es.Confirms = now.Add(eventConfirm), 0
			r.logger.Info("The search does not show the end a DataWorks event announced; looking again", "event", describeEvent(ev), "until", es.ConfirmUntil)
		}
	}
}

// dagEnded reports whether the nodes show a DAG run that can go no
// further: nothing active, every node final or, behind a failure, not run.
// It judges events only; Decide alone judges the run.
func dagEnded(nodes []dag.Node) bool {
	if len(nodes) == 0 {
		return false
	}
	failed := false
	for _, n := range nodes {
		switch {
		case n.Status == dag.StatusFailure:
			failed = true
		case n.Status == dag.StatusSuccess, n.Status == dag.StatusNotRun:
		default:
			return false // active, or a status nobody documented
		}
	}
	return failed || countNodes(nodes, func(s dag.Status) bool { return s == dag.StatusNotRun }) == 0
}

// eventAgrees reports whether a look's nodes confirm an event: a DAG event
// that is not final, a DAG that goes on; a final one, a DAG that ended; a
// node's event, the node (by instance id) in the status the event says
// (final or not, when it says no status).
func eventAgrees(ev dag.Event, nodes []dag.Node, ended bool) bool {
	if ev.Kind == dag.EventDag {
		return len(nodes) > 0 && ev.Final == ended
	}
	for _, n := range nodes {
		if ev.InstanceID != 0 && n.ID == ev.InstanceID {
			if ev.Status != "" {
				return n.Status == ev.Status
			}
			return n.Status.Terminal() == ev.Final
		}
	}
	return false
}

// eventSpacing is the least time between two looks events cause:
// eventCoalesce, or the daily budget's floor under every wait when that is
// longer, so that events never spend the budget faster than polling may.
func (r *run) eventSpacing() time.Duration {
	return max(eventCoalesce, r.pollFloor)
}

// eventMode is how events steer the wait chosen at obs, and, when they
// lead, when their silence hands the run back to the poll policy.
func (r *run) eventMode(obs Observation) (eventMode, time.Time) {
	es := r.st.Events
	if es.Received == 0 {
		return eventsNone, time.Time{}
	}
	if r.distrust() != "" {
		return eventsHint, time.Time{}
	}
	at := r.silenceAt(obs)
	if !at.IsZero() && !obs.Now.Before(at) {
		return eventsSilent, at
	}
	return eventsLean, at
}

// distrust says why events may not lead the run ("" when they may).
func (r *run) distrust() string {
	switch {
	case !r.st.Events.Agreed:
		return "no search has confirmed an event yet"
	case !r.st.ProfileLoaded:
		return "the flow's earlier runs were not looked up (poll.mode backoff), so their missed events are unknown"
	case r.st.Profile.EventMissed():
		return "an earlier run of this flow missed a DataWorks event"
	case r.st.Profile.EventRuns() < EventTrustRuns:
		return fmt.Sprintf("%d of the flow's earlier runs received DataWorks events, and events lead from %d", r.st.Profile.EventRuns(), EventTrustRuns)
	}
	return ""
}

// silenceAt is when events that lead fall silent (EventSilence); zero
// when nothing predicts the end.
func (r *run) silenceAt(obs Observation) time.Time {
	p, ok := r.policy.(PredictivePolicy)
	if !ok {
		return time.Time{}
	}
	end, ok := p.LikelyEnd(obs)
	if !ok {
		return time.Time{}
	}
	if last := r.st.Events.LastAt; end.Before(last) {
		end = last
	}
	return end.Add(EventSilence)
}

// leanWait is the wait while events lead: never shorter than the policy's,
// at least EventSafetyNet, and ending when the events fall silent.
func leanWait(wait time.Duration, now, silence time.Time) time.Duration {
	wait = max(wait, EventSafetyNet)
	if until := silence.Sub(now); !silence.IsZero() && until < wait {
		wait = max(until, MinPollInterval)
	}
	return wait
}

// confirmWait is the wait before the next look into a final event the
// search did not confirm, and false when there is none to look into.
func (r *run) confirmWait(now time.Time) (time.Duration, bool) {
	es := &r.st.Events
	if es.ConfirmUntil.IsZero() || !now.Before(es.ConfirmUntil) {
		return 0, false
	}
	wait := max(eventCoalesce<<min(es.Confirms, 8), r.eventLook.Add(r.eventSpacing()).Sub(now))
	es.Confirms++
	return wait, true
}

// eventNote says in the status how events steer the run ("" when no
// event came).
func (r *run) eventNote() string {
	es := r.st.Events
	ignored := ""
	if es.Ignored > 0 {
		ignored = fmt.Sprintf("; %d DataWorks events about other DAGs ignored", es.Ignored)
	}
	last := func() string { return es.LastAt.UTC().Format(time.TimeOnly) + " UTC" }
	switch r.mode {
	case eventsHint:
		return fmt.Sprintf("%d DataWorks events received, the last at %s (%s): each makes the run look now; polling on the normal policy, since %s%s",
			es.Received, last(), es.Last, r.distrust(), ignored)
	case eventsLean:
		until := "until the DAG's final event"
		if !r.silence.IsZero() {
			until = "until " + r.silence.UTC().Format(time.TimeOnly) + " UTC without an event"
		}
		return fmt.Sprintf("events lean: %d DataWorks events received, the last at %s (%s); polling only every %v as a safety net, %s%s",
			es.Received, last(), es.Last, EventSafetyNet, until, ignored)
	case eventsSilent:
		return fmt.Sprintf("no DataWorks event since %s; polling on the normal policy%s", last(), ignored)
	}
	return ignored
}

// setMode records the mode of the wait just chosen, and logs a change.
func (r *run) setMode(m eventMode, silence time.Time) {
	if m != r.mode {
		switch m {
		case eventsLean:
			r.logger.Info("DataWorks events lead: polling backs off to the safety net", "safetyNet", EventSafetyNet, "silentAt", silence)
		case eventsSilent:
			r.logger.Warn("No DataWorks event for too long: polling on the normal policy", "lastEvent", r.st.Events.LastAt)
		}
	}
	r.mode, r.silence = m, silence
}

// eventMisses counts the DAG events the run missed, at its verdict: the
// DAG event that is not final, unless the run was over within eventLate
// (it may be on its way), and the final one, unless the DAG's last node
// finished within eventLate (by DataWorks' clock): a run on its poll policy
// often sees the end before the final event comes, and reading that race
// as a loss would keep the flow's next runs on their policy, where the
// race repeats.
func (r *run) eventMisses(now time.Time) int32 {
	es := r.st.Events
	var miss int32
	if !es.Started && now.Sub(r.report.TriggeredAt) >= eventLate {
		miss++
	}
	if !es.Ended {
		var last int64
		for _, n := range r.st.Nodes {
			last = max(last, n.Finish)
		}
		if last == 0 || now.Sub(time.Unix(last, 0)) >= eventLate {
			miss++
		}
	}
	return miss
}
