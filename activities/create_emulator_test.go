package activities

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
	"github.com/manualdag/manualdag/dataworks/aliyun"
	"github.com/manualdag/manualdag/internal/emulator"
)

const emuFlow = `
projects:
  - name: demo_project
    flows:
      - name: daily_sales
        nodes:
          - {id: 11, name: extract, duration: 1m}
`

// startEmulator serves a signature-verifying emulator with faults and
// returns a real client of it, so that the create activity runs through the
// Alibaba SDK, HTTP and the client's own decoding.
func startEmulator(t *testing.T, faults map[string]emulator.Faults) (*emulator.Emulator, *aliyun.Client) {
	t.Helper()
	def, err := emulator.ParseDefinition([]byte(emuFlow))
	if err != nil {
		t.Fatal(err)
	}
	emu, err := emulator.New(emulator.Options{
		Definition:  def,
		Credentials: map[string]emulator.Key{"key-id": {Secret: "key-secret-0123456789"}},
		Faults:      faults,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	c, err := aliyun.New(aliyun.Config{
		Endpoint:   strings.TrimPrefix(srv.URL, "http://"),
		Scheme:     "http",
		Credential: credentials.NewStaticAKCredentialsProvider("key-id", "key-secret-0123456789"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return emu, c
}

// TestCreateBusinessErrorAfterProcessingIsOutcomeUnknown: DataWorks starts
// the DAG run and answers an HTTP 200 with an undocumented code (or a 2020
// envelope saying 500). The create must end TriggerOutcomeUnknown, final,
// so that no retry starts a second run; a documented refusal answered
// before processing stays a final refusal with no run.
func TestCreateBusinessErrorAfterProcessingIsOutcomeUnknown(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version string
		faults  emulator.Faults
		typ     string
		dags    int
	}{
		{"2018 ReturnCode 9990001", dag.APIVersion2018,
			emulator.Faults{BusinessErrors: 1, BusinessErrorAfterProcessing: true}, dag.ErrTriggerOutcomeUnknown, 1},
		{"2020 Success:false 9990001", dag.APIVersion2020,
			emulator.Faults{BusinessErrors: 1, BusinessErrorAfterProcessing: true}, dag.ErrTriggerOutcomeUnknown, 1},
		{"2020 HttpStatusCode 500 inside a 200", dag.APIVersion2020,
			emulator.Faults{BusinessErrors: 1, BusinessErrorAfterProcessing: true, BusinessErrorStatus: 500, BusinessErrorCode: "Unexpected"}, dag.ErrTriggerOutcomeUnknown, 1},
		{"2018 documented refusal", dag.APIVersion2018,
			emulator.Faults{BusinessErrors: 1, BusinessErrorCode: dataworks.CodeBadBizdate}, dag.ErrPermanent, 0},
		{"2020 documented refusal", dag.APIVersion2020,
			emulator.Faults{BusinessErrors: 1, BusinessErrorCode: dataworks.CodeForbiddenAccess, BusinessErrorStatus: 403}, dag.ErrPermanent, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emu, c := startEmulator(t, map[string]emulator.Faults{"CreateManualDag": tc.faults})
			in := validCreate
			in.APIVersion = tc.version
			_, err := newActivityEnv(t, c).ExecuteActivity((&Activities{}).CreateManualDag, in)
			appErr := appError(t, err)
			if appErr.Type() != tc.typ || !appErr.NonRetryable() {
				t.Fatalf("got %s (non-retryable %v), want a final %s: %v", appErr.Type(), appErr.NonRetryable(), tc.typ, err)
			}
			if got := len(emu.CreatedDAGs(in.ProjectName, in.FlowName, in.Bizdate)); got != tc.dags {
				t.Fatalf("the emulator holds %d DAG runs, want %d", got, tc.dags)
			}
			// One request reached DataWorks: nothing was resent.
			if n := emu.Stats().Calls["CreateManualDag"].Total; n != 1 {
				t.Fatalf("%d CreateManualDag calls", n)
			}
			if tc.dags == 1 {
				info, _ := emu.DAG(emu.CreatedDAGs(in.ProjectName, in.FlowName, in.Bizdate)[0])
				if info.Status != emulator.DAGRunning {
					t.Errorf("the DAG the reply denied is %s", info.Status)
				}
			}
		})
	}
}
