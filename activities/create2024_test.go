package activities

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"go.temporal.io/sdk/converter"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
	"github.com/manualdag/manualdag/dataworks/aliyun"
	"github.com/manualdag/manualdag/internal/emulator"
)

// create2024In is demo_project (10000) / daily_sales (1000001) by id.
var create2024In = CreateManualDagInput{ProjectName: "10000", FlowName: "1000001", Bizdate: "2024-06-01", APIVersion: dag.APIVersion2024}

func startEmulator2024(t *testing.T, opts emulator.Options) (*emulator.Emulator, *aliyun.Client) {
	t.Helper()
	def, err := emulator.ParseDefinition([]byte(emuFlow))
	if err != nil {
		t.Fatal(err)
	}
	opts.Definition = def
	opts.Credentials = map[string]emulator.Key{"key-id": {Secret: "key-secret-0123456789"}}
	emu, err := emulator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	c, err := aliyun.New(aliyun.Config{
		Endpoint: strings.TrimPrefix(srv.URL, "http://"), Scheme: "http", APIVersion: dag.APIVersion2024,
		Credential: credentials.NewStaticAKCredentialsProvider("key-id", "key-secret-0123456789"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return emu, c
}

func run2024(t *testing.T, c *aliyun.Client, in CreateManualDagInput) (CreateManualDagResult, error) {
	t.Helper()
	a := &Activities{DW: c, Rand: func() float64 { return 0.5 }, RecordIntent: heartbeatIntent,
		createResolveWindow: 2 * time.Second, createResolvePoll: 20 * time.Millisecond}
	val, err := newActivityEnvWith(t, a).ExecuteActivity(a.CreateManualDag, in)
	var res CreateManualDagResult
	if err == nil {
		err = val.Get(&res)
	}
	return res, err
}

func TestCreate2024FollowsTheOperation(t *testing.T) {
	emu, c := startEmulator2024(t, emulator.Options{CreatingFor: 100 * time.Millisecond})
	res, err := run2024(t, c, create2024In)
	if err != nil {
		t.Fatal(err)
	}
	dags := emu.DAGs()
	if len(dags) != 1 || res.DagID != dags[0].DagID || res.Recovered {
		t.Fatalf("result %+v, runs %+v", res, dags)
	}
	if dags[0].Tags[dataworks.MarkerTagKey] == "" || !strings.Contains(dags[0].Comment, "Temporal workflow") {
		t.Errorf("the run carries no marker or comment: %+v", dags[0])
	}
	if n := emu.Stats().Calls["GetCreateWorkflowInstancesResult"].Total; n < 2 {
		t.Errorf("%d result reads: the create was Creating for 100ms", n)
	}
}

// TestCreate2024AmbiguousIsResolved: the create reached DataWorks and its
// reply was lost or unreadable; the run is found by its marker and adopted,
// and nothing is sent again.
func TestCreate2024AmbiguousIsResolved(t *testing.T) {
	for name, f := range map[string]emulator.Faults{
		"reply dropped":                      {DropRate: 1},
		"business error after processing":    {BusinessErrors: 1, BusinessErrorAfterProcessing: true},
		"HttpStatusCode 500 inside a 200 ":   {BusinessErrors: 1, BusinessErrorAfterProcessing: true, BusinessErrorStatus: 500, BusinessErrorCode: "Unexpected"},
		"business error before processing":   {BusinessErrors: 1},
		"dropped, listed only after Created": {DropRate: 1},
	} {
		t.Run(name, func(t *testing.T) {
			opts := emulator.Options{Faults: map[string]emulator.Faults{"CreateWorkflowInstances": f}}
			if strings.HasPrefix(name, "dropped") {
				opts.CreatingFor = 300 * time.Millisecond
			}
			emu, c := startEmulator2024(t, opts)
			res, err := run2024(t, c, create2024In)
			dags := emu.DAGs()
			if n := emu.Stats().Calls["CreateWorkflowInstances"].Total; n != 1 {
				t.Fatalf("%d creates sent", n)
			}
			if name == "business error before processing" {
				// Nothing was created: none is found, and the outcome stays unknown.
				if appErr := appError(t, err); appErr.Type() != dag.ErrTriggerOutcomeUnknown || len(dags) != 0 {
					t.Fatalf("got %v with %d runs", err, len(dags))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(dags) != 1 || res.DagID != dags[0].DagID || !res.Recovered {
				t.Fatalf("result %+v, runs %+v", res, dags)
			}
		})
	}
}

// TestCreate2024OperationFaults: faults on the OperationId's side of a
// create that DataWorks accepted. Lost result replies are read again, and
// the run is the Created one; a CreateFailure is final DataWorksPermanent
// with DataWorks' message, and nothing is sent again.
func TestCreate2024OperationFaults(t *testing.T) {
	t.Run("result replies dropped", func(t *testing.T) {
		emu, c := startEmulator2024(t, emulator.Options{Faults: map[string]emulator.Faults{
			"GetCreateWorkflowInstancesResult": {DropReplies: 2}}})
		res, err := run2024(t, c, create2024In)
		dags := emu.DAGs()
		if err != nil || len(dags) != 1 || res.DagID != dags[0].DagID || res.Recovered {
			t.Fatalf("result %+v, %v, runs %+v", res, err, dags)
		}
		if n := emu.Stats().Calls["GetCreateWorkflowInstancesResult"].Outcomes[emulator.OutcomeDropped]; n != 2 {
			t.Errorf("%d result replies dropped, want 2", n)
		}
	})
	t.Run("CreateFailure", func(t *testing.T) {
		emu, c := startEmulator2024(t, emulator.Options{CreatingFor: 50 * time.Millisecond, Faults: map[string]emulator.Faults{
			"CreateWorkflowInstances": {CreateFailures: 1, CreateFailureMessage: "the workflow is not deployed"}}})
		_, err := run2024(t, c, create2024In)
		appErr := appError(t, err)
		if appErr.Type() != dag.ErrPermanent || !appErr.NonRetryable() || !strings.Contains(appErr.Message(), "the workflow is not deployed") {
			t.Fatalf("got %v (type %s)", err, appErr.Type())
		}
		st := emu.Stats()
		if n := st.Calls["CreateWorkflowInstances"].Total; n != 1 || len(emu.DAGs()) != 0 {
			t.Fatalf("%d creates sent, %d runs", n, len(emu.DAGs()))
		}
		if n := st.Calls["ListWorkflowInstances"].Total; n != 0 {
			t.Errorf("%d look-ups by marker after a CreateFailure: the result settles it", n)
		}
	})
}

// TestCreate2024ResumeSendsNothing: a later attempt given the progress of one
// that died after sending reads its OperationId, or looks for its marker,
// and never sends; another run's instance is not adopted.
func TestCreate2024ResumeSendsNothing(t *testing.T) {
	emu, c := startEmulator2024(t, emulator.Options{})
	ctx := context.Background()
	send := func(marker string) string {
		op, err := c.CreateWorkflowInstances(ctx, dataworks.CreateManualDagRequest{ProjectName: "10000", FlowName: "1000001",
			Bizdate: "2024-06-01", APIVersion: dag.APIVersion2024, Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	other := send("another-run")
	mine := send("this-run")
	base := CreateProgress{State: createSending, Attempt: 1, APIVersion: dag.APIVersion2024, SentAt: time.Now().Add(-time.Second)}

	in := create2024In
	p := base
	p.Marker, p.OperationID, p.State = "this-run", mine, createAccepted
	in.Resume = &p
	res, err := run2024(t, c, in)
	if err != nil || res.DagID != emu.DAGs()[1].DagID {
		t.Fatalf("by OperationId: %+v, %v", res, err)
	}

	p = base
	p.Marker = "this-run"
	in.Resume = &p
	res, err = run2024(t, c, in)
	if err != nil || res.DagID != emu.DAGs()[1].DagID || !res.Recovered {
		t.Fatalf("by marker: %+v, %v", res, err)
	}

	p = base
	p.Marker = "a-run-that-sent-nothing"
	in.Resume = &p
	_, err = run2024(t, c, in)
	if appErr := appError(t, err); appErr.Type() != dag.ErrTriggerOutcomeUnknown || !strings.Contains(appErr.Message(), "not found by its marker") {
		t.Fatalf("unmatched marker: %v", err)
	}
	if n := emu.Stats().Calls["CreateWorkflowInstances"].Total; n != 2 || len(emu.DAGs()) != 2 {
		t.Fatalf("%d creates, %d runs: a resumed attempt sent", n, len(emu.DAGs()))
	}
	_ = other
}

// TestCreate2024RefusesNames: under 2024-05-18 names are refused before
// anything is sent, with where to find the ids.
func TestCreate2024RefusesNames(t *testing.T) {
	emu, c := startEmulator2024(t, emulator.Options{})
	in := create2024In
	in.ProjectName = "demo_project"
	_, err := run2024(t, c, in)
	appErr := appError(t, err)
	if appErr.Type() != dag.ErrInvalidInput || !strings.Contains(appErr.Message(), "numeric ProjectId") {
		t.Fatalf("got %v", err)
	}
	// The worker's version decides when the input leaves it out.
	in.APIVersion = ""
	_, err = run2024(t, c, in)
	if appErr := appError(t, err); appErr.Type() != dag.ErrInvalidInput {
		t.Fatalf("got %v", err)
	}
	if len(emu.DAGs()) != 0 {
		t.Fatal("something was created")
	}
}

// The progress a 2024 attempt records survives the converter (it travels
// in heartbeat details and the next attempt's input).
func TestCreateProgressRoundTrip(t *testing.T) {
	p := CreateProgress{State: createAccepted, Attempt: 2, APIVersion: dag.APIVersion2024, Marker: "m", OperationID: "op", SentAt: time.Unix(1717257600, 0).UTC()}
	payload, err := converter.GetDefaultDataConverter().ToPayload(p)
	if err != nil {
		t.Fatal(err)
	}
	var back CreateProgress
	if err := converter.GetDefaultDataConverter().FromPayload(payload, &back); err != nil || back != p || !back.Resumable() {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}
