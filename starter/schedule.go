package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/workflows"
)

const scheduleUsage = `usage:
  starter schedule create SCHEDULE_ID --project P --flow F (--cron "0 2 * * *" | --calendar "hour=2 minute=30 dayOfWeek=1-5")...
        [--timezone Asia/Shanghai] [--overlap buffer-one] [--catchup-window 24h] [--paused] [--note TEXT] [DAG flags of run]
  starter schedule list [--json]
  starter schedule describe SCHEDULE_ID [--json]
  starter schedule trigger SCHEDULE_ID
  starter schedule pause|unpause SCHEDULE_ID [--note TEXT]
  starter schedule delete SCHEDULE_ID
Each run of a schedule triggers the DAG for the bizdate before its scheduled time in --timezone.`

// scheduleCmd manages Temporal Schedules that start RunManualDag.
func scheduleCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageErr("%s", scheduleUsage)
	}
	switch args[0] {
	case "create":
		return scheduleCreate(ctx, args[1:], getenv, stdout, stderr)
	case "list":
		return scheduleList(ctx, args[1:], getenv, stdout, stderr)
	case "describe":
		return scheduleDescribe(ctx, args[1:], getenv, stdout, stderr)
	case "trigger", "pause", "unpause", "delete":
		return scheduleOp(ctx, args[0], args[1:], getenv, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, scheduleUsage)
		return nil
	}
	return usageErr("unknown schedule command %q\n%s", args[0], scheduleUsage)
}

// scheduleOptions are create's flags beyond the DAG's.
type scheduleOptions struct {
	crons, calendars multiFlag
	overlap          string
	catchupWindow    time.Duration
	paused           bool
	note             string
}

func scheduleCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var o runOptions
	var so scheduleOptions
	fs := o.conn.newFlagSet("starter schedule create", getenv, stderr)
	o.registerDAG(fs)
	fs.StringVar(&o.timezone, "timezone", workflows.DefaultTimezone, "IANA time zone of the cron or calendar spec, and of the bizdate (the day before the scheduled time)")
	fs.Var(&so.crons, "cron", `cron expression "minute hour day-of-month month day-of-week", e.g. "0 2 * * *" (repeatable)`)
	fs.Var(&so.calendars, "calendar", `calendar spec "hour=2 minute=30 dayOfWeek=1-5"; fields second, minute, hour, dayOfMonth, month, year, dayOfWeek (0 is Sunday), each a list of N, N-M or N-M/STEP, or *; second, minute and hour default to 0, the others to * (repeatable)`)
	fs.StringVar(&so.overlap, "overlap", "buffer-one", "when a run is due while the last one still runs: skip, buffer-one (start it after), buffer-all, cancel-other, terminate-other, allow-all")
	fs.DurationVar(&so.catchupWindow, "catchup-window", 0, "how late a missed run (Temporal unavailable) may still start, e.g. 24h (default: Temporal's, one year)")
	fs.BoolVar(&so.paused, "paused", false, "create the schedule paused")
	fs.StringVar(&so.note, "note", "", "a note kept with the schedule (why it is paused, who owns it)")
	pos, err := parseFlags(fs, args, 1, "usage: starter schedule create SCHEDULE_ID --project P --flow F --cron \"0 2 * * *\"")
	if err != nil {
		return err
	}
	opts, err := scheduleCreateOptions(pos[0], &o, &so)
	if err != nil {
		return usageErr("%v", err)
	}
	c, err := o.conn.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	// The runs start with the search attributes the namespace has; the
	// workflow sets the bizdate's once it has picked the date.
	a := opts.Action.(*client.ScheduleWorkflowAction)
	a.TypedSearchAttributes = workflows.StartSearchAttributes(a.Args[0].(workflows.RunManualDagInput), registeredSearchAttributes(ctx, c, o.conn.namespace, stderr))
	h, err := c.ScheduleClient().Create(ctx, opts)
	if err != nil {
		var exists *serviceerror.AlreadyExists
		if errors.Is(err, temporal.ErrScheduleAlreadyRunning) || errors.As(err, &exists) {
			return usageErr("schedule %s exists already: `starter schedule describe %s` shows it, `starter schedule delete %s` removes it", pos[0], pos[0], pos[0])
		}
		return infraErr(fmt.Errorf("create schedule %s: %w", pos[0], err))
	}
	desc, err := h.Describe(ctx)
	if err != nil {
		return infraErr(fmt.Errorf("describe schedule %s: %w", h.GetID(), err))
	}
	fmt.Fprintf(stderr, "created schedule %s\n", h.GetID())
	fmt.Fprintln(stdout, h.GetID())
	for _, t := range desc.Info.NextActionTimes {
		fmt.Fprintf(stderr, "next run: %s (bizdate %s)\n", t.In(mustZone(o.timezone)).Format(time.RFC3339), bizdateFor(t, o.timezone))
	}
	return nil
}

// scheduleCreateOptions turns the flags into the schedule, validating the
// action's input as the workflow will.
func scheduleCreateOptions(id string, o *runOptions, so *scheduleOptions) (client.ScheduleOptions, error) {
	var opts client.ScheduleOptions
	if len(so.crons) == 0 && len(so.calendars) == 0 {
		return opts, errors.New("give at least one --cron or --calendar")
	}
	if _, err := time.LoadLocation(o.timezone); err != nil || o.timezone == "" {
		return opts, fmt.Errorf("--timezone %q is not an IANA time zone such as Asia/Shanghai", o.timezone)
	}
	in, err := o.template()
	if err != nil {
		return opts, err
	}
	// No bizdate: each run computes the day before its scheduled time.
	in.Timezone = o.timezone
	if err := in.Validate(); err != nil {
		return opts, err
	}
	overlap, err := overlapPolicy(so.overlap)
	if err != nil {
		return opts, err
	}
	spec, err := so.spec(o.timezone)
	if err != nil {
		return opts, err
	}
	return client.ScheduleOptions{
		ID:   id,
		Spec: spec,
		Action: &client.ScheduleWorkflowAction{
			// Temporal appends the scheduled time: <id>-2024-06-01T18:00:00Z.
			ID:            id,
			Workflow:      workflows.WorkflowName,
			Args:          []any{in},
			TaskQueue:     o.conn.taskQueue,
			StaticSummary: fmt.Sprintf("%s/%s (schedule %s)", in.ProjectName, in.FlowName, id),
		},
		Overlap:       overlap,
		CatchupWindow: so.catchupWindow,
		Paused:        so.paused,
		Note:          so.note,
		Memo:          map[string]any{"project": in.ProjectName, "flow": in.FlowName},
	}, nil
}

// spec is the schedule's spec in tz. Temporal parses the cron strings on
// create; the SDK has no parser for either form, so --cron is checked only
// for its number of fields, and --calendar is read here into Temporal's
// ScheduleCalendarSpec ranges, so that a bad one is refused before anything
// is dialled.
func (so *scheduleOptions) spec(tz string) (client.ScheduleSpec, error) {
	spec := client.ScheduleSpec{CronExpressions: so.crons, TimeZoneName: tz}
	for _, c := range so.crons {
		if n := len(strings.Fields(c)); n != 5 && !strings.HasPrefix(c, "@") {
			return spec, fmt.Errorf("--cron %q has %d fields; write minute hour day-of-month month day-of-week, e.g. \"0 2 * * *\" (the time zone is --timezone)", c, n)
		}
	}
	for _, s := range so.calendars {
		cal, err := parseCalendar(s)
		if err != nil {
			return spec, err
		}
		spec.Calendars = append(spec.Calendars, cal)
	}
	return spec, nil
}

func overlapPolicy(s string) (enums.ScheduleOverlapPolicy, error) {
	switch s {
	case "skip":
		return enums.SCHEDULE_OVERLAP_POLICY_SKIP, nil
	case "buffer-one":
		return enums.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE, nil
	case "buffer-all":
		return enums.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL, nil
	case "cancel-other":
		return enums.SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER, nil
	case "terminate-other":
		return enums.SCHEDULE_OVERLAP_POLICY_TERMINATE_OTHER, nil
	case "allow-all":
		return enums.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL, nil
	}
	return 0, fmt.Errorf("--overlap %q is not one of skip, buffer-one, buffer-all, cancel-other, terminate-other, allow-all", s)
}

// calendarFields are the fields of --calendar and their bounds.
var calendarFields = map[string][2]int{
	"second": {0, 59}, "minute": {0, 59}, "hour": {0, 23},
	"dayOfMonth": {1, 31}, "month": {1, 12}, "year": {1970, 9999}, "dayOfWeek": {0, 6},
}

// parseCalendar reads "hour=2 minute=30 dayOfWeek=1-5,0".
func parseCalendar(s string) (client.ScheduleCalendarSpec, error) {
	var cal client.ScheduleCalendarSpec
	dst := map[string]*[]client.ScheduleRange{
		"second": &cal.Second, "minute": &cal.Minute, "hour": &cal.Hour,
		"dayOfMonth": &cal.DayOfMonth, "month": &cal.Month, "year": &cal.Year, "dayOfWeek": &cal.DayOfWeek,
	}
	if strings.TrimSpace(s) == "" {
		return cal, errors.New(`--calendar is empty; write e.g. "hour=2 minute=30"`)
	}
	for _, part := range strings.Fields(s) {
		name, value, ok := strings.Cut(part, "=")
		bounds, known := calendarFields[name]
		if !ok || !known {
			return cal, fmt.Errorf("--calendar %q: %q is not field=value with a field among second, minute, hour, dayOfMonth, month, year, dayOfWeek", s, part)
		}
		if len(*dst[name]) > 0 {
			return cal, fmt.Errorf("--calendar %q: %s is given twice", s, name)
		}
		ranges, err := parseRanges(value, bounds[0], bounds[1])
		if err != nil {
			return cal, fmt.Errorf("--calendar %q: %s: %v", s, name, err)
		}
		*dst[name] = ranges
	}
	return cal, nil
}

// parseRanges reads "*", "5", "1-5", "0-59/15" and comma-separated lists.
func parseRanges(s string, lo, hi int) ([]client.ScheduleRange, error) {
	if s == "*" {
		return []client.ScheduleRange{{Start: lo, End: hi}}, nil
	}
	var out []client.ScheduleRange
	for _, item := range strings.Split(s, ",") {
		r := client.ScheduleRange{Step: 1}
		span, step, hasStep := strings.Cut(item, "/")
		a, b, isRange := strings.Cut(span, "-")
		var err error
		if r.Start, err = strconv.Atoi(a); err != nil {
			return nil, fmt.Errorf("%q is not N, N-M or N-M/STEP", item)
		}
		r.End = r.Start
		if isRange {
			if r.End, err = strconv.Atoi(b); err != nil {
				return nil, fmt.Errorf("%q is not N, N-M or N-M/STEP", item)
			}
		}
		if hasStep {
			if r.Step, err = strconv.Atoi(step); err != nil || r.Step < 1 {
				return nil, fmt.Errorf("%q has a step that is not a whole number ≥ 1", item)
			}
		}
		if r.Start < lo || r.End > hi || r.End < r.Start {
			return nil, fmt.Errorf("%q is out of range %d-%d", item, lo, hi)
		}
		out = append(out, r)
	}
	return out, nil
}

func scheduleList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var conn connection
	var asJSON bool
	fs := conn.newFlagSet("starter schedule list", getenv, stderr)
	fs.BoolVar(&asJSON, "json", false, "print the schedules as JSON")
	if _, err := parseFlags(fs, args, 0, "usage: starter schedule list [--json]"); err != nil {
		return err
	}
	c, err := conn.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	rows, err := listSchedules(ctx, c)
	if err != nil {
		return infraErr(fmt.Errorf("list schedules: %w", err))
	}
	if asJSON {
		return printJSON(stdout, rows)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCHEDULE\tPROJECT/FLOW\tSPEC\tPAUSED\tNEXT RUN")
	for _, r := range rows {
		next := "-"
		if !r.Next.IsZero() {
			next = r.Next.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%v\t%s\n", r.ID, r.Project, r.Flow, r.Spec, r.Paused, next)
	}
	return tw.Flush()
}

// scheduleRow is one schedule of `schedule list`.
type scheduleRow struct {
	ID      string    `json:"id"`
	Project string    `json:"project,omitempty"`
	Flow    string    `json:"flow,omitempty"`
	Spec    string    `json:"spec"`
	Paused  bool      `json:"paused"`
	Next    time.Time `json:"nextRun,omitzero"`
	Note    string    `json:"note,omitempty"`
}

// listSchedules lists the schedules that start RunManualDag (never nil,
// so that JSON shows an empty list).
func listSchedules(ctx context.Context, c client.Client) ([]scheduleRow, error) {
	iter, err := c.ScheduleClient().List(ctx, client.ScheduleListOptions{})
	if err != nil {
		return nil, err
	}
	rows := []scheduleRow{}
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			return nil, err
		}
		if e.WorkflowType.Name != workflows.WorkflowName {
			continue // not manualdag's
		}
		r := scheduleRow{ID: e.ID, Spec: specString(e.Spec), Paused: e.Paused, Note: e.Note,
			Project: memoString(e.Memo, "project"), Flow: memoString(e.Memo, "flow")}
		if len(e.NextActionTimes) > 0 {
			r.Next = e.NextActionTimes[0]
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func memoString(m *commonpb.Memo, key string) string {
	p := m.GetFields()[key]
	if p == nil {
		return ""
	}
	var s string
	_ = converter.GetDefaultDataConverter().FromPayload(p, &s)
	return s
}

// specString is a one-line spec: "0 2 * * * (Asia/Shanghai)".
func specString(s *client.ScheduleSpec) string {
	if s == nil {
		return "-"
	}
	var parts []string
	parts = append(parts, s.CronExpressions...)
	for _, c := range s.Calendars {
		parts = append(parts, calendarString(c))
	}
	for _, iv := range s.Intervals {
		parts = append(parts, "every "+iv.Every.String())
	}
	tz := s.TimeZoneName
	if tz == "" {
		tz = "UTC"
	}
	return strings.Join(parts, "; ") + " (" + tz + ")"
}

func calendarString(c client.ScheduleCalendarSpec) string {
	var parts []string
	for _, f := range []struct {
		name   string
		ranges []client.ScheduleRange
	}{{"second", c.Second}, {"minute", c.Minute}, {"hour", c.Hour}, {"dayOfMonth", c.DayOfMonth}, {"month", c.Month}, {"year", c.Year}, {"dayOfWeek", c.DayOfWeek}} {
		var items []string
		for _, r := range f.ranges {
			item := strconv.Itoa(r.Start)
			if r.End > r.Start {
				item += "-" + strconv.Itoa(r.End)
			}
			if r.Step > 1 {
				item += "/" + strconv.Itoa(r.Step)
			}
			items = append(items, item)
		}
		if len(items) > 0 {
			parts = append(parts, f.name+"="+strings.Join(items, ","))
		}
	}
	return strings.Join(parts, " ")
}

func scheduleDescribe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var conn connection
	var asJSON bool
	fs := conn.newFlagSet("starter schedule describe", getenv, stderr)
	fs.BoolVar(&asJSON, "json", false, "print the schedule as JSON")
	pos, err := parseFlags(fs, args, 1, "usage: starter schedule describe SCHEDULE_ID [--json]")
	if err != nil {
		return err
	}
	c, err := conn.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	desc, err := c.ScheduleClient().GetHandle(ctx, pos[0]).Describe(ctx)
	if err != nil {
		return scheduleErr("describe", pos[0], err)
	}
	v := newScheduleView(pos[0], desc)
	if asJSON {
		return printJSON(stdout, v)
	}
	return printSchedule(stdout, v)
}

// scheduleView is what describe shows of a schedule.
type scheduleView struct {
	ID       string                       `json:"id"`
	Spec     string                       `json:"spec"`
	Timezone string                       `json:"timezone"`
	Paused   bool                         `json:"paused"`
	Note     string                       `json:"note,omitempty"`
	Input    *workflows.RunManualDagInput `json:"input,omitempty"`
	Next     []scheduledRun               `json:"nextRuns"`
	Recent   []scheduledRun               `json:"recentRuns"`
	Running  []string                     `json:"runningWorkflows"`
}

// scheduledRun is one past or coming action of a schedule.
type scheduledRun struct {
	ScheduledAt time.Time `json:"scheduledAt"`
	StartedAt   time.Time `json:"startedAt"`
	Bizdate     string    `json:"bizdate"`
	WorkflowID  string    `json:"workflowId,omitempty"`
	RunID       string    `json:"runId,omitempty"`
}

func newScheduleView(id string, desc *client.ScheduleDescription) scheduleView {
	v := scheduleView{ID: id, Spec: specString(desc.Schedule.Spec), Next: []scheduledRun{}, Recent: []scheduledRun{}, Running: []string{}}
	if spec := desc.Schedule.Spec; spec != nil {
		v.Timezone = spec.TimeZoneName
	}
	if st := desc.Schedule.State; st != nil {
		v.Paused, v.Note = st.Paused, st.Note
	}
	// The input's time zone decides the bizdates, when it has one.
	if v.Input = actionInput(desc.Schedule.Action); v.Input != nil && v.Input.Timezone != "" {
		v.Timezone = v.Input.Timezone
	}
	for _, t := range desc.Info.NextActionTimes {
		v.Next = append(v.Next, scheduledRun{ScheduledAt: t, Bizdate: bizdateFor(t, v.Timezone)})
	}
	for _, a := range desc.Info.RecentActions {
		r := scheduledRun{ScheduledAt: a.ScheduleTime, StartedAt: a.ActualTime, Bizdate: bizdateFor(a.ScheduleTime, v.Timezone)}
		if w := a.StartWorkflowResult; w != nil {
			r.WorkflowID, r.RunID = w.WorkflowID, w.FirstExecutionRunID
		}
		v.Recent = append(v.Recent, r)
	}
	for _, w := range desc.Info.RunningWorkflows {
		v.Running = append(v.Running, w.WorkflowID)
	}
	return v
}

// actionInput is the RunManualDag input of a schedule's action; nil for an
// action that is not manualdag's.
func actionInput(action client.ScheduleAction) *workflows.RunManualDagInput {
	a, ok := action.(*client.ScheduleWorkflowAction)
	if !ok || len(a.Args) != 1 {
		return nil
	}
	p, ok := a.Args[0].(*commonpb.Payload)
	if !ok {
		return nil
	}
	var in workflows.RunManualDagInput
	if converter.GetDefaultDataConverter().FromPayload(p, &in) != nil {
		return nil
	}
	return &in
}

func printSchedule(w io.Writer, v scheduleView) error {
	fmt.Fprintf(w, "schedule %s: %s, paused %v", v.ID, v.Spec, v.Paused)
	if v.Note != "" {
		fmt.Fprintf(w, " (%s)", v.Note)
	}
	fmt.Fprintln(w)
	if in := v.Input; in != nil {
		fmt.Fprintf(w, "runs %s/%s, bizdate: the day before the scheduled time in %s\n", in.ProjectName, in.FlowName, v.Timezone)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\tSCHEDULED\tBIZDATE\tWORKFLOW")
	for _, r := range v.Recent {
		fmt.Fprintf(tw, "recent\t%s\t%s\t%s\n", r.ScheduledAt.Format(time.RFC3339), r.Bizdate, r.WorkflowID)
	}
	for _, r := range v.Next {
		fmt.Fprintf(tw, "next\t%s\t%s\t-\n", r.ScheduledAt.Format(time.RFC3339), r.Bizdate)
	}
	return tw.Flush()
}

// scheduleOp triggers, pauses, unpauses or deletes a schedule.
func scheduleOp(ctx context.Context, op string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var conn connection
	var note string
	fs := conn.newFlagSet("starter schedule "+op, getenv, stderr)
	if op == "pause" || op == "unpause" {
		fs.StringVar(&note, "note", "", "why (kept with the schedule)")
	}
	pos, err := parseFlags(fs, args, 1, fmt.Sprintf("usage: starter schedule %s SCHEDULE_ID", op))
	if err != nil {
		return err
	}
	c, err := conn.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	h := c.ScheduleClient().GetHandle(ctx, pos[0])
	switch op {
	case "trigger":
		// A triggered run's scheduled time is now: its bizdate is yesterday.
		err = h.Trigger(ctx, client.ScheduleTriggerOptions{})
	case "pause":
		err = h.Pause(ctx, client.SchedulePauseOptions{Note: note})
	case "unpause":
		err = h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: note})
	case "delete":
		err = h.Delete(ctx)
	}
	if err != nil {
		return scheduleErr(op, pos[0], err)
	}
	past := map[string]string{"trigger": "triggered", "pause": "paused", "unpause": "unpaused", "delete": "deleted"}[op]
	fmt.Fprintf(stdout, "schedule %s %s\n", pos[0], past)
	return nil
}

func scheduleErr(op, id string, err error) error {
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return usageErr("schedule %s not found (`starter schedule list` lists them)", id)
	}
	return infraErr(fmt.Errorf("%s schedule %s: %w", op, id, err))
}

// bizdateFor is the bizdate of a run scheduled at t: the day before, in tz.
func bizdateFor(t time.Time, tz string) string {
	y, m, d := t.In(mustZone(tz)).Date()
	return time.Date(y, m, d-1, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
}

func mustZone(tz string) *time.Location {
	if loc, err := time.LoadLocation(tz); err == nil && tz != "" {
		return loc
	}
	loc, _ := time.LoadLocation(workflows.DefaultTimezone)
	return loc
}
