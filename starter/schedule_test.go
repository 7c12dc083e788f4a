package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/workflows"
)

// Schedule and backfill usage is refused with exit 2 before Temporal is
// dialled (nothing listens on the address given).
func TestScheduleAndBackfillUsage(t *testing.T) {
	const nowhere = "--temporal-address=127.0.0.1:1"
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"schedule alone", []string{"schedule"}, exitUsage, "starter schedule create SCHEDULE_ID"},
		{"schedule unknown", []string{"schedule", "start"}, exitUsage, `unknown schedule command "start"`},
		{"schedule help", []string{"schedule", "help"}, exitOK, ""},
		{"create without id", []string{"schedule", "create", nowhere, "--project", "p", "--flow", "f", "--cron", "0 2 * * *"}, exitUsage, "usage: starter schedule create"},
		{"create without spec", []string{"schedule", "create", "s", nowhere, "--project", "p", "--flow", "f"}, exitUsage, "at least one --cron or --calendar"},
		{"create bad cron", []string{"schedule", "create", "s", nowhere, "--project", "p", "--flow", "f", "--cron", "0 2 * *"}, exitUsage, "has 4 fields"},
		{"create bad calendar", []string{"schedule", "create", "s", nowhere, "--project", "p", "--flow", "f", "--calendar", "hour=25"}, exitUsage, `"25" is out of range 0-23`},
		{"create bad timezone", []string{"schedule", "create", "s", nowhere, "--project", "p", "--flow", "f", "--cron", "0 2 * * *", "--timezone", "Mars/Base"}, exitUsage, "not an IANA time zone"},
		{"create bad overlap", []string{"schedule", "create", "s", nowhere, "--project", "p", "--flow", "f", "--cron", "0 2 * * *", "--overlap", "never"}, exitUsage, `--overlap "never"`},
		{"create without flow", []string{"schedule", "create", "s", nowhere, "--project", "p", "--cron", "0 2 * * *"}, exitUsage, "--project and --flow are required"},
		{"trigger without id", []string{"schedule", "trigger", nowhere}, exitUsage, "usage: starter schedule trigger SCHEDULE_ID"},
		{"delete two ids", []string{"schedule", "delete", "a", "b", nowhere}, exitUsage, "usage: starter schedule delete SCHEDULE_ID"},
		{"backfill without range", []string{"backfill", nowhere, "--project", "p", "--flow", "f"}, exitUsage, "--from and --to are required"},
		{"backfill reversed", []string{"backfill", nowhere, "--project", "p", "--flow", "f", "--from", "2024-06-02", "--to", "2024-06-01"}, exitUsage, "is before from"},
		{"backfill too parallel", []string{"backfill", nowhere, "--project", "p", "--flow", "f", "--from", "2024-06-01", "--to", "2024-06-02", "--parallel", "11"}, exitUsage, "parallel 11 is out of range"},
		{"backfill no parallel", []string{"backfill", nowhere, "--project", "p", "--flow", "f", "--from", "2024-06-01", "--to", "2024-06-02", "--parallel", "0"}, exitUsage, "--parallel 0"},
		{"backfill bad param", []string{"backfill", nowhere, "--project", "p", "--flow", "f", "--from", "2024-06-01", "--to", "2024-06-02", "--param", "k"}, exitUsage, "key=value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tc.args, noEnv, &stdout, &stderr)
			require.Equal(t, tc.code, exitCode(err, &stderr), "stderr: %s", stderr.String())
			assert.Contains(t, stderr.String(), tc.stderr)
		})
	}
}

// The schedule's action starts RunManualDag with the DAG flags, no bizdate
// and the schedule's time zone, so that each run computes the day before
// its scheduled time there.
func TestScheduleCreateOptions(t *testing.T) {
	o := runOptions{project: "demo_project", flow: "daily_sales", timezone: "Asia/Shanghai", params: multiFlag{"env=prod"}, pollMax: "1m"}
	o.conn.taskQueue = workflows.TaskQueue
	so := scheduleOptions{crons: multiFlag{"0 2 * * *"}, calendars: multiFlag{"hour=3 minute=30 dayOfWeek=1-5"}, overlap: "buffer-one", catchupWindow: 6 * time.Hour}
	opts, err := scheduleCreateOptions("daily-sales", &o, &so)
	require.NoError(t, err)
	assert.Equal(t, "daily-sales", opts.ID)
	assert.Equal(t, []string{"0 2 * * *"}, opts.Spec.CronExpressions)
	assert.Equal(t, "Asia/Shanghai", opts.Spec.TimeZoneName)
	require.Len(t, opts.Spec.Calendars, 1)
	assert.Equal(t, []client.ScheduleRange{{Start: 3, End: 3, Step: 1}}, opts.Spec.Calendars[0].Hour)
	assert.Equal(t, []client.ScheduleRange{{Start: 1, End: 5, Step: 1}}, opts.Spec.Calendars[0].DayOfWeek)
	assert.Equal(t, enums.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE, opts.Overlap)
	assert.Equal(t, 6*time.Hour, opts.CatchupWindow)

	a, ok := opts.Action.(*client.ScheduleWorkflowAction)
	require.True(t, ok)
	assert.Equal(t, workflows.WorkflowName, a.Workflow)
	assert.Equal(t, workflows.TaskQueue, a.TaskQueue)
	require.Len(t, a.Args, 1)
	b, err := json.Marshal(a.Args[0])
	require.NoError(t, err)
	in, err := workflows.ParseInput(b)
	require.NoError(t, err, "the action's input is the workflow's: %s", b)
	assert.Empty(t, in.Bizdate, "no bizdate: the workflow computes it from the scheduled time")
	assert.Equal(t, "Asia/Shanghai", in.Timezone)
	assert.Equal(t, workflows.Params{"env": "prod"}, in.DagParameters)
	assert.Equal(t, time.Minute, in.Poll.MaxInterval.D())
	require.NoError(t, in.Validate())
}

func TestParseCalendar(t *testing.T) {
	cal, err := parseCalendar("minute=0-59/15 hour=* dayOfMonth=1,15 month=6")
	require.NoError(t, err)
	assert.Equal(t, []client.ScheduleRange{{Start: 0, End: 59, Step: 15}}, cal.Minute)
	assert.Equal(t, []client.ScheduleRange{{Start: 0, End: 23}}, cal.Hour)
	assert.Equal(t, []client.ScheduleRange{{Start: 1, End: 1, Step: 1}, {Start: 15, End: 15, Step: 1}}, cal.DayOfMonth)
	assert.Equal(t, "minute=0-59/15 hour=0-23 dayOfMonth=1,15 month=6", calendarString(cal))
	for in, want := range map[string]string{
		"":                "empty",
		"hours=2":         "is not field=value",
		"hour=2 hour=3":   "given twice",
		"minute=5-1":      "out of range",
		"minute=0-59/0":   "step",
		"dayOfWeek=7":     "out of range 0-6",
		"hour=two":        "is not N, N-M or N-M/STEP",
		"month=1-12/a":    "step",
		"minute=1,,2":     "is not N",
		"dayOfMonth=0-31": "out of range 1-31",
	} {
		_, err := parseCalendar(in)
		assert.ErrorContains(t, err, want, "%q", in)
	}
}

func TestBizdateFor(t *testing.T) {
	at := time.Date(2024, 6, 1, 18, 0, 0, 0, time.UTC) // 02:00 on 2 June in Shanghai
	assert.Equal(t, "2024-06-01", bizdateFor(at, "Asia/Shanghai"))
	assert.Equal(t, "2024-05-31", bizdateFor(at, "UTC"))
}

func TestBackfillInputNormalises(t *testing.T) {
	o := runOptions{project: "p", flow: "f"}
	in, err := backfillInput(&o, "2024-06-01 00:00:00", "2024-06-03", 2)
	require.NoError(t, err)
	assert.Equal(t, "2024-06-01", in.From)
	assert.Equal(t, 2, in.Parallel)
	assert.Empty(t, in.Run.Bizdate)
	assert.Empty(t, in.Run.Timezone)
}

func TestPrintBackfill(t *testing.T) {
	var b strings.Builder
	printBackfill(&b, workflows.BackfillReport{Message: "backfill p/f 2024-06-01..2024-06-02: 2 bizdates, 1 succeeded, 1 failed (2024-06-02)",
		Results: []workflows.BizdateResult{
			{Bizdate: "2024-06-01", Outcome: dag.OutcomeSucceeded, DagID: 7, Message: "ok"},
			{Bizdate: "2024-06-02", Outcome: dag.OutcomeFailed, DagID: 8, FailedNodes: []string{"a", "b"}, Message: "failed:\n2 nodes"},
		}})
	want := `backfill p/f 2024-06-01..2024-06-02: 2 bizdates, 1 succeeded, 1 failed (2024-06-02)
BIZDATE     OUTCOME    DAG ID  FAILED NODES  MESSAGE
2024-06-01  SUCCEEDED  7       -             ok
2024-06-02  FAILED     8       a,b           failed: 2 nodes
`
	assert.Equal(t, want, b.String())
}

// describe shows the bizdates in the time zone of the action's input.
func TestNewScheduleView(t *testing.T) {
	p, err := converter.GetDefaultDataConverter().ToPayload(workflows.RunManualDagInput{ProjectName: "p", FlowName: "f", Timezone: "Asia/Shanghai"})
	require.NoError(t, err)
	at := time.Date(2024, 6, 1, 18, 0, 0, 0, time.UTC) // 02:00 on 2 June in Shanghai
	v := newScheduleView("daily", &client.ScheduleDescription{
		Schedule: client.Schedule{
			Action: &client.ScheduleWorkflowAction{Args: []any{p}},
			Spec:   &client.ScheduleSpec{CronExpressions: []string{"0 2 * * *"}},
			State:  &client.ScheduleState{Paused: true, Note: "holiday"},
		},
		Info: client.ScheduleInfo{NextActionTimes: []time.Time{at}},
	})
	assert.Equal(t, "0 2 * * * (UTC)", v.Spec)
	assert.Equal(t, "Asia/Shanghai", v.Timezone)
	assert.True(t, v.Paused)
	require.NotNil(t, v.Input)
	assert.Equal(t, "p", v.Input.ProjectName)
	require.Len(t, v.Next, 1)
	assert.Equal(t, "2024-06-01", v.Next[0].Bizdate)
	assert.Empty(t, v.Recent)

	var out bytes.Buffer
	require.NoError(t, printSchedule(&out, v))
	assert.Contains(t, out.String(), "schedule daily: 0 2 * * * (UTC), paused true (holiday)\nruns p/f, bizdate: the day before the scheduled time in Asia/Shanghai")
	assert.Contains(t, out.String(), "next  2024-06-01T18:00:00Z  2024-06-01  -")
}
