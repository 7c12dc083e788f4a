package activities

import (
	"strings"
	"testing"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
)

// Error messages of failed nodes are kept before any other's, within the
// total bound as JSON writes it; the rest are marked, not dropped silently.
func TestCompactBoundsErrorMessages(t *testing.T) {
	var list []dataworks.NodeInstance
	for i := range 2000 {
		s := dag.StatusSuccess
		if i%2 == 1 {
			s = dag.StatusFailure
		}
		list = append(list, dataworks.NodeInstance{InstanceID: int64(i + 1), NodeName: "n", Status: s,
			ErrorMessage: strings.Repeat("<&>", 100)})
	}
	nodes, err := Compact(list, 200, Known{}).Nodes(nil)
	if err != nil {
		t.Fatal(err)
	}
	total, keptOK, keptFailed, omitted := 0, 0, 0, 0
	for _, n := range nodes {
		switch {
		case n.ErrorMessage == dag.ErrorOmitted:
			omitted++
		case n.Status == dag.StatusFailure:
			keptFailed++
		default:
			keptOK++
		}
		total += jsonSize(n.ErrorMessage)
	}
	if total > MaxErrorsTotal+omitted*len(`\u2026`) || omitted == 0 {
		t.Errorf("%d bytes of messages, %d omitted", total, omitted)
	}
	if keptOK > 0 && keptFailed < 1000 {
		t.Errorf("kept %d messages of succeeded nodes before all failed ones (%d of 1000)", keptOK, keptFailed)
	}
	if keptFailed == 0 {
		t.Error("no failed node's message kept")
	}
}
