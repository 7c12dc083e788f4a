package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/manualdag/manualdag/activities"
)

// Before this change a spent daily quota (Throttling.Api.Risk) was retried
// inside the search activity for 30–60 minutes, and the live report said
// nothing about it. Since, the search fails to the workflow, which waits
// out the quota on a timer and says so in the report's message. Runs whose
// watch began before the change keep the old retry policy.
const (
	changeQuotaPause                   = "quota-pause"
	versionQuotaPause workflow.Version = 1
)

// searchNonRetryable is the search activity's NonRetryableErrorTypes.
func (r *run) searchNonRetryable() []string {
	types := activities.SearchNonRetryableErrorTypes()
	if r.vQuota >= versionQuotaPause {
		types = append(types, activities.ErrQuotaExhausted)
	}
	return types
}

// quotaSpent reports whether a search failed because the daily quota is
// spent, and records until when the watch waits for it.
func (r *run) quotaSpent(ctx workflow.Context, err error) bool {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrQuotaExhausted {
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
		r.report.summary(""), r.quotaUntil.UTC().Format(time.RFC3339), "Throttling.Api.Risk")
	return max(r.quotaUntil.Sub(workflow.Now(ctx)), MinPollInterval), true
}
