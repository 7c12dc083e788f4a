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

// changeScheduledBizdate: from version 1 a scheduled run counts its default
// bizdate from its scheduled time. The marker is recorded only in scheduled
// runs; a scheduled run begun on older code keeps its start time.
const (
	changeScheduledBizdate                   = "scheduled-bizdate"
	versionScheduledBizdate workflow.Version = 1
)

// bizdateOrigin is the time the default bizdate is the day before: the
// scheduled time of a run a Schedule started, else now (the start of the
// workflow). Reading search attributes records no command; the version
// marker is written only when the attribute is present.
func bizdateOrigin(ctx workflow.Context, now time.Time) time.Time {
	scheduled, ok := scheduledStartTime(ctx)
	if !ok {
		return now
	}
	if workflow.GetVersion(ctx, changeScheduledBizdate, workflow.DefaultVersion, versionScheduledBizdate) == workflow.DefaultVersion {
		return now
	}
	return scheduled
}

// scheduledStartTime reads TemporalScheduledStartTime (the server writes it
// with its type, so the typed accessor reads it).
func scheduledStartTime(ctx workflow.Context) (time.Time, bool) {
	t, ok := workflow.GetTypedSearchAttributes(ctx).GetTime(ScheduledStartTime)
	return t, ok && !t.IsZero()
}
