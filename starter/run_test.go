package main

import (
	"strings"
	"testing"
	"time"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/workflows"
)

// 2024-06-01 20:00 UTC is already 2 June (04:00) in Shanghai: the default
// bizdate is 1 June there, while in UTC it would be 31 May.
var lateEvening = time.Date(2024, 6, 1, 20, 0, 0, 0, time.UTC)

func baseOptions() runOptions {
	return runOptions{project: "demo_project", flow: "daily_sales", timezone: workflows.DefaultTimezone}
}

func TestInputDefaultBizdateIsYesterdayInShanghai(t *testing.T) {
	o := baseOptions()
	in, err := o.input(lateEvening)
	if err != nil {
		t.Fatal(err)
	}
	if in.Bizdate != "2024-06-01" {
		t.Errorf("bizdate %q, want 2024-06-01 (the day before 2 June, Shanghai time)", in.Bizdate)
	}
	o.timezone = "UTC"
	if in, err = o.input(lateEvening); err != nil || in.Bizdate != "2024-05-31" {
		t.Errorf("UTC: bizdate %q, %v; want 2024-05-31", in.Bizdate, err)
	}
}

func TestInputBuildsWorkflowInput(t *testing.T) {
	o := baseOptions()
	o.bizdate = "2024-06-01 00:00:00"
	o.params = multiFlag{"region=east", "date=$[yyyymmdd]", "empty="}
	o.nodeParams = multiFlag{"103180025:limit=10", "103180025:mode=full", "103180027:x=y"}
	o.apiVersion, o.projectEnv = "2020-05-18", "DEV"
	o.timeout, o.pollInitial, o.pollMax, o.blockedGrace = "6h", "15s", "2m", "10m"
	o.failureWatch, o.failFast = "30s", "stop"
	in, err := o.input(lateEvening)
	if err != nil {
		t.Fatal(err)
	}
	want := workflows.RunManualDagInput{
		ProjectName:   "demo_project",
		FlowName:      "daily_sales",
		Bizdate:       "2024-06-01",
		DagParameters: workflows.Params{"region": "east", "date": "$[yyyymmdd]", "empty": ""},
		NodeParameters: map[string]workflows.Params{
			"103180025": {"limit": "10", "mode": "full"},
			"103180027": {"x": "y"},
		},
		APIVersion:   "2020-05-18",
		ProjectEnv:   "DEV",
		Timeout:      dag.Duration(6 * time.Hour),
		Poll:         workflows.PollOptions{InitialInterval: dag.Duration(15 * time.Second), MaxInterval: dag.Duration(2 * time.Minute)},
		BlockedGrace: dag.Duration(10 * time.Minute),
		FailureWatch: dag.Duration(30 * time.Second),
		FailFast:     "stop",
	}
	if got, wantS := jsonOf(t, in), jsonOf(t, want); got != wantS {
		t.Errorf("input\n got %s\nwant %s", got, wantS)
	}
}

// Every bad flag is refused with a message naming the flag and how to write
// it, before anything is started.
func TestInputErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*runOptions)
		want string
	}{
		{"no project", func(o *runOptions) { o.project = "" }, "--project and --flow are required"},
		{"no flow", func(o *runOptions) { o.flow = "" }, "--project and --flow are required"},
		{"bad timezone", func(o *runOptions) { o.timezone = "Mars/Olympus" }, `--timezone "Mars/Olympus" is not an IANA time zone`},
		{"bad bizdate", func(o *runOptions) { o.bizdate = "01/06/2024" }, `--bizdate: bizdate "01/06/2024" is not a date: write it as yyyy-MM-dd`},
		{"bizdate with time", func(o *runOptions) { o.bizdate = "2024-06-01 08:00:00" }, "has a time of day"},
		{"param without =", func(o *runOptions) { o.params = multiFlag{"region"} }, `--param "region": write it as key=value`},
		{"param without key", func(o *runOptions) { o.params = multiFlag{"=east"} }, `--param "=east": write it as key=value`},
		{"param twice", func(o *runOptions) { o.params = multiFlag{"k=1", "k=2"} }, `--param "k" is given twice`},
		{"param value with space", func(o *runOptions) { o.params = multiFlag{"k=a b"} }, `parameter "k" has a value with white space`},
		{"node param without node", func(o *runOptions) { o.nodeParams = multiFlag{"k=v"} }, `--node-param "k=v": write it as NODEID:key=value`},
		{"node param without =", func(o *runOptions) { o.nodeParams = multiFlag{"103180025:k"} }, `--node-param "103180025:k": write it as NODEID:key=value`},
		{"node param bad id", func(o *runOptions) { o.nodeParams = multiFlag{"ods:k=v"} }, `--node-param "ods:k=v": node id "ods" is not a DataWorks node id`},
		{"node param zero id", func(o *runOptions) { o.nodeParams = multiFlag{"0:k=v"} }, `node id "0" is not a DataWorks node id`},
		{"node param twice", func(o *runOptions) { o.nodeParams = multiFlag{"1:k=v", "1:k=w"} }, `--node-param "1:k" is given twice`},
		{"node param signed id", func(o *runOptions) { o.nodeParams = multiFlag{"+103180025:k=v"} }, `--node-param "+103180025:k=v": node id "+103180025" is not written as DataWorks writes node ids (no sign, leading zeros or spaces): use "103180025"`},
		{"node param alias of a given id", func(o *runOptions) { o.nodeParams = multiFlag{"1:k=v", "01:k=w"} }, `node id "01" is not written as DataWorks writes node ids (no sign, leading zeros or spaces): use "1"`},
		{"node param id with a space", func(o *runOptions) { o.nodeParams = multiFlag{" 1:k=v"} }, `use "1"`},
		{"node param value with tab", func(o *runOptions) { o.nodeParams = multiFlag{"1:k=a\tb"} }, "white space"},
		{"bad api version", func(o *runOptions) { o.apiVersion = "2019-01-01" }, `apiVersion "2019-01-01" is not supported`},
		{"project env on 2018", func(o *runOptions) { o.projectEnv = "DEV" }, "projectEnv is a 2020-05-18 and 2024-05-18 setting"},
		{"bad timeout", func(o *runOptions) { o.timeout = "2 hours" }, `--timeout "2 hours" is not a positive duration such as 30s, 5m or 2h`},
		{"zero timeout", func(o *runOptions) { o.timeout = "0s" }, `--timeout "0s" is not a positive duration`},
		{"negative poll", func(o *runOptions) { o.pollInitial = "-10s" }, `--poll-initial "-10s" is not a positive duration`},
		{"zero poll max", func(o *runOptions) { o.pollMax = "0" }, `--poll-max "0" is not a positive duration`},
		{"negative grace", func(o *runOptions) { o.blockedGrace = "-1m" }, `--blocked-grace "-1m" is not a positive duration`},
		{"timeout too short", func(o *runOptions) { o.timeout = "30s" }, "timeout 30s is out of range"},
		{"failure watch too short", func(o *runOptions) { o.failureWatch = "1s" }, "failureWatch 1s is out of range: use 10s to 1h0m0s"},
		{"bad fail fast", func(o *runOptions) { o.failFast = "yes" }, `failFast "yes" is not "stop"`},
		{"poll max below initial", func(o *runOptions) { o.pollInitial, o.pollMax = "1m", "30s" }, "poll.maxInterval 30s is shorter than poll.initialInterval 1m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOptions()
			tc.edit(&o)
			_, err := o.input(lateEvening)
			if err == nil {
				t.Fatalf("no error, want one containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans lines", err)
			}
		})
	}
}
