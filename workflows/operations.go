package workflows

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
)

// Updates of RunManualDag (docs/design.md, "Operate a run").
const (
	// UpdateRerunFailed restarts failed nodes (RerunRequest → RerunResult);
	// the workflow goes on waiting and reports the merged result.
	UpdateRerunFailed = "rerunFailed"
	// UpdateExtendDeadline moves the deadline later
	// (ExtendDeadlineRequest → ExtendDeadlineResult).
	UpdateExtendDeadline = "extendDeadline"
)

const (
	opsStartToClose = time.Minute
	// opsScheduleToClose bounds one operation activity, retries included.
	opsScheduleToClose = 5 * time.Minute
	// logFetchBound bounds a log fetch, retries included: the poll loop
	// waits for it, and must not stall on a throttled log.
	logFetchBound = time.Minute
	// rerunSettle is how long a restarted node may keep showing its old
	// failure before the workflow stops waiting for the rerun to show.
	rerunSettle   = 2 * time.Minute
	maxOperations = 50
	maxNotes      = 20
	// minLogTail: a smaller share of the report's log cap is not fetched.
	minLogTail = 128
	// logTailPerNode and logTailTotal bound the failed nodes' log tails in
	// one report: enough to see the error, small beside the report.
	logTailPerNode = activities.DefaultLogTailBytes
	logTailTotal   = 32 << 10
	// stopWait bounds how long, after asking DataWorks to stop the
	// unfinished instances, the workflow waits for them to be final.
	stopWait = 5 * time.Minute
)

// RerunRequest is the argument of the rerunFailed update.
type RerunRequest struct {
	// Nodes are instance ids (nodes[].id in the report) or node names of
	// failed nodes. Empty: every failed node.
	Nodes []string `json:"nodes,omitempty"`
}

// RerunResult is the rerunFailed update's result. The update completes once
// DataWorks has accepted the restarts; the workflow goes on waiting, and its
// report has the merged outcome.
type RerunResult struct {
	Restarted []string `json:"restarted,omitempty"`
	// Refused are the nodes DataWorks would not restart, with the reason.
	Refused []string `json:"refused,omitempty"`
	Message string   `json:"message"`
}

// ExtendDeadlineRequest is the argument of the extendDeadline update:
// exactly one field. The new deadline must be later than the current one
// and at most 30 days after the workflow's start.
type ExtendDeadlineRequest struct {
	// By moves the current deadline later by this much.
	By dag.Duration `json:"by,omitzero"`
	// Timeout is a new overall timeout, counted from the workflow's start
	// like the input's timeout.
	Timeout dag.Duration `json:"timeout,omitzero"`
	// Until is the new deadline.
	Until time.Time `json:"until,omitzero"`
}

// ExtendDeadlineResult is the extendDeadline update's result.
type ExtendDeadlineResult struct {
	Previous time.Time `json:"previous"`
	Deadline time.Time `json:"deadline"`
}

// OpsState is what the operations keep across continue-as-new.
type OpsState struct {
	// Unsupported is set once an activity found that the worker's API
	// version has no instance operations.
	Unsupported string `json:"unsupported,omitempty"`
	// Logs are the log tails of failed instances, by instance id.
	Logs map[int64]NodeLog `json:"logs,omitempty"`
	// Reruns are restarts DataWorks has not shown yet, by instance id.
	Reruns     map[int64]PendingRerun `json:"reruns,omitempty"`
	Operations []dag.Operation        `json:"operations,omitempty"`
	Notes      []string               `json:"notes,omitempty"`
}

// NodeLog is the log tail of one failure of an instance.
type NodeLog struct {
	// Finish is the failure's finish time (unix seconds): a later failure
	// of the same instance (after a rerun) has its own log.
	Finish int64  `json:"finish,omitempty"`
	Tail   string `json:"tail,omitempty"`
}

// PendingRerun is a restart DataWorks accepted and the search has not shown.
type PendingRerun struct {
	Finish int64     `json:"finish,omitempty"` // of the failure that was rerun
	At     time.Time `json:"at"`
}

// deadline is a timer the loop races its waits against. extendDeadline
// re-arms it; the cancelled timer wakes whoever waited on it, and they
// check passed.
type deadline struct {
	label  string // names the timer in the event history
	at     time.Time
	timer  workflow.Future
	cancel workflow.CancelFunc
}

func newDeadline(ctx workflow.Context, label string, at time.Time) *deadline {
	d := &deadline{label: label}
	d.set(ctx, at)
	return d
}

func (d *deadline) set(ctx workflow.Context, at time.Time) {
	if d.cancel != nil {
		d.cancel()
	}
	tctx, cancel := workflow.WithCancel(ctx)
	d.at, d.cancel = at, cancel
	d.timer = workflow.NewTimerWithOptions(tctx, max(at.Sub(workflow.Now(ctx)), 0), workflow.TimerOptions{
		Summary: d.label + " " + at.UTC().Format(time.RFC3339),
	})
}

func (d *deadline) passed(ctx workflow.Context) bool { return !workflow.Now(ctx).Before(d.at) }

func (d *deadline) stop() {
	if d != nil && d.cancel != nil {
		d.cancel()
	}
}

// unsupported says why the instance operations cannot be used, or "".
func (r *run) unsupported() string {
	if r.st.Ops.Unsupported != "" {
		return r.st.Ops.Unsupported
	}
	if r.s.create.APIVersion == dag.APIVersion2018 {
		return "the input asks for apiVersion " + dag.APIVersion2018
	}
	return ""
}

func (r *run) note(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if slices.Contains(r.report.Notes, msg) {
		return
	}
	if len(r.report.Notes) >= maxNotes {
		r.report.Notes = slices.Delete(r.report.Notes, 0, 1)
	}
	r.report.Notes = append(r.report.Notes, msg)
	r.logger.Warn("Operation note", "note", msg)
}

func (r *run) record(ctx workflow.Context, op string, nodes []string, detail string) {
	if len(r.report.Operations) >= maxOperations {
		r.report.Operations = slices.Delete(r.report.Operations, 0, 1)
	}
	r.report.Operations = append(r.report.Operations, dag.Operation{At: workflow.Now(ctx), Op: op, Nodes: nodes, Detail: detail})
}

func (r *run) pending(id int64) bool {
	_, ok := r.st.Ops.Reruns[id]
	return ok
}

func (r *run) wakeUp() { r.wake.SendAsync(struct{}{}) }

func (r *run) opsOptions(ctx workflow.Context, scheduleToClose time.Duration, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		Summary:                summary,
		ScheduleToCloseTimeout: scheduleToClose,
		StartToCloseTimeout:    opsStartToClose,
		HeartbeatTimeout:       heartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        2 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			NonRetryableErrorTypes: []string{dag.ErrInvalidInput, dag.ErrPermanent},
		},
	})
}

func (r *run) label(id int64) string {
	for _, n := range r.st.Nodes {
		if n.ID == id {
			return n.Label()
		}
	}
	return fmt.Sprintf("instance %d", id)
}

func (r *run) labels(ids []int64) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, r.label(id))
	}
	return out
}

func (r *run) failureLabels(fs []activities.InstanceFailure) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, r.label(f.InstanceID)+": "+f.Message)
	}
	return out
}

func (r *run) operationsRef() string {
	return fmt.Sprintf("DataWorks Operation Center > Manual Instances (DAG %d, %s/%s, bizdate %s)",
		r.report.DagID, r.report.ProjectName, r.report.FlowName, r.report.Bizdate)
}

// showNodes puts a snapshot into the report, with the log tails of the
// failures they belong to.
func (r *run) showNodes(nodes []dag.Node) {
	r.report.SetNodes(nodes)
	for i, n := range nodes {
		if l, ok := r.st.Ops.Logs[n.ID]; ok && n.Status == dag.StatusFailure && l.Finish == n.Finish {
			r.report.Nodes[i].LogTail = l.Tail
		}
	}
}

// fetchLogs gets the log tails of failures not seen before, within the
// report's cap. Logs expire after about 7 days: this is the moment to ask.
func (r *run) fetchLogs(ctx workflow.Context) {
	var ids []int64
	failed := map[int64]dag.Node{}
	for _, n := range r.st.Nodes {
		if n.Status != dag.StatusFailure {
			continue
		}
		failed[n.ID] = n
		if l, ok := r.st.Ops.Logs[n.ID]; !ok || l.Finish != n.Finish {
			ids = append(ids, n.ID)
		}
	}
	// A log whose node is no longer failed gives its share back.
	for id := range r.st.Ops.Logs {
		if _, ok := failed[id]; !ok {
			delete(r.st.Ops.Logs, id)
		}
	}
	if len(ids) == 0 {
		return
	}
	mark := func(tails map[int64]string) {
		for _, id := range ids {
			r.st.Ops.Logs[id] = NodeLog{Finish: failed[id].Finish, Tail: tails[id]}
		}
		r.showNodes(r.st.Nodes)
	}
	if why := r.unsupported(); why != "" {
		r.note("failed-node logs: DataWorks API %s has no GetInstanceLog (%s); read the logs of %s in %s, or run with apiVersion %s",
			dag.APIVersion2018, why, strings.Join(r.labels(ids), ", "), r.operationsRef(), dag.APIVersion2020)
		mark(nil)
		return
	}
	used := 0
	for id, l := range r.st.Ops.Logs {
		if !slices.Contains(ids, id) {
			used += len(l.Tail)
		}
	}
	per := min(logTailPerNode, (logTailTotal-used)/len(ids))
	left := r.st.Deadline.Sub(workflow.Now(ctx))
	switch {
	case per < minLogTail:
		r.note("failed-node logs: the report's cap of %d bytes (logTailTotal) is used up; read the logs of %s in %s",
			logTailTotal, strings.Join(r.labels(ids), ", "), r.operationsRef())
		mark(nil)
		return
	case left < 10*time.Second:
		mark(nil)
		return
	}
	var a *activities.Activities
	var res activities.LogsResult
	err := workflow.ExecuteActivity(r.opsOptions(ctx, min(logFetchBound, left), "log tails of "+dag.JoinNames(r.labels(ids))), a.GetInstanceLogs, activities.LogsInput{
		DagID:       r.report.DagID,
		InstanceIDs: ids,
		MaxBytes:    per,
		APIVersion:  r.s.create.APIVersion,
		ProjectEnv:  r.s.create.ProjectEnv,
	}).Get(ctx, &res)
	switch {
	case err != nil && ctx.Err() != nil:
		return // cancelled: the caller stops
	case err != nil:
		r.note("failed-node logs of %s could not be fetched (%v); read them in %s", strings.Join(r.labels(ids), ", "), err, r.operationsRef())
	case res.Unsupported != "":
		r.st.Ops.Unsupported = res.Unsupported
		r.note("failed-node logs: DataWorks API %s has no GetInstanceLog (%s); read the logs of %s in %s, or run with apiVersion %s",
			dag.APIVersion2018, res.Unsupported, strings.Join(r.labels(ids), ", "), r.operationsRef(), dag.APIVersion2020)
	}
	for _, f := range res.Failures {
		r.note("failed-node log of %s could not be fetched: %s", r.label(f.InstanceID), f.Message)
	}
	mark(res.Tails)
}

// settleReruns forgets restarts that the latest snapshot shows (the node
// left its failure, or failed again), or that DataWorks never showed.
func (r *run) settleReruns(ctx workflow.Context) {
	now := workflow.Now(ctx)
	for id, p := range r.st.Ops.Reruns {
		shown := true
		for _, n := range r.st.Nodes {
			if n.ID == id {
				shown = n.Status != dag.StatusFailure || n.Finish != p.Finish
			}
		}
		if !shown && now.Sub(p.At) >= rerunSettle {
			r.note("the rerun of %s requested at %s did not show in DataWorks within %v; check it in %s",
				r.label(id), p.At.UTC().Format(time.RFC3339), rerunSettle, r.operationsRef())
			shown = true
		}
		if shown {
			delete(r.st.Ops.Reruns, id)
		}
	}
}

// holdForReruns keeps a FAILED verdict open while a rerun has not shown.
func (r *run) holdForReruns(d Decision) Decision {
	if d.Outcome != dag.OutcomeFailed || len(r.st.Ops.Reruns) == 0 {
		return d
	}
	var recheck time.Time
	var ids []int64
	for _, id := range slices.Sorted(maps.Keys(r.st.Ops.Reruns)) {
		p := r.st.Ops.Reruns[id]
		ids = append(ids, id)
		if at := p.At.Add(rerunSettle); recheck.IsZero() || at.Before(recheck) {
			recheck = at
		}
	}
	return Decision{Outcome: dag.OutcomeRunning, RecheckAt: recheck,
		Reason: "waiting for DataWorks to show the rerun of " + strings.Join(r.labels(ids), ", ")}
}

// validateRerun refuses a rerun that cannot be done; it changes nothing.
func (r *run) validateRerun(_ workflow.Context, req RerunRequest) error {
	if err := r.acceptingUpdates(); err != nil {
		return err
	}
	if why := r.unsupported(); why != "" {
		return fmt.Errorf("DataWorks API %s has no RestartInstance (%s): rerun the failed nodes in %s; "+
			"this workflow keeps watching the DAG while it is blocked (blockedGrace) or failed (failurePolicy.waitForRecovery) and reports the merged result",
			dag.APIVersion2018, why, r.operationsRef())
	}
	_, err := r.rerunTargets(req)
	return err
}

func (r *run) acceptingUpdates() error {
	switch {
	case r.closed:
		return fmt.Errorf("the workflow has ended (%s)", r.report.Outcome)
	case r.stopping:
		return errors.New("the workflow is stopping the DAG run (cancelled, or the deadline passed)")
	case r.report.DagID == 0:
		return errors.New("the DAG run has not been triggered yet")
	}
	return nil
}

// rerunTargets resolves a request to failed nodes of the latest snapshot.
func (r *run) rerunTargets(req RerunRequest) ([]dag.Node, error) {
	var out []dag.Node
	seen := map[int64]bool{}
	add := func(n dag.Node) {
		if !seen[n.ID] {
			seen[n.ID] = true
			out = append(out, n)
		}
	}
	if len(req.Nodes) == 0 {
		for _, n := range r.st.Nodes {
			if n.Status == dag.StatusFailure && !r.pending(n.ID) {
				add(n)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("no node of DAG %d has failed (or every failed one is being rerun already)", r.report.DagID)
		}
		return out, nil
	}
	for _, want := range req.Nodes {
		want = strings.TrimSpace(want)
		id, _ := strconv.ParseInt(want, 10, 64)
		var found *dag.Node
		for i, n := range r.st.Nodes {
			if n.ID == id || n.Name == want {
				found = &r.st.Nodes[i]
				break
			}
		}
		switch {
		case found == nil:
			return nil, fmt.Errorf("DAG %d has no node %q: give a node name or instance id from the report", r.report.DagID, want)
		case found.Status != dag.StatusFailure:
			return nil, fmt.Errorf("node %s is %s, not FAILURE: only failed nodes can be rerun", found.Label(), found.Status)
		case r.pending(found.ID):
			return nil, fmt.Errorf("a rerun of node %s is under way already", found.Label())
		}
		add(*found)
	}
	return out, nil
}

// rerunFailed restarts the failed nodes and lets the watch go on.
func (r *run) rerunFailed(ctx workflow.Context, req RerunRequest) (RerunResult, error) {
	targets, err := r.rerunTargets(req)
	if err != nil {
		return RerunResult{}, err
	}
	now := workflow.Now(ctx)
	ids := make([]int64, 0, len(targets))
	for _, n := range targets {
		ids = append(ids, n.ID)
		// Pending before the call, so that a second request is refused
		// and the loop does not call the DAG failed meanwhile.
		r.st.Ops.Reruns[n.ID] = PendingRerun{Finish: n.Finish, At: now}
	}
	forget := func(ids []int64) {
		for _, id := range ids {
			delete(r.st.Ops.Reruns, id)
		}
	}
	var a *activities.Activities
	var res activities.InstancesResult
	err = workflow.ExecuteActivity(r.opsOptions(ctx, opsScheduleToClose, "rerun "+dag.JoinNames(r.labels(ids))), a.RestartInstances, activities.InstancesInput{
		DagID:       r.report.DagID,
		InstanceIDs: ids,
		APIVersion:  r.s.create.APIVersion,
		ProjectEnv:  r.s.create.ProjectEnv,
	}).Get(ctx, &res)
	if err != nil {
		forget(ids)
		r.record(ctx, "rerun", r.labels(ids), "failed: "+err.Error())
		return RerunResult{}, fmt.Errorf("rerun of %s: %w", strings.Join(r.labels(ids), ", "), err)
	}
	if res.Unsupported != "" {
		forget(ids)
		r.st.Ops.Unsupported = res.Unsupported
		return RerunResult{}, r.validateRerun(ctx, req)
	}
	failedIDs := make([]int64, 0, len(res.Failures))
	for _, f := range res.Failures {
		failedIDs = append(failedIDs, f.InstanceID)
	}
	forget(failedIDs)
	out := RerunResult{Restarted: r.labels(res.Done), Refused: r.failureLabels(res.Failures)}
	detail := ""
	if len(out.Refused) > 0 {
		detail = "refused: " + strings.Join(out.Refused, "; ")
	}
	r.record(ctx, "rerun", out.Restarted, detail)
	switch {
	case len(out.Restarted) == 0:
		out.Message = "DataWorks restarted none of the nodes: " + strings.Join(out.Refused, "; ")
	default:
		out.Message = fmt.Sprintf("restarted %s; the workflow goes on watching DAG %d and reports the merged result", strings.Join(out.Restarted, ", "), r.report.DagID)
		if len(out.Refused) > 0 {
			out.Message += "; not restarted: " + strings.Join(out.Refused, "; ")
		}
	}
	r.logger.Info("Rerun requested", "restarted", out.Restarted, "refused", out.Refused)
	r.wakeUp()
	return out, nil
}

// newDeadlineFor computes the deadline an extendDeadline request asks for.
func (r *run) newDeadlineFor(req ExtendDeadlineRequest) (time.Time, error) {
	set := 0
	var at time.Time
	if req.By > 0 {
		set++
		at = r.st.Deadline.Add(req.By.D())
	}
	if req.Timeout > 0 {
		set++
		at = r.st.StartedAt.Add(req.Timeout.D())
	}
	if !req.Until.IsZero() {
		set++
		at = req.Until
	}
	if set != 1 {
		return time.Time{}, errors.New(`give exactly one of by (e.g. "2h"), timeout (a new overall timeout from the start, e.g. "36h") or until (RFC 3339 time)`)
	}
	if !at.After(r.st.Deadline) {
		return time.Time{}, fmt.Errorf("the new deadline %s is not later than the current one, %s; to stop earlier, cancel the workflow",
			at.UTC().Format(time.RFC3339), r.st.Deadline.UTC().Format(time.RFC3339))
	}
	if limit := r.st.StartedAt.Add(MaxTimeout); at.After(limit) {
		return time.Time{}, fmt.Errorf("the new deadline %s is more than %v after the workflow's start (%s)",
			at.UTC().Format(time.RFC3339), MaxTimeout, r.st.StartedAt.UTC().Format(time.RFC3339))
	}
	return at, nil
}

func (r *run) validateExtend(_ workflow.Context, req ExtendDeadlineRequest) error {
	if r.closed {
		return fmt.Errorf("the workflow has ended (%s)", r.report.Outcome)
	}
	if r.stopping {
		return errors.New("the workflow is stopping the DAG run (cancelled, or the deadline passed)")
	}
	_, err := r.newDeadlineFor(req)
	return err
}

func (r *run) extendDeadline(ctx workflow.Context, req ExtendDeadlineRequest) (ExtendDeadlineResult, error) {
	at, err := r.newDeadlineFor(req)
	if err != nil {
		return ExtendDeadlineResult{}, err
	}
	res := ExtendDeadlineResult{Previous: r.st.Deadline, Deadline: at}
	r.st.Deadline = at
	if r.dl != nil {
		r.dl.set(ctx, at)
	}
	r.record(ctx, "extendDeadline", nil, fmt.Sprintf("from %s to %s", res.Previous.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339)))
	r.logger.Info("Deadline extended", "from", res.Previous, "to", at)
	return res, nil
}

// stopUnfinished has DataWorks stop every unfinished instance, then polls
// until they are final or StopWait passes. It runs in a disconnected
// context: a cancellation must not cut the cleanup short.
func (r *run) stopUnfinished(ctx workflow.Context, why string) {
	if r.report.DagID == 0 {
		return
	}
	r.stopping = true
	if u := r.unsupported(); u != "" {
		r.noteNothingStopped(why, u)
		return
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	st, ok := r.stopRounds(dctx, why)
	if !ok {
		r.stopUnfinished(ctx, why) // the API version has no stop: writes the note
		return
	}
	r.reportStops(ctx, why, st)
}

// stops is what the stop rounds learned: the instances DataWorks accepted
// a stop for, those it refused (with why), and the last nodes seen.
type stops struct {
	accepted map[int64]bool
	refused  map[int64]string
	nodes    []dag.Node
}

// noteNothingStopped says what to stop by hand when the API has no stop.
func (r *run) noteNothingStopped(why, unsupported string) {
	var open []string
	for _, n := range r.st.Nodes {
		if !n.Status.Terminal() {
			open = append(open, n.Label())
		}
	}
	what := "its unfinished instances"
	if len(open) > 0 {
		what = strings.Join(open, ", ")
	}
	r.note("nothing was stopped (%s): DataWorks API %s has no StopInstance (%s); stop %s in %s",
		why, dag.APIVersion2018, unsupported, what, r.operationsRef())
}

// stopRounds asks DataWorks to stop every unfinished instance and looks
// again until all are final or stopWait passes. ok is false when the API
// version turned out to have no stop.
func (r *run) stopRounds(dctx workflow.Context, why string) (st stops, ok bool) {
	bound := newDeadline(dctx, "stop wait until", workflow.Now(dctx).Add(stopWait))
	defer bound.stop()
	st = stops{accepted: map[int64]bool{}, refused: map[int64]string{}, nodes: r.st.Nodes}
	var a *activities.Activities
	for round := 0; ; round++ {
		if round > 0 || len(st.nodes) == 0 {
			st.nodes = r.searchWhileStopping(dctx, why, st.nodes)
		}
		todo, final := st.todo()
		if final {
			return st, true
		}
		if len(todo) > 0 {
			var res activities.InstancesResult
			err := workflow.ExecuteActivity(r.opsOptions(dctx, max(bound.at.Sub(workflow.Now(dctx)), opsStartToClose), "stop "+dag.JoinNames(r.labels(todo))), a.StopInstances,
				activities.InstancesInput{DagID: r.report.DagID, InstanceIDs: todo, APIVersion: r.s.create.APIVersion, ProjectEnv: r.s.create.ProjectEnv}).Get(dctx, &res)
			switch {
			case err != nil:
				for _, id := range todo {
					st.refused[id] = err.Error()
				}
			case res.Unsupported != "":
				r.st.Ops.Unsupported = res.Unsupported
				return st, false
			}
			for _, id := range res.Done {
				st.accepted[id] = true
			}
			for _, f := range res.Failures {
				st.refused[f.InstanceID] = f.Message
			}
		}
		if bound.passed(dctx) {
			return st, true
		}
		// Wake at the bound at the latest, for one last look.
		r.sleepUntil(dctx, min(r.s.policy.Initial, 30*time.Second), bound)
	}
}

// todo lists the unfinished instances no stop was asked for yet; final is
// true when every node listed is final.
func (st stops) todo() (todo []int64, final bool) {
	final = len(st.nodes) > 0
	for _, n := range st.nodes {
		if !n.Status.Terminal() {
			final = false
			if !st.accepted[n.ID] && st.refused[n.ID] == "" {
				todo = append(todo, n.ID)
			}
		}
	}
	return todo, final
}

// reportStops puts the stops in the report, against the names the
// workflow knows.
func (r *run) reportStops(ctx workflow.Context, why string, st stops) {
	status := map[int64]dag.Status{}
	for _, n := range st.nodes {
		status[n.ID] = n.Status
	}
	var stopped []int64
	for _, id := range slices.Sorted(maps.Keys(st.accepted)) {
		if s, ok := status[id]; ok && !s.Terminal() {
			st.refused[id] = fmt.Sprintf("still %s %v after the stop request", s, stopWait)
			continue
		}
		stopped = append(stopped, id)
	}
	r.report.StoppedNodes = r.labels(stopped)
	r.report.StopFailures = nil
	for _, id := range slices.Sorted(maps.Keys(st.refused)) {
		r.report.StopFailures = append(r.report.StopFailures, r.label(id)+": "+st.refused[id])
	}
	if len(r.report.StopFailures) > 0 {
		r.note("some instances were not stopped (%s); stop them in %s", why, r.operationsRef())
	}
	if len(stopped) > 0 || len(st.refused) > 0 {
		r.record(ctx, "stop", r.report.StoppedNodes, why)
	}
	r.logger.Info("Stopped the unfinished instances", "why", why, "stopped", r.report.StoppedNodes, "notStopped", r.report.StopFailures)
}

// searchWhileStopping reads the DAG's nodes; on failure it keeps what it
// had (an unknown DAG id: nothing listed yet).
func (r *run) searchWhileStopping(ctx workflow.Context, why string, cur []dag.Node) []dag.Node {
	res, _, err := r.search(ctx, activities.SearchInput{
		ProjectName: r.s.create.ProjectName,
		DagID:       r.report.DagID,
		APIVersion:  r.s.create.APIVersion,
		ProjectEnv:  r.s.create.ProjectEnv,
		Bizdate:     r.s.create.Bizdate,
	}, nil, time.Minute)
	var appErr *temporal.ApplicationError
	switch {
	case err != nil && errors.As(err, &appErr) && appErr.Type() == dag.ErrDagNotFound:
		return cur
	case err != nil:
		r.note("while stopping (%s), the DAG could not be read: %v; check %s", why, err, r.operationsRef())
		return cur
	}
	nodes, err := res.Nodes(nil)
	if err != nil || missingNodes(cur, nodes) != "" {
		// A reply that lost an instance would end the stop rounds before
		// the lost one was stopped: keep what was known.
		return cur
	}
	return nodes
}

// sleepUntil waits d, or until bound passes.
func (r *run) sleepUntil(ctx workflow.Context, d time.Duration, bound *deadline) {
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	timer := workflow.NewTimerWithOptions(tctx, d, workflow.TimerOptions{Summary: "check the stopped instances again"})
	sel := workflow.NewSelector(ctx)
	sel.AddFuture(timer, func(workflow.Future) {})
	sel.AddFuture(bound.timer, func(workflow.Future) {})
	sel.Select(ctx)
}
