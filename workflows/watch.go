package workflows

// The watch: poll the node instances on timers until Decide calls the
// outcome, the deadline passes, or the run continues as new.

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
)

// watch polls until the outcome is final, the deadline passes, or the run
// continues as new.
func (r *run) watch(ctx workflow.Context) (dag.DagReport, error) {
	r.dl = newDeadline(ctx, "deadline", r.st.Deadline)
	defer r.dl.stop()
	r.policy = r.s.pollPolicy()
	r.loadProfile(ctx)
	for {
		if r.polls >= continueAsNewPolls || r.polls > 0 && (workflow.GetInfo(ctx).GetContinueAsNewSuggested() || r.historyFull(ctx)) {
			return r.report, r.continueAsNew(ctx)
		}
		r.compact = false
		wait, end := r.step(ctx)
		if end != nil {
			return end.report, end.err
		}
		woke := r.sleep(ctx, wait)
		for woke == wokeToReplan {
			// A confirmed event lets events lead: the wait is chosen
			// again, with no look.
			woke = r.sleep(ctx, r.plan(ctx, r.decision, false))
		}
		if woke == wokeForEvent || r.confirmDue {
			// Events ask for a look now: one search, not a repeat window.
			r.eventLook, r.window = workflow.Now(ctx), window{}
		}
		if ctx.Err() != nil {
			return r.report, r.canceled(ctx)
		}
		if r.dl.passed(ctx) {
			return r.finish(ctx, Decide(r.st.Nodes, r.timing(ctx)))
		}
	}
}

// ending is how the watch ends: the workflow's result and error.
type ending struct {
	report dag.DagReport
	err    error
}

func endWith(rep dag.DagReport, err error) *ending { return &ending{rep, err} }

// step polls once and decides: the wait before the next poll, or the end.
func (r *run) step(ctx workflow.Context) (time.Duration, *ending) {
	evs := r.takeUnchecked()
	changed, err := r.poll(ctx)
	evs, r.cutEvents = append(evs, r.cutEvents...), nil
	switch {
	case err != nil:
		return 0, endWith(r.report, err)
	case ctx.Err() != nil:
		return 0, endWith(r.report, r.canceled(ctx))
	}
	if wait, paused := r.quotaPause(ctx); paused {
		r.requeue(evs)
		return wait, nil // nothing was seen: no verdict on stale nodes
	}
	if r.st.Trouble.active() {
		r.requeue(evs)
		// Nothing fit to judge on: no verdict on the last snapshot, which
		// may be stale, until a search lists the nodes again.
		if r.st.Trouble.expired(workflow.Now(ctx)) {
			return 0, endWith(r.report, r.stopWatching(ctx, r.st.Trouble.err(r.report.DagID)))
		}
		r.report.Message = r.report.Summary(r.st.Trouble.reason())
		r.publish(ctx)
		r.window = window{}
		return r.st.Trouble.wait(), nil
	}
	if changed {
		r.fetchLogs(ctx)
		if ctx.Err() != nil {
			return 0, endWith(r.report, r.canceled(ctx))
		}
	}
	r.checkEvents(ctx, evs)
	r.settleReruns(ctx)
	d := r.holdForReruns(Decide(r.st.Nodes, r.timing(ctx)))
	switch {
	case d.Outcome.Final():
		return 0, endWith(r.finish(ctx, d))
	case d.Unlisted:
		return 0, endWith(r.report, r.stopWatching(ctx, temporal.NewApplicationError(d.Reason, dag.ErrDagNotListed)))
	}
	return r.plan(ctx, d, changed), nil
}

// plan chooses the wait after a decision that is not final, and puts the
// decision and the notes on the wait in the live report.
func (r *run) plan(ctx workflow.Context, d Decision, changed bool) time.Duration {
	r.decision = d
	wait := r.nextWait(ctx, d, changed)
	reason := d.Reason
	for _, note := range []string{r.watchNote(), r.eventNote()} {
		if note != "" {
			reason = strings.TrimPrefix(reason+"; "+note, "; ")
		}
	}
	r.report.Message = r.report.Summary(reason)
	r.publish(ctx)
	return wait
}

// nextWait is the wait the poll policy chooses (and the repeat window of
// the next poll), bounded by the daily budget's floor and by a grace period
// that ends first.
//
// Events (events.go) change it only once one came: while they lead, the
// wait is at least EventSafetyNet and the failure watch as long, until
// their silence; a final event the search did not confirm is looked into
// again soon.
func (r *run) nextWait(ctx workflow.Context, d Decision, changed bool) time.Duration {
	r.replan = false
	obs := Observation{
		Polls:        r.report.Polls,
		SinceTrigger: workflow.Now(ctx).Sub(r.report.TriggeredAt),
		Changed:      changed,
		Unchanged:    r.st.Unchanged,
		Active:       countNodes(r.st.Nodes, dag.Status.Active),
		Total:        len(r.st.Nodes),
		Seed:         r.seed,
		Now:          workflow.Now(ctx),
		TriggeredAt:  r.report.TriggeredAt,
		Nodes:        r.st.Nodes,
		Profile:      r.st.Profile,
	}
	wait := r.policy.Next(obs)
	wait = max(wait, r.pollFloor)
	r.window = window{}
	r.setMode(r.eventMode(obs))
	if r.mode == eventsLean {
		wait = leanWait(wait, obs.Now, r.silence)
	} else if w, ok := r.policy.(Windowed); ok {
		r.window.every, r.window.polls = w.Window(wait)
	}
	if !d.RecheckAt.IsZero() {
		if recheck := max(d.RecheckAt.Sub(workflow.Now(ctx)), MinPollInterval); recheck < wait {
			// A grace period ends first: one poll then, not a window.
			wait, r.window = recheck, window{}
		}
	}
	if watch := r.failureWatch(); wait > watch && r.window.polls == 0 {
		// The failure watch: no two looks further apart than watch. The
		// looks until the policy's poll go in one repeat window, which
		// comes back early only for news (a failure, the DAG settled, the
		// node list changed), so the history grows by one search for all
		// of them; its last look is the policy's poll.
		n := int((wait + watch - 1) / watch)
		every := (wait / time.Duration(n)).Round(time.Second)
		// It also comes back once a tenth of the nodes (one at least) more
		// have succeeded, so that a run ahead of its profile moves the
		// prediction before the policy's poll.
		done := countNodes(r.st.Nodes, func(s dag.Status) bool { return s == dag.StatusSuccess })
		step := max(1, (len(r.st.Nodes)+9)/10)
		wait, r.window = every, window{every: every, polls: n, returnAtDone: done + step}
	}
	r.confirmDue = false
	if confirm, ok := r.confirmWait(obs.Now); ok && confirm < wait {
		wait, r.window, r.confirmDue = confirm, window{}, true
	}
	return wait
}

// failureWatch is the longest gap between two looks: the input's
// failureWatch, stretched to the daily API budget's floor when that is
// longer, and to EventSafetyNet while events lead.
func (r *run) failureWatch() time.Duration {
	if r.mode == eventsLean {
		return max(r.s.failureWatch, r.pollFloor, EventSafetyNet)
	}
	return max(r.s.failureWatch, r.pollFloor)
}

// watchNote says in the report when the daily API budget stretches the
// failure watch ("" when it does not).
func (r *run) watchNote() string {
	if r.pollFloor <= r.s.failureWatch {
		return ""
	}
	return fmt.Sprintf("the worker's daily DataWorks API budget stretches the failure watch from %v to %v between looks", r.s.failureWatch, r.pollFloor.Round(time.Second))
}

func (r *run) timing(ctx workflow.Context) Timing {
	return Timing{
		Now:            workflow.Now(ctx),
		TriggeredAt:    r.report.TriggeredAt,
		Deadline:       r.st.Deadline,
		StableSince:    r.st.StableSince,
		BlockedGrace:   r.s.blockedGrace,
		EmptyListGrace: r.s.emptyListGrace,
		FailFast:       r.s.failFast,

		WaitForRecovery: r.s.waitForRecovery,

		ListSettle:      r.s.listSettle,
		CountPolls:      r.st.CountPolls,
		ExpectedNodes:   r.st.Profile.MinNodes(),
		PartialListWait: 2 * r.s.listSettle,
		// While DataWorks' replies are unusable, or the daily quota keeps
		// the watch from looking, the snapshot may be out of date.
		Stale: r.st.Trouble.active() || !r.quotaUntil.IsZero(),
	}
}

// poll runs one search. It returns whether the snapshot changed; at the
// deadline it cancels the search and leaves the snapshot as it was.
func (r *run) poll(ctx workflow.Context) (bool, error) {
	in := r.searchInput()
	in.RepeatEvery, in.RepeatPolls, in.ReturnAtDone = r.window.every, r.window.polls, r.window.returnAtDone
	in.KnownNodes = len(r.st.Nodes)
	in.KnownFailed = countNodes(r.st.Nodes, func(s dag.Status) bool { return s == dag.StatusFailure })
	res, done, searchErr := r.windowSearch(ctx, in)
	if !done || ctx.Err() != nil {
		return false, nil // the deadline passed or the workflow was cancelled: the caller sees which
	}
	r.polls++
	if searchErr != nil && r.quotaSpent(ctx, searchErr) {
		return false, nil // refused before it looked: not a poll of the report
	}
	r.quotaUntil = time.Time{}
	if searchErr == nil {
		r.pollFloor = res.PollFloor
	}
	r.report.Polls += max(res.Polls, 1)
	if searchErr != nil {
		var listed bool
		if res, listed, searchErr = r.searchFailed(ctx, searchErr); !listed {
			return false, searchErr
		}
	}
	if err := r.checkFollowed(ctx, res); err != nil {
		return false, err
	}
	return r.take(ctx, res), nil
}

// searchFailed handles a search that failed: listed is true, with an empty
// result, for a DAG id DataWorks does not know yet (an empty list, which
// Decide tolerates for a while); otherwise the poll ends there, with err
// when the watch must stop.
func (r *run) searchFailed(ctx workflow.Context, searchErr error) (_ activities.SearchResult, listed bool, err error) {
	var appErr *temporal.ApplicationError
	switch {
	case errors.As(searchErr, &appErr) && appErr.Type() == dag.ErrNothingYet:
		// A repeat window cut short (a timeout, an attempt limit such as
		// the SDK test environment's): its last poll saw nothing new.
		var polls int32
		if appErr.Details(&polls) == nil && polls > 1 {
			r.report.Polls += int(polls) - 1 // one is counted already
		}
		r.st.Unchanged++
		r.st.CountPolls++
		r.st.Trouble = trouble{}
		return activities.SearchResult{}, false, nil
	case errors.As(searchErr, &appErr) && appErr.Type() == dag.ErrDagNotFound && len(r.st.Nodes) == 0:
		r.logger.Info("DataWorks does not know the DAG id yet", "error", searchErr)
		return activities.Compact(nil, 0, activities.Known{}), true, nil
	case errors.As(searchErr, &appErr) && (appErr.Type() == dag.ErrDagNotFound || appErr.Type() == dag.ErrUnexpectedReply):
		// After nodes were listed, or a business error nobody documented:
		// a read has no side effect, so look again.
		r.troubled(ctx, searchErr.Error())
		return activities.SearchResult{}, false, nil
	}
	return activities.SearchResult{}, false, r.stopWatching(ctx, searchErr)
}

// take makes a search result the snapshot, unless it lost an instance the
// snapshot has (node instances never leave a DAG run: such a reply is an
// anomaly, and the last full snapshot stays the one judged). It reports
// whether the snapshot changed.
func (r *run) take(ctx workflow.Context, res activities.SearchResult) bool {
	if len(r.st.Nodes) > 0 && res.Count < len(r.st.Nodes) {
		r.troubled(ctx, fmt.Sprintf("DataWorks listed %d node instances of DAG %d, after %d earlier", res.Count, r.report.DagID, len(r.st.Nodes)))
		return false
	}
	nodes, err := res.Nodes(r.st.Nodes)
	if err != nil {
		// The digests fell out of step; ask for everything next time.
		r.logger.Warn("Search result does not fit the known snapshot", "error", err)
		r.st.Digest, r.st.Layout, r.st.Errors = "", "", ""
		return false
	}
	if missing := missingNodes(r.st.Nodes, nodes); missing != "" {
		r.troubled(ctx, fmt.Sprintf("DataWorks no longer lists %s of DAG %d", missing, r.report.DagID))
		return false
	}
	r.st.Trouble = trouble{}
	if len(nodes) == len(r.st.Nodes) && r.st.CountPolls > 0 {
		r.st.CountPolls++
	} else {
		r.st.CountPolls = 1
	}
	changed := res.Digest != r.st.Digest
	if changed {
		r.newFailures(ctx, r.st.Nodes, nodes)
	}
	r.st.Nodes, r.st.Digest, r.st.Layout, r.st.Errors = nodes, res.Digest, res.LayoutDigest, res.ErrorsDigest
	if changed {
		r.st.StableSince, r.st.Unchanged = workflow.Now(ctx), 0
		r.report.SetNodes(nodes)
		r.logger.Debug("DAG run changed", "nodes", len(nodes), "counts", r.report.CountsByStatus)
	} else {
		r.st.Unchanged++
	}
	return changed
}

// MetricNodeFailures counts node instances seen to fail (a counter,
// exported as manualdag_node_failures_total), the moment a poll sees them:
// an alert on it fires while the DAG's other branches still run.
const MetricNodeFailures = "manualdag_node_failures"

// newFailures publishes the nodes that failed since the last snapshot: a
// log line and MetricNodeFailures now, and (through publish, later in the
// same workflow task) the DagFailedNodes search attribute and the current
// details, before any verdict.
func (r *run) newFailures(ctx workflow.Context, before, after []dag.Node) {
	was := make(map[int64]bool, len(before))
	for _, n := range before {
		was[n.ID] = n.Status == dag.StatusFailure
	}
	var failed []string
	for _, n := range after {
		if n.Status == dag.StatusFailure && !was[n.ID] {
			failed = append(failed, n.Label())
		}
	}
	if len(failed) == 0 {
		return
	}
	r.logger.Warn("Node instances failed", "dagId", r.report.DagID, "nodes", dag.JoinNames(failed),
		"active", countNodes(after, dag.Status.Active))
	workflow.GetMetricsHandler(ctx).Counter(MetricNodeFailures).Inc(int64(len(failed)))
}

// searchInput asks for the DAG run's nodes, echoing the digests of the
// snapshot the workflow holds.
func (r *run) searchInput() activities.SearchInput {
	return activities.SearchInput{
		ProjectName: r.s.create.ProjectName,
		DagID:       r.report.DagID,
		APIVersion:  r.s.create.APIVersion,
		ProjectEnv:  r.s.create.ProjectEnv,
		Bizdate:     r.s.create.Bizdate,
		KnownDigest: r.st.Digest,
		KnownLayout: r.st.Layout,
		KnownErrors: r.st.Errors,
	}
}

// windowSearch is the watch's search: with the deadline as its stop, and
// a repeat window cut short when events ask for a look, for a single search
// at once (its polls are counted from its start and its pace, since a
// cancelled activity does not say how many it made).
func (r *run) windowSearch(ctx workflow.Context, in activities.SearchInput) (activities.SearchResult, bool, error) {
	if in.RepeatEvery <= 0 {
		return r.search(ctx, in, r.dl, 0)
	}
	started := workflow.Now(ctx)
	res, done, cut, err := r.searchOrEvent(ctx, in)
	if !cut {
		return res, done, err
	}
	every := max(in.RepeatEvery, r.pollFloor)
	polls := min(1+int(workflow.Now(ctx).Sub(started)/every), in.RepeatPolls)
	r.polls++
	r.report.Polls += polls
	r.st.Unchanged++
	r.st.CountPolls++
	r.logger.Debug("A DataWorks event cut a repeat window short", "polls", polls)
	r.eventLook = workflow.Now(ctx)
	r.cutEvents = append(r.cutEvents, r.takeUnchecked()...)
	in.RepeatEvery, in.RepeatPolls, in.ReturnAtDone = 0, 0, 0
	return r.search(ctx, in, r.dl, 0)
}

// search runs the search activity. With stopAt it gives up when stopAt
// passes (done false), cancelling the activity; scheduleToClose, when not
// zero, bounds it with its retries.
func (r *run) search(ctx workflow.Context, in activities.SearchInput, stopAt *deadline, scheduleToClose time.Duration) (activities.SearchResult, bool, error) {
	fut, cancel := r.startSearch(ctx, in, scheduleToClose)
	defer cancel()
	var res activities.SearchResult
	var err error
	done := false
	for {
		sel := workflow.NewSelector(ctx)
		sel.AddFuture(fut, func(f workflow.Future) { done, err = true, f.Get(ctx, &res) })
		if stopAt != nil {
			sel.AddFuture(stopAt.timer, func(workflow.Future) {})
		}
		sel.Select(ctx)
		// A deadline timer that fired early was re-armed by extendDeadline.
		if done || ctx.Err() != nil || stopAt == nil || stopAt.passed(ctx) {
			return res, done, err
		}
	}
}

// searchOrEvent is search with the deadline as its stop, which also stops
// (cut) when events ask for a look, as soon as eventCoalesce allows.
func (r *run) searchOrEvent(ctx workflow.Context, in activities.SearchInput) (res activities.SearchResult, done, cut bool, err error) {
	fut, cancel := r.startSearch(ctx, in, 0)
	defer cancel()
	tctx, cancelTimer := workflow.WithCancel(ctx)
	defer cancelTimer()
	var coalesce workflow.Future
	for {
		asked := false
		sel := workflow.NewSelector(ctx)
		sel.AddFuture(fut, func(f workflow.Future) { done, err = true, f.Get(ctx, &res) })
		sel.AddFuture(r.dl.timer, func(workflow.Future) {})
		sel.AddReceive(r.events, func(c workflow.ReceiveChannel, _ bool) { c.ReceiveAsync(nil); asked = true })
		if coalesce != nil {
			sel.AddFuture(coalesce, func(workflow.Future) { cut = true })
		}
		sel.Select(ctx)
		if asked && !done && len(r.unchecked) > 0 {
			if due := r.eventLook.Add(r.eventSpacing()).Sub(workflow.Now(ctx)); due > 0 {
				if coalesce == nil {
					coalesce = workflow.NewTimerWithOptions(tctx, due, workflow.TimerOptions{
						Summary: fmt.Sprintf("look at DAG %d for a DataWorks event", r.report.DagID),
					})
				}
			} else {
				cut = true
			}
		}
		if done || cut || ctx.Err() != nil || r.dl.passed(ctx) {
			return res, done, cut && !done, err
		}
	}
}

// startSearch schedules the search activity; cancel cancels it.
func (r *run) startSearch(ctx workflow.Context, in activities.SearchInput, scheduleToClose time.Duration) (workflow.Future, workflow.CancelFunc) {
	actx, cancel := workflow.WithCancel(ctx)
	actx = workflow.WithActivityOptions(actx, workflow.ActivityOptions{
		ScheduleToCloseTimeout: scheduleToClose,
		StartToCloseTimeout:    searchStartToClose,
		Summary:                fmt.Sprintf("read the nodes of DAG %d", in.DagID),
		// No attempt limit: throttling and a spent quota come with their
		// own delays, and the deadline bounds the whole.
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        2 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			NonRetryableErrorTypes: r.searchNonRetryable(),
		},
	})
	if in.RepeatEvery > 0 {
		actx = workflow.WithActivityOptions(actx, func() workflow.ActivityOptions {
			o := workflow.GetActivityOptions(actx)
			o.Summary = fmt.Sprintf("watch DAG %d: up to %d polls, one every %v, until something happens", in.DagID, in.RepeatPolls, in.RepeatEvery.Round(time.Second))
			return o
		}())
	}
	var a *activities.Activities
	return workflow.ExecuteActivity(actx, a.SearchManualDagNodeInstance, in), cancel
}

// How a sleep ended.
type woke int

const (
	wokeOther    woke = iota // its timer, the deadline, a rerun, a cancel
	wokeForEvent             // events ask for a look
	wokeToReplan             // a confirmed event changes the wait (no look)
)

// sleep waits on a timer, or until the deadline fires, or until an update
// asks for a poll now (a rerun), or until events ask for a look (at once,
// or eventCoalesce after the last look they caused) or for the wait to be
// chosen again; events do nothing while the daily quota is spent.
func (r *run) sleep(ctx workflow.Context, d time.Duration) woke {
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	timer := workflow.NewTimerWithOptions(tctx, d, workflow.TimerOptions{
		Summary: fmt.Sprintf("next poll of DAG %d in %v", r.report.DagID, d.Round(time.Second)),
	})
	end := workflow.Now(ctx).Add(d)
	var coalesce workflow.Future
	for {
		rerun, asked, byEvent := false, false, false
		sel := workflow.NewSelector(ctx)
		sel.AddFuture(timer, func(workflow.Future) {})
		sel.AddFuture(r.dl.timer, func(workflow.Future) {})
		sel.AddReceive(r.wake, func(c workflow.ReceiveChannel, _ bool) { c.ReceiveAsync(nil); rerun = true })
		sel.AddReceive(r.events, func(c workflow.ReceiveChannel, _ bool) { c.ReceiveAsync(nil); asked = true })
		if coalesce != nil {
			sel.AddFuture(coalesce, func(workflow.Future) { byEvent = true })
		}
		sel.Select(ctx)
		if r.compact {
			return wokeOther // the history is long: the watch continues as new
		}
		if asked && r.quotaUntil.IsZero() {
			now := workflow.Now(ctx)
			due := r.eventLook.Add(r.eventSpacing())
			switch {
			case len(r.unchecked) == 0:
				if r.replan {
					return wokeToReplan
				}
			case !now.Before(due):
				byEvent = true
			case coalesce == nil && due.Before(end):
				coalesce = workflow.NewTimerWithOptions(tctx, due.Sub(now), workflow.TimerOptions{
					Summary: fmt.Sprintf("look at DAG %d for a DataWorks event", r.report.DagID),
				})
			}
		}
		// A deadline timer that fired early was re-armed by extendDeadline.
		switch {
		case byEvent:
			return wokeForEvent
		case rerun || timer.IsReady() || ctx.Err() != nil || r.dl.passed(ctx):
			return wokeOther
		}
	}
}

// countNodes counts the nodes whose status is.
func countNodes(nodes []dag.Node, is func(dag.Status) bool) int {
	n := 0
	for _, x := range nodes {
		if is(x.Status) {
			n++
		}
	}
	return n
}

// missingNodes names the instances of known that nodes lacks ("" when
// none): node instances do not leave a DAG run, so a reply without one is
// not a picture of the run to judge.
func missingNodes(known, nodes []dag.Node) string {
	if len(known) == 0 {
		return ""
	}
	ids := make(map[int64]bool, len(nodes))
	for _, n := range nodes {
		ids[n.ID] = true
	}
	var missing []string
	for _, n := range known {
		if !ids[n.ID] {
			missing = append(missing, n.Label())
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return dag.JoinNames(missing)
}
