package workflows

import (
	"fmt"
	"math"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
)

// A run continues as new past either bound, well inside the 2,000
// events and 2 MiB per run: one more poll adds about a dozen events and at
// most the size of a full search result.
// continueAsNewPolls bounds the searches (single polls or repeat windows)
// of one run whatever their size: about 2,400 events.
const (
	historyEventLimit  = 1800
	historyBytesLimit  = 3 << 19 // 1.5 MiB
	continueAsNewPolls = 200
)

// loadProfile reads the flow's earlier runs once per watch (a continued run
// carries the result); any failure only means polling without predictions.
func (r *run) loadProfile(ctx workflow.Context) {
	if !r.s.predictive || r.st.ProfileLoaded {
		return
	}
	r.st.ProfileLoaded = true
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		Summary:             "learn from earlier runs of " + r.s.create.ProjectName + "/" + r.s.create.FlowName,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 2},
	})
	var runs *activities.Runs
	var res activities.FlowTimingsResult
	if err := workflow.ExecuteActivity(actx, runs.FlowTimings, activities.FlowTimingsInput{
		ProjectName:  r.s.create.ProjectName,
		FlowName:     r.s.create.FlowName,
		WorkflowType: WorkflowName,
	}).Get(ctx, &res); err != nil {
		r.logger.Warn("Could not read earlier runs of the flow: polling without predictions", "error", err)
		return
	}
	r.st.Profile = dag.ProfileOf(res.Runs)
	if r.st.Profile == nil {
		r.logger.Info("Polling without predictions", "reason", res.Note)
		return
	}
	r.logger.Info("Polling predicted from earlier runs", "runs", r.st.Profile.Runs(), "nodes", len(r.st.Profile.Names))
}

// historyFull reports whether the run's history nears the bounds at which it
// continues as new.
func (r *run) historyFull(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	return info.GetCurrentHistoryLength() >= historyEventLimit || info.GetCurrentHistorySize() >= historyBytesLimit
}

// keepTimings records a successful run's node timings in its memo, for the
// flow's later runs to learn from, unless it succeeded only after a rerun
// through the rerunFailed update (a rerun from the console is not seen).
func (r *run) keepTimings(ctx workflow.Context) {
	if len(r.st.Nodes) == 0 || r.report.TriggeredAt.IsZero() || r.in.DagID != 0 {
		return // a followed DAG's trigger time is unknown: its timings would be offset
	}
	for _, op := range r.report.Operations {
		if op.Op == "rerun" {
			return // a run that needed a rerun is no measure of the next
		}
	}
	t := dag.TimingsOf(r.st.Nodes, r.report.TriggeredAt)
	if es := r.st.Events; es.Received > 0 {
		// How events served the run, for the flow's next runs to weigh
		// (events.go): a run without events keeps no such fields.
		t.Events, t.EventMiss = int32(min(es.Received, math.MaxInt32)), r.eventMisses(workflow.Now(ctx))
		r.logger.Info("DataWorks events of the run", "received", es.Received, "missed", t.EventMiss)
	}
	if err := workflow.UpsertMemo(ctx, map[string]any{activities.MemoTimings: t}); err != nil {
		r.logger.Warn("Could not keep the run's timings in its memo", "error", err)
	}
}

// A poll whose wait is at most windowMaxEvery is a repeat window: the
// search activity polls every wait until windowSpan has passed or the DAG
// run has news (activities.SearchInput.RepeatEvery), and only then returns
// to the workflow. About a dozen history events a window instead of a poll:
// at most 3600/120 × 12 ≈ 360 events an hour however often it polls.
const (
	windowMaxEvery = 20 * time.Second
	windowSpan     = 2 * time.Minute
)

// Windowed is a PollPolicy whose short waits are repeat windows.
type Windowed interface {
	// Window returns the repeat window of a poll due wait from now: a poll
	// every `every`, at most `polls` of them; polls 0 means a single poll.
	Window(wait time.Duration) (every time.Duration, polls int)
}

var _ Windowed = PredictivePolicy{}

// Window implements Windowed.
func (p PredictivePolicy) Window(wait time.Duration) (time.Duration, int) {
	if wait > windowMaxEvery {
		return 0, 0
	}
	return wait, 1 + int(windowSpan/wait)
}

// window is a poll's repeat window; the zero value is a single poll.
// returnAtDone (0 = never) ends it once that many nodes have succeeded.
type window struct {
	every        time.Duration
	polls        int
	returnAtDone int
}

// refresh reads the nodes once more before a timed-out or cancelled run
// reports and stops what is unfinished: a repeat window shows the workflow
// only its last poll, so the picture may be up to a window old, and the
// deadline or the cancel cut the window short.
func (r *run) refresh(ctx workflow.Context) {
	if r.window.polls == 0 || r.report.DagID == 0 {
		return
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	res, _, err := r.search(dctx, r.searchInput(), nil, time.Minute)
	if err != nil {
		r.logger.Warn("Could not read the nodes once more before reporting", "error", err)
		return
	}
	nodes, err := res.Nodes(r.st.Nodes)
	if err != nil {
		return
	}
	r.report.Polls += max(res.Polls, 1)
	if missing := missingNodes(r.st.Nodes, nodes); missing != "" {
		// The same anomaly poll refuses: keep the snapshot, judge nothing.
		r.troubled(ctx, fmt.Sprintf("DataWorks no longer lists %s of DAG %d", missing, r.report.DagID))
		return
	}
	if res.Digest != r.st.Digest {
		r.st.Nodes, r.st.Digest, r.st.Layout, r.st.Errors = nodes, res.Digest, res.LayoutDigest, res.ErrorsDigest
		r.st.StableSince = workflow.Now(ctx)
		r.report.SetNodes(nodes)
	}
}
