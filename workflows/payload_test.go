package workflows

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
)

// Temporal's default limits of one payload blob: the server refuses above
// 2 MiB and warns above 512 KiB.
const (
	blobLimit = 2 << 20
	blobWarn  = 512 << 10
)

func payloadSize(t *testing.T, v any) int {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return p.Size()
}

// A 5,000-node DAG whose every node failed with a long error message (one
// JSON inflates: <, > and & are 6 bytes each) fits in Temporal's payload
// limit as the search result, the continue-as-new input and the report;
// the counts stay exact and the report says what it left out.
func TestLargeDagPayloadsStayUnderTheLimit(t *testing.T) {
	const n = 5000
	base := time.Date(2024, 6, 2, 1, 0, 0, 0, time.UTC)
	errText := strings.Repeat(`ODPS-0130071:[1,8] Semantic analysis exception - column <sale_amt> & "x" cannot be resolved `, 100)
	list := make([]dataworks.NodeInstance, n)
	for i := range list {
		list[i] = dataworks.NodeInstance{
			// 64 bytes, DataWorks' longer names.
			InstanceID: 705772600901 + int64(i), NodeName: fmt.Sprintf("%s_%04d", strings.Repeat("x", 59), i),
			Status:           dag.StatusFailure,
			BeginRunningTime: base.Add(time.Duration(i) * time.Second), FinishTime: base.Add(time.Duration(i+60) * time.Second),
			ErrorMessage: errText,
		}
	}
	rep, _ := payloadsFit(t, list)
	if len(rep.Nodes) != n || len(rep.FailedNodes) != n || rep.CountsByStatus[string(dag.StatusFailure)] != n {
		t.Errorf("counts: %d nodes, %d failed, %v", len(rep.Nodes), len(rep.FailedNodes), rep.CountsByStatus)
	}
	kept := 0
	for _, nr := range rep.Nodes {
		if nr.ErrorMessage != dag.ErrorOmitted {
			kept++
		}
	}
	if kept == 0 || kept == n || !strings.Contains(rep.Truncated, fmt.Sprintf("error messages of %d nodes are left out", n-kept)) {
		t.Errorf("%d messages kept; truncated %q", kept, rep.Truncated)
	}
}

// The longest names DataWorks allows (128 Chinese characters, 384 bytes) on
// 5,000 nodes: names are cut at MaxNameBytes in the snapshot, and the report
// drops its per-node table before it would pass Temporal's limit, keeping
// the counts and the lists of failed, blocked and unfinished nodes.
func TestLargeDagWithLongNamesStaysUnderTheLimit(t *testing.T) {
	const n = 5000
	long := strings.Repeat("销售日报汇总", 21) // 126 characters, 378 bytes
	list := make([]dataworks.NodeInstance, n)
	for i := range list {
		st := dag.StatusSuccess
		if i%2 == 0 {
			st = dag.StatusFailure
		}
		list[i] = dataworks.NodeInstance{InstanceID: 705772600901 + int64(i), NodeName: fmt.Sprintf("%s%04d", long, i), Status: st,
			ErrorMessage: strings.Repeat("e", 300)}
	}
	rep, nodes := payloadsFit(t, list)
	if len(rep.FailedNodes) != n/2 || rep.CountsByStatus[string(dag.StatusSuccess)] != n/2 || rep.Total() != n {
		t.Errorf("counts: %d failed, %v, total %d", len(rep.FailedNodes), rep.CountsByStatus, rep.Total())
	}
	if !strings.Contains(rep.Truncated, "left out of the node table") && !strings.Contains(rep.Truncated, "node table (5000 nodes) is left out") {
		t.Errorf("truncated %q", rep.Truncated)
	}
	if !strings.Contains(rep.Message, "2500 of 5000 nodes failed") {
		t.Errorf("message %q", rep.Message)
	}
	if len(nodes[0].Name) > activities.MaxNameBytes {
		t.Errorf("name of %d bytes", len(nodes[0].Name))
	}
}

// payloadsFit builds the search result, the continue-as-new input and the
// report of a failed DAG run of list, and checks each fits in one payload.
func payloadsFit(t *testing.T, list []dataworks.NodeInstance) (dag.DagReport, []dag.Node) {
	t.Helper()
	res := activities.Compact(list, 200, activities.Known{})
	nodes, err := res.Nodes(nil)
	if err != nil {
		t.Fatal(err)
	}
	var rep dag.DagReport
	rep.Outcome = dag.OutcomeFailed
	rep.SetNodes(nodes)
	rep.Message = rep.Summary("")
	in := RunManualDagInput{ProjectName: "p", FlowName: "f", Continued: &WatchState{DagID: 1, Nodes: nodes}}
	for _, p := range []struct {
		name string
		v    any
	}{{"search result", res}, {"continue-as-new input", in}, {"report", rep}} {
		size := payloadSize(t, p.v)
		t.Logf("%s: %d bytes (Temporal warns above %d)", p.name, size, blobWarn)
		if size > blobLimit {
			t.Errorf("%s is %d bytes, over Temporal's %d", p.name, size, blobLimit)
		}
	}
	return rep, nodes
}
