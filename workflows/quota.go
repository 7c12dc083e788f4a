package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
)

// searchNonRetryable is the search activity's NonRetryableErrorTypes. A
// spent daily quota (Throttling.Api.Risk) returns to the workflow, which
// waits it out on a timer and says so in the live report, rather than being
// retried inside the activity where nobody would see why nothing moves.
func (r *run) searchNonRetryable() []string {
	return append(activities.SearchNonRetryableErrorTypes(), dag.ErrQuotaExhausted)
}

// quotaSpent reports whether a search failed because the daily quota is
// spent, and records until when the watch waits for it.
func (r *run) quotaSpent(ctx workflow.Context, err error) bool {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != dag.ErrQuotaExhausted {
		return false
	}
	wait := appErr.NextRetryDelay()
	if wait <= 0 {
		wait = activities.QuotaRetryDelay
	}
	r.quotaUntil = workflow.Now(ctx).Add(wait)
	r.logger.Warn("DataWorks daily API quota spent: polling paused", "until", r.quotaUntil, "error", err)
	return true
}

// quotaPause, while the quota is spent, says so in the live report and
// returns how long to wait before the next poll.
func (r *run) quotaPause(ctx workflow.Context) (time.Duration, bool) {
	if r.quotaUntil.IsZero() {
		return 0, false
	}
	r.report.Message = fmt.Sprintf("%s; polling paused until %s: the DataWorks daily API quota of this account is spent (%s), and polls resume when it returns",
		r.report.Summary(""), r.quotaUntil.UTC().Format(time.RFC3339), "Throttling.Api.Risk")
	return max(r.quotaUntil.Sub(workflow.Now(ctx)), MinPollInterval), true
}
