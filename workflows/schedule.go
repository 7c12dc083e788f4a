package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// ScheduledStartTime is the search attribute a Temporal Schedule sets on the
// runs it starts: the run's nominal (scheduled) time, which stays the same
// when the run is delayed (a buffered overlap, a catch-up after an outage) or
// started by a backfill of the schedule.
var ScheduledStartTime = temporal.NewSearchAttributeKeyTime("TemporalScheduledStartTime")

// bizdateOrigin is the time the default bizdate is the day before: the
// scheduled time of a run a Schedule started, else now (the start of the
// workflow). Reading search attributes records no command.
func bizdateOrigin(ctx workflow.Context, now time.Time) time.Time {
	if scheduled, ok := scheduledStartTime(ctx); ok {
		return scheduled
	}
	return now
}

// scheduledStartTime reads TemporalScheduledStartTime (the server writes it
// with its type, so the typed accessor reads it).
func scheduledStartTime(ctx workflow.Context) (time.Time, bool) {
	t, ok := workflow.GetTypedSearchAttributes(ctx).GetTime(ScheduledStartTime)
	return t, ok && !t.IsZero()
}
