package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/manualdag/manualdag/dag"
)

func TestPrintReport(t *testing.T) {
	r := failedReport()
	r.UnfinishedNodes = []string{"dim_shop"}
	var b bytes.Buffer
	printReport(&b, r)
	out := b.String()
	for _, want := range []string{
		"DataWorks DAG 700019657457  demo_project/broken_sales  bizdate 2024-06-01  FAILED\n",
		r.Message + "\n",
		"NODE ID", "NAME", "STATUS", "ERROR",
		"failed:  dwd_merge\n",
		"blocked: ads_report, ads_export\n",
		"unfinished: dim_shop\n",
		"polls: 9\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report does not contain %q:\n%s", want, out)
		}
	}
	// One table row per node, with its name, status and error.
	for _, row := range [][]string{
		{"1", "load_ods", "SUCCESS", "2m0s"},
		{"2", "dwd_merge", "FAILURE", "ODPS-0130071: Semantic analysis exception"},
		{"3", "ads_report", "NOT_RUN"},
		{"4", "ads_export", "NOT_RUN"},
	} {
		if !hasRow(out, row) {
			t.Errorf("no row with %q in:\n%s", row, out)
		}
	}
}

func TestPrintReportSucceededHasNoProblemLines(t *testing.T) {
	var b bytes.Buffer
	printReport(&b, dag.DagReport{DagID: 7, ProjectName: "p", FlowName: "f", Bizdate: "2024-06-01", Outcome: dag.OutcomeSucceeded,
		Nodes: []dag.NodeReport{{ID: 1, Name: "load_ods", Status: "SUCCESS"}}})
	for _, unwanted := range []string{"failed:", "blocked:", "unfinished:"} {
		if strings.Contains(b.String(), unwanted) {
			t.Errorf("report has %q:\n%s", unwanted, b.String())
		}
	}
	if !hasRow(b.String(), []string{"1", "load_ods", "SUCCESS", "-", "-", "-"}) {
		t.Errorf("missing times and duration print as -:\n%s", b.String())
	}
}

// hasRow reports whether a line of out has exactly the fields of row first.
func hasRow(out string, row []string) bool {
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) < len(row) {
			continue
		}
		match := true
		for i, w := range row {
			if i == len(row)-1 && len(f) > len(row) {
				// The last wanted cell may be a multi-word error message.
				match = match && strings.Contains(line, w)
				break
			}
			match = match && f[i] == w
		}
		if match {
			return true
		}
	}
	return false
}

func TestProgressLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    dag.DagReport
		want string
	}{
		{"triggering", dag.DagReport{Outcome: dag.OutcomeTriggering}, "TRIGGERING"},
		{"running, in DAG order",
			dag.DagReport{Outcome: dag.OutcomeRunning, DagID: 700019657457,
				CountsByStatus: map[string]int{"NOT_RUN": 5, "RUNNING": 1, "SUCCESS": 3, "WAIT_RESOURCE": 0}},
			"RUNNING    DAG 700019657457  SUCCESS 3  RUNNING 1  NOT_RUN 5"},
		{"unknown statuses last, sorted",
			dag.DagReport{Outcome: dag.OutcomeRunning, DagID: 7,
				CountsByStatus: map[string]int{"CODE_42": 1, "FAILURE": 1, "CODE_17": 2, "CHECKING": 1}},
			"RUNNING    DAG 7  FAILURE 1  CHECKING 1  CODE_17 2  CODE_42 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Repeated: the line must not depend on map order.
			for range 20 {
				if got := progressLine(tc.r); got != tc.want {
					t.Fatalf("progressLine = %q, want %q", got, tc.want)
				}
			}
		})
	}
}

// Off a terminal, progress prints one line per change and nothing for a
// repeat.
func TestProgressPrintsChangesOnly(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b)
	running := dag.DagReport{Outcome: dag.OutcomeRunning, DagID: 7, CountsByStatus: map[string]int{"RUNNING": 1}}
	done := dag.DagReport{Outcome: dag.OutcomeSucceeded, DagID: 7, CountsByStatus: map[string]int{"SUCCESS": 1}}
	for _, r := range []dag.DagReport{running, running, done, done} {
		p.show(r)
	}
	p.finish()
	want := "RUNNING    DAG 7  RUNNING 1\nSUCCEEDED  DAG 7  SUCCESS 1\n"
	if b.String() != want {
		t.Errorf("progress output %q, want %q", b.String(), want)
	}
}
