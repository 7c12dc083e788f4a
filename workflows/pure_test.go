package workflows

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/manualdag/manualdag/dag"
)

func TestDecide(t *testing.T) {
	t0 := time.Date(2024, 6, 2, 1, 0, 0, 0, time.UTC)
	st := func(ss ...dag.Status) []dag.Node {
		var out []dag.Node
		for i, s := range ss {
			out = append(out, dag.Node{ID: int64(i + 1), Name: string(s), Status: s})
		}
		return out
	}
	const (
		S = dag.StatusSuccess
		F = dag.StatusFailure
		N = dag.StatusNotRun
		R = dag.StatusRunning
		W = dag.StatusWaitResource
		C = dag.StatusChecking
	)
	U := dag.StatusFromCode(42)
	for _, tc := range []struct {
		name    string
		nodes   []dag.Node
		now     time.Duration // after trigger
		stable  time.Duration // picture unchanged since (after trigger)
		want    dag.Outcome
		recheck bool
	}{
		{"all success", st(S, S, S), time.Minute, 0, dag.OutcomeSucceeded, false},
		{"empty list early", nil, time.Minute, 0, dag.OutcomeRunning, true},
		{"empty list past grace: no verdict", nil, 5 * time.Minute, 0, dag.OutcomeRunning, false},
		{"empty list is never success even at deadline", nil, 3 * time.Hour, 0, dag.OutcomeTimedOut, false},
		{"all final, one failed", st(S, F, S), time.Minute, 0, dag.OutcomeFailed, false},
		{"blocked within grace", st(S, F, N, N), 2 * time.Minute, time.Minute, dag.OutcomeRunning, true},
		{"blocked past grace", st(S, F, N, N), 4 * time.Minute, time.Minute, dag.OutcomeFailed, false},
		{"failure but something running", st(F, R, N), time.Hour, 0, dag.OutcomeRunning, false},
		{"failure but something checking", st(F, C, N), time.Hour, 0, dag.OutcomeRunning, false},
		{"failure and an unknown status", st(F, U, N), time.Hour, 0, dag.OutcomeRunning, false},
		{"unknown status only", st(S, U), time.Hour, 0, dag.OutcomeRunning, false},
		{"not run without failure waits", st(S, N), time.Hour, 0, dag.OutcomeRunning, false},
		{"running", st(S, W, R), time.Minute, 0, dag.OutcomeRunning, false},
		{"deadline", st(S, R), 2 * time.Hour, 0, dag.OutcomeTimedOut, false},
		{"success at the deadline is success", st(S, S), 2 * time.Hour, 0, dag.OutcomeSucceeded, false},
		{"blocked in grace at deadline", st(F, N), 2 * time.Hour, 2*time.Hour - time.Minute, dag.OutcomeTimedOut, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.nodes, Timing{
				Now: t0.Add(tc.now), TriggeredAt: t0, Deadline: t0.Add(2 * time.Hour), StableSince: t0.Add(tc.stable),
				BlockedGrace: 3 * time.Minute, EmptyListGrace: 5 * time.Minute,
				ListSettle: 30 * time.Second, CountPolls: 2,
			})
			if d.Outcome != tc.want || !d.RecheckAt.IsZero() != tc.recheck {
				t.Fatalf("got %+v, want %s (recheck %v)", d, tc.want, tc.recheck)
			}
			if (d.Outcome == dag.OutcomeFailed || d.Outcome == dag.OutcomeTimedOut) && d.Reason == "" {
				t.Fatal("no reason given")
			}
		})
	}
}

// TestDecideWaitsForACompleteList: no verdict, SUCCEEDED or FAILED, before
// the evidence that the node list is complete (issue 12, item 1).
func TestDecideWaitsForACompleteList(t *testing.T) {
	t0 := time.Date(2024, 6, 2, 1, 0, 0, 0, time.UTC)
	list := func(n int, st dag.Status) []dag.Node {
		out := make([]dag.Node, n)
		for i := range out {
			out[i] = dag.Node{ID: int64(i + 1), Name: fmt.Sprint("n", i), Status: st}
		}
		return out
	}
	ok2, failed2 := list(2, dag.StatusSuccess), list(2, dag.StatusFailure)
	for _, tc := range []struct {
		name     string
		nodes    []dag.Node
		now      time.Duration // after trigger
		polls    int           // searches in a row with this count
		expected int           // fewest nodes of earlier runs
		want     dag.Outcome
		recheck  time.Duration // after trigger; 0 = none
	}{
		{"first run within the default settle", ok2, 4 * time.Minute, 20, 0, dag.OutcomeRunning, DefaultListSettle},
		{"failure within the default settle", failed2, time.Minute, 5, 0, dag.OutcomeRunning, DefaultListSettle},
		{"first run past the settle", ok2, DefaultListSettle, 20, 0, dag.OutcomeSucceeded, 0},
		{"count seen once", ok2, time.Hour, 1, 0, dag.OutcomeRunning, time.Hour + DefaultInitialInterval},
		{"as many as history: a minute is enough", ok2, HistorySettle, 2, 2, dag.OutcomeSucceeded, 0},
		{"as many as history, within the minute", ok2, 30 * time.Second, 2, 2, dag.OutcomeRunning, HistorySettle},
		{"fewer than history waits twice the settle", ok2, 9 * time.Minute, 30, 4, dag.OutcomeRunning, 2 * DefaultListSettle},
		{"fewer than history, failed, waits too", failed2, 9 * time.Minute, 30, 4, dag.OutcomeRunning, 2 * DefaultListSettle},
		{"fewer than history past the wait is judged", ok2, 2 * DefaultListSettle, 30, 4, dag.OutcomeSucceeded, 0},
		{"deadline is still the deadline", ok2, 2 * time.Minute, 1, 4, dag.OutcomeTimedOut, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.nodes, Timing{
				Now: t0.Add(tc.now), TriggeredAt: t0, Deadline: t0.Add(map[bool]time.Duration{true: 2 * time.Minute, false: 24 * time.Hour}[tc.want == dag.OutcomeTimedOut]),
				StableSince: t0, BlockedGrace: 3 * time.Minute, EmptyListGrace: 5 * time.Minute,
				ListSettle: DefaultListSettle, CountPolls: tc.polls, ExpectedNodes: tc.expected, PartialListWait: 2 * DefaultListSettle,
			})
			if d.Outcome != tc.want {
				t.Fatalf("got %+v, want %s", d, tc.want)
			}
			if want := t0.Add(tc.recheck); tc.recheck != 0 && !d.RecheckAt.Equal(want) {
				t.Fatalf("recheck at %v, want %v (%s)", d.RecheckAt, want, d.Reason)
			}
		})
	}
}

func TestBackoffPolicy(t *testing.T) {
	p := BackoffPolicy{Initial: 10 * time.Second, Max: 5 * time.Minute, Multiplier: 2}
	for _, tc := range []struct {
		obs  Observation
		want time.Duration
	}{
		{Observation{Changed: true}, 10 * time.Second},
		{Observation{Unchanged: 1}, 20 * time.Second},
		{Observation{Unchanged: 3}, 80 * time.Second},
		{Observation{Unchanged: 30}, 5 * time.Minute},
		{Observation{Changed: true, Unchanged: 30}, 10 * time.Second}, // a change resets to fast
	} {
		if got := p.Next(tc.obs); got != tc.want {
			t.Errorf("%+v: got %v, want %v", tc.obs, got, tc.want)
		}
	}
	if got := (BackoffPolicy{Initial: time.Nanosecond, Max: time.Nanosecond, Multiplier: 1}).Next(Observation{}); got != MinPollInterval {
		t.Errorf("floor: got %v", got)
	}

	// Jitter: within ±Jitter, the same for the same seed and poll (replay),
	// different across polls and workflows.
	p.Jitter = 0.2
	seed := JitterSeed("wf-1")
	seen := map[time.Duration]bool{}
	for polls := range 50 {
		obs := Observation{Polls: polls, Unchanged: 2, Seed: seed}
		d := p.Next(obs)
		if d < 32*time.Second || d > 48*time.Second {
			t.Fatalf("poll %d: %v outside 40s ±20%%", polls, d)
		}
		if d != p.Next(obs) {
			t.Fatal("not deterministic")
		}
		seen[d] = true
	}
	if len(seen) < 40 {
		t.Errorf("only %d distinct waits in 50 polls", len(seen))
	}
	if p.Next(Observation{Polls: 1, Seed: seed}) == p.Next(Observation{Polls: 1, Seed: JitterSeed("wf-2")}) {
		t.Error("two workflows poll in step")
	}
}

func TestParseInput(t *testing.T) {
	in, err := ParseInput([]byte(`{"projectName":"demo_project","flowName":"daily_sales","bizdate":"2024-06-01 00:00:00",
		"dagParameters":"a=1 b=x","nodeParameters":{"103180025":{"k":"v","n":5,"ok":true},"103180026":"test=$[yyyy-mm-dd]"},
		"timeout":"2h","poll":{"initialInterval":"10s","maxInterval":"5m"},"failOnDagFailure":false}`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := in.settings(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := s.create
	if c.Bizdate != "2024-06-01" || c.DagParameters.String() != "a=1 b=x" ||
		c.NodeParameters[103180025].String() != "k=v n=5 ok=true" || c.NodeParameters[103180026].String() != "test=$[yyyy-mm-dd]" ||
		s.timeout != 2*time.Hour || s.policy.Initial != 10*time.Second || s.failOnDagFailure {
		t.Fatalf("got %+v", s)
	}
	d, _ := ParseInput([]byte(`{"projectName":"p","flowName":"f","dagParameters":{"k":"v"}}`))
	if s, err := d.settings(time.Now()); err != nil || !s.failOnDagFailure || s.timeout != DefaultTimeout ||
		s.blockedGrace != DefaultBlockedGrace || s.emptyListGrace != DefaultEmptyListGrace || s.listSettle != DefaultListSettle {
		t.Fatalf("defaults: %+v, %v", s, err)
	}
}

// A node id has one spelling: aliases of one node would be one map entry
// each, and which of their parameters reached DataWorks would depend on the
// map's order.
func TestNodeParametersKeysAreCanonical(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want string // "" = accepted
	}{
		{"103180025", ""},
		{"1", ""},
		{"9223372036854775807", ""},
		{"+103180025", `node id "+103180025" is not written as DataWorks writes node ids (no sign, leading zeros or spaces): use "103180025"`},
		{"0103180025", `use "103180025"`},
		{"00000001", `use "1"`},
		{" 103180025", `use "103180025"`},
		{"103180025 ", `use "103180025"`},
		{`\t103180025`, `use "103180025"`}, // a tab, escaped in the JSON
		{"-103180025", "is not a DataWorks node id"},
		{"0", "is not a DataWorks node id"},
		{"9223372036854775808", "is not a DataWorks node id"},
		{"1e3", "is not a DataWorks node id"},
		{"", "is not a DataWorks node id"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			in, err := ParseInput([]byte(`{"projectName":"p","flowName":"f","nodeParameters":{"` + tc.key + `":"k=v"}}`))
			if err != nil {
				t.Fatal(err)
			}
			err = in.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "nodeParameters: ")):
				t.Fatalf("got %v, want an error about nodeParameters with %q", err, tc.want)
			}
		})
	}
	// Two aliases of one node: refused whichever the map loop meets first.
	in, err := ParseInput([]byte(`{"projectName":"p","flowName":"f","nodeParameters":{"103180025":"k=a","0103180025":"k=b"}}`))
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if err := in.Validate(); err == nil || !strings.Contains(err.Error(), `"0103180025"`) {
			t.Fatalf("aliases: got %v", err)
		}
	}
}

// Two (project, flow) pairs never share a workflow id, whatever the names
// hold; plain names keep the ids they always had.
func TestWorkflowIDsAreInjective(t *testing.T) {
	for _, tc := range []struct{ project, flow, want string }{
		{"demo_project", "daily_sales", "manualdag/demo_project/daily_sales/2024-06-01"},
		{"p", "销售日报 v2.1-(全量)", "manualdag/p/销售日报 v2.1-(全量)/2024-06-01"},
		{"a/b", "c", "manualdag/a%2Fb/c/2024-06-01"},
		{"a", "b/c", "manualdag/a/b%2Fc/2024-06-01"},
		{"a", "b%2Fc", "manualdag/a/b%252Fc/2024-06-01"},
	} {
		if got := BizdateWorkflowID(tc.project, tc.flow, "2024-06-01"); got != tc.want {
			t.Errorf("BizdateWorkflowID(%q, %q) = %q, want %q", tc.project, tc.flow, got, tc.want)
		}
	}
	if got, want := BackfillWorkflowID("demo_project", "daily_sales", "2024-06-01", "2024-06-30"),
		"manualdag-backfill/demo_project/daily_sales/2024-06-01..2024-06-30"; got != want {
		t.Errorf("BackfillWorkflowID = %q, want %q", got, want)
	}
	if BackfillWorkflowID("a/b", "c", "2024-06-01", "2024-06-02") == BackfillWorkflowID("a", "b/c", "2024-06-01", "2024-06-02") {
		t.Error("two backfills share an id")
	}
	// Every pair of names up to three characters from the characters that
	// matter: no two pairs share an id.
	var names []string
	var grow func(prefix string)
	grow = func(prefix string) {
		names = append(names, prefix)
		if len(prefix) < 3 {
			for _, c := range []string{"a", "/", "%", "2", "F"} {
				grow(prefix + c)
			}
		}
	}
	grow("")
	seen := map[string][2]string{}
	for _, p := range names {
		for _, f := range names {
			id := BizdateWorkflowID(p, f, "2024-06-01")
			if prev, dup := seen[id]; dup {
				t.Fatalf("%q+%q and %q+%q share the id %q", prev[0], prev[1], p, f, id)
			}
			seen[id] = [2]string{p, f}
		}
	}
}

func TestInputErrors(t *testing.T) {
	for raw, want := range map[string]string{
		`{"projectName":"p","flowName":"f","accessKeyId":"LTAI"}`:                    "credentials belong to the worker's environment",
		`{"projectName":"p","flowName":"f","ALIBABA_CLOUD_ACCESS_KEY_SECRET":"x"}`:   "looks like a credential",
		`{"projectName":"p","flowName":"f","flowname2":"x"}`:                         `unknown field "flowname2"`,
		`{"projectName":"p","flowName":"f","timeout":"87600h"}`:                      "timeout 87600h0m0s is out of range",
		`{"projectName":"p","flowName":"f","timeout":"-1h"}`:                         "must be positive",
		`{"projectName":"p","flowName":"f","timeout":3600}`:                          `must be a string such as "90s"`,
		`{"projectName":"p","flowName":"f","poll":{"initialInterval":"1ns"}}`:        "poll.initialInterval 1ns is out of range",
		`{"projectName":"p","flowName":"f","poll":{"maxInterval":"2s"}}`:             "shorter than poll.initialInterval",
		`{"projectName":"p","flowName":"f","poll":{"multiplier":0.5}}`:               "poll.multiplier",
		`{"projectName":"p","flowName":"f","dagParameters":{"k":"a b"}}`:             `parameter "k" has a value with white space`,
		`{"projectName":"p","flowName":"f","dagParameters":{"a=b":"c"}}`:             "contains '='",
		`{"projectName":"p","flowName":"f","dagParameters":"novalue"}`:               "has no '='",
		`{"projectName":"p","flowName":"f","nodeParameters":{"abc":"k=v"}}`:          `node id "abc"`,
		`{"projectName":"p","flowName":"f","dagParameters":{"k":{"x":1}}}`:           "values are strings, numbers or booleans",
		`{"projectName":"p","flowName":"f","timezone":"Nowhere/City"}`:               "not an IANA time zone",
		`{"projectName":"p","flowName":"f","bizdate":"2024-06-01","timezone":"UTC"}`: "leave it out when bizdate is given",
		`{"projectName":"p","flowName":"f","projectEnv":"DEV"}`:                      "set apiVersion",
		`{"projectName":"p","flowName":"f","continueAsNewEvery":100000}`:             "unknown field",
		`{"projectName":"p","flowName":"f","continued":{"polls":3}}`:                 "leave it out",
		`[1,2]`: "not a JSON object",
	} {
		in, err := ParseInput([]byte(raw))
		if err == nil {
			err = in.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", raw, err, want)
		}
	}
}

func TestReportMessageNamesFailedNodes(t *testing.T) {
	r := dag.DagReport{DagID: 700019657457, ProjectName: "project", FlowName: "flow", Bizdate: "2024-06-01", Outcome: dag.OutcomeFailed}
	var nodes []dag.Node
	for i, s := range []dag.Status{"FAILURE", "FAILURE", "NOT_RUN", "NOT_RUN", "NOT_RUN", "SUCCESS", "SUCCESS", "SUCCESS", "SUCCESS"} {
		nodes = append(nodes, dag.Node{ID: int64(i), Name: []string{"load_ods", "dwd_merge", "a", "b", "c", "d", "e", "f", "g"}[i], Status: s})
	}
	r.SetNodes(nodes)
	got := r.Summary("blocked")
	want := "DataWorks DAG 700019657457 (project/flow, bizdate 2024-06-01) failed: 2 of 9 nodes failed (load_ods, dwd_merge), 3 blocked (a, b, c)"
	if !strings.HasPrefix(got, want) {
		t.Fatalf("got  %q\nwant %q…", got, want)
	}
}

// A snapshot the latest searches could not confirm is never judged, not
// even at the deadline: there it is TIMED_OUT, not SUCCEEDED.
func TestDecideNeverJudgesAStaleSnapshot(t *testing.T) {
	t0 := time.Date(2024, 6, 2, 1, 0, 0, 0, time.UTC)
	nodes := []dag.Node{{ID: 1, Name: "a", Status: dag.StatusSuccess}}
	tm := Timing{Now: t0.Add(time.Hour), TriggeredAt: t0, Deadline: t0.Add(2 * time.Hour), StableSince: t0,
		BlockedGrace: time.Minute, EmptyListGrace: time.Minute, ListSettle: time.Second, CountPolls: 5, Stale: true}
	if d := Decide(nodes, tm); d.Outcome != dag.OutcomeRunning {
		t.Fatalf("stale: %+v", d)
	}
	tm.Now = tm.Deadline
	if d := Decide(nodes, tm); d.Outcome != dag.OutcomeTimedOut {
		t.Fatalf("stale at the deadline: %+v", d)
	}
	tm.Stale = false
	if d := Decide(nodes, tm); d.Outcome != dag.OutcomeSucceeded {
		t.Fatalf("confirmed: %+v", d)
	}
}

// TestBlockedCountsFromDataWorksClock: a blocked DAG counts as failed
// BlockedGrace after the last change DataWorks reports, so a failure a poll
// saw late is reported at that poll; times from a clock that disagrees with
// the workflow's are not trusted (issue 14, item 2).
func TestBlockedCountsFromDataWorksClock(t *testing.T) {
	t0 := time.Date(2024, 6, 2, 1, 0, 0, 0, time.UTC)
	at := func(d time.Duration) int64 { return t0.Add(d).Unix() }
	// blocked failed at +10m by the workflow's clock, seen on a DataWorks
	// clock skew ahead of it.
	blocked := func(skew time.Duration) []dag.Node {
		return []dag.Node{
			{ID: 1, Name: "a", Status: dag.StatusSuccess, Begin: at(time.Second + skew), Finish: at(time.Minute + skew)},
			{ID: 2, Name: "b", Status: dag.StatusFailure, Begin: at(time.Minute + skew), Finish: at(10*time.Minute + skew)},
			{ID: 3, Name: "c", Status: dag.StatusNotRun},
		}
	}
	for _, tc := range []struct {
		name    string
		nodes   []dag.Node
		seen    time.Duration // the poll that saw the change (StableSince)
		now     time.Duration
		want    dag.Outcome
		recheck time.Duration // after the trigger; 0 = none
	}{
		{"failed 50s before the poll that saw it: failed at that poll", blocked(0), 10*time.Minute + 50*time.Second, 10*time.Minute + 50*time.Second, dag.OutcomeFailed, 0},
		{"failed 10s before: held until 30s after the failure", blocked(0), 10*time.Minute + 10*time.Second, 10*time.Minute + 10*time.Second, dag.OutcomeRunning, 10*time.Minute + 30*time.Second},
		{"at the end of the grace", blocked(0), 10*time.Minute + 10*time.Second, 10*time.Minute + 30*time.Second, dag.OutcomeFailed, 0},
		{"a clock ahead of the workflow's is not trusted", blocked(2 * time.Minute), 10*time.Minute + 50*time.Second, 10*time.Minute + 50*time.Second, dag.OutcomeRunning, 10*time.Minute + 80*time.Second},
		{"a clock hours behind is not trusted", blocked(-8 * time.Hour), 10*time.Minute + 50*time.Second, 10*time.Minute + 50*time.Second, dag.OutcomeRunning, 10*time.Minute + 80*time.Second},
		{"no times: from the poll", []dag.Node{{ID: 2, Status: dag.StatusFailure}, {ID: 3, Status: dag.StatusNotRun}}, 10 * time.Minute, 10 * time.Minute, dag.OutcomeRunning, 10*time.Minute + 30*time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.nodes, Timing{
				Now: t0.Add(tc.now), TriggeredAt: t0, Deadline: t0.Add(24 * time.Hour), StableSince: t0.Add(tc.seen),
				BlockedGrace: DefaultBlockedGrace, EmptyListGrace: 5 * time.Minute, ListSettle: time.Second, CountPolls: 2,
			})
			if d.Outcome != tc.want {
				t.Fatalf("got %+v, want %s", d, tc.want)
			}
			if want := t0.Add(tc.recheck); tc.recheck != 0 && !d.RecheckAt.Equal(want) {
				t.Fatalf("recheck at %v, want %v (%s)", d.RecheckAt, want, d.Reason)
			}
		})
	}
}

// TestFailFastDecides: with FailFast a failure is FAILED while other nodes
// still run, but not before the node list has settled.
func TestFailFastDecides(t *testing.T) {
	t0 := time.Date(2024, 6, 2, 1, 0, 0, 0, time.UTC)
	nodes := []dag.Node{{ID: 1, Status: dag.StatusFailure}, {ID: 2, Status: dag.StatusRunning}, {ID: 3, Status: dag.StatusNotRun}}
	timing := Timing{Now: t0.Add(time.Hour), TriggeredAt: t0, Deadline: t0.Add(24 * time.Hour), StableSince: t0,
		BlockedGrace: DefaultBlockedGrace, ListSettle: DefaultListSettle, CountPolls: 2}
	if d := Decide(nodes, timing); d.Outcome != dag.OutcomeRunning {
		t.Fatalf("without failFast: %+v, want RUNNING while a node runs", d)
	}
	timing.FailFast = true
	if d := Decide(nodes, timing); d.Outcome != dag.OutcomeFailed || !strings.Contains(d.Reason, "failFast") {
		t.Fatalf("failFast: %+v, want FAILED", d)
	}
	timing.Now = t0.Add(time.Minute)
	if d := Decide(nodes, timing); d.Outcome != dag.OutcomeRunning {
		t.Fatalf("failFast within listSettle: %+v, want RUNNING", d)
	}
}
