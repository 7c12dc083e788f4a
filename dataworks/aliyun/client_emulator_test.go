package aliyun_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
	"github.com/manualdag/manualdag/dataworks/aliyun"
	"github.com/manualdag/manualdag/internal/emulator"
)

// These tests run the client, through the real Alibaba SDK and its request
// signing, against the signature-verifying emulator.

const (
	emuKeyID  = "emu-key-id"
	emuSecret = "emu-key-secret-0123456789"
	emuFlow   = `
projects:
  - name: p1
    flows:
      - name: etl
        waitTime: 1s
        waitResource: 1s
        checking: 1s
        nodes:
          - {id: 11, name: extract, duration: 1m}
          - {id: 12, name: load, upstream: [11], duration: 1m}
`
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func startEmulator(t *testing.T, opts emulator.Options) (*emulator.Emulator, *fakeClock, string) {
	t.Helper()
	def, err := emulator.ParseDefinition([]byte(emuFlow))
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Now()}
	opts.Definition = def
	if opts.Credentials == nil {
		opts.Credentials = map[string]emulator.Key{emuKeyID: {Secret: emuSecret}}
	}
	opts.Now = clock.Now
	emu, err := emulator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, clock, strings.TrimPrefix(srv.URL, "http://")
}

func newClient(t *testing.T, endpoint, secret string) *aliyun.Client {
	t.Helper()
	c, err := aliyun.New(aliyun.Config{
		Endpoint:   endpoint,
		Scheme:     "http",
		Credential: credentials.NewStaticAKCredentialsProvider(emuKeyID, secret),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// china is the zone of DataWorks' dates, which the client decodes into.
var china = time.FixedZone("CST", 8*60*60)

func TestEmulatorRunBothVersions(t *testing.T) {
	for _, version := range []string{dag.APIVersion2018, dag.APIVersion2020} {
		t.Run(version, func(t *testing.T) {
			_, clock, ep := startEmulator(t, emulator.Options{})
			c := newClient(t, ep, emuSecret)
			ctx := context.Background()
			bizdate := dag.DefaultBizdate(clock.Now(), china)
			dagID, err := c.CreateManualDag(ctx, dataworks.CreateManualDagRequest{
				ProjectName:    "p1",
				FlowName:       "etl",
				Bizdate:        bizdate,
				DagParameters:  dag.Params{"k": "v"},
				NodeParameters: map[int64]dag.Params{12: {"x": "$[yyyy-mm-dd]"}},
				APIVersion:     version,
			})
			if err != nil {
				t.Fatal(err)
			}
			if dagID <= 0 {
				t.Fatalf("DAG id %d", dagID)
			}
			search := dataworks.SearchManualDagNodeInstanceRequest{ProjectName: "p1", DagID: dagID, APIVersion: version}
			var list []dataworks.NodeInstance
			for range 20 {
				clock.Advance(time.Minute)
				if list, err = c.SearchManualDagNodeInstance(ctx, search); err != nil {
					t.Fatal(err)
				}
				if len(list) == 2 && list[0].Status.Terminal() && list[1].Status.Terminal() {
					break
				}
			}
			if len(list) != 2 {
				t.Fatalf("instances: %+v", list)
			}
			for _, ni := range list {
				if ni.Status != dag.StatusSuccess || ni.DagID != dagID || ni.InstanceID <= 0 || ni.NodeName == "" {
					t.Errorf("instance %+v", ni)
				}
				if got := ni.Bizdate.In(china).Format(dag.BizdateLayout); got != bizdate {
					t.Errorf("Bizdate %s, want %s", got, bizdate)
				}
			}
			if c.AccessKeyID() != emuKeyID {
				t.Errorf("AccessKeyID() = %q", c.AccessKeyID())
			}
		})
	}
}

func TestEmulatorErrors(t *testing.T) {
	ctx := context.Background()
	req := func(version string) dataworks.CreateManualDagRequest {
		return dataworks.CreateManualDagRequest{ProjectName: "p1", FlowName: "etl", Bizdate: "2024-03-28", APIVersion: version}
	}
	for _, version := range []string{dag.APIVersion2018, dag.APIVersion2020} {
		t.Run(version+"/wrong secret", func(t *testing.T) {
			_, _, ep := startEmulator(t, emulator.Options{})
			_, err := newClient(t, ep, "not-the-secret-at-all").CreateManualDag(ctx, req(version))
			if !dataworks.Permanent(err) || dataworks.NotSent(err) {
				t.Fatalf("got %v", err)
			}
			if e, _ := dataworks.AsError(err); e.Code != dataworks.CodeBadSignature {
				t.Errorf("code %q", e.Code)
			}
			if msg := err.Error(); strings.Contains(msg, "not-the-secret-at-all") || !strings.Contains(msg, "secret") {
				t.Errorf("message %q", msg)
			}
		})
		t.Run(version+"/throttled with numeric code", func(t *testing.T) {
			_, _, ep := startEmulator(t, emulator.Options{Faults: map[string]emulator.Faults{
				emulator.AllActions: {ThrottleRate: 1, NumericCode: true},
			}})
			_, err := newClient(t, ep, emuSecret).CreateManualDag(ctx, req(version))
			e, ok := dataworks.AsError(err)
			if !ok || e.Phase != dataworks.PhaseReplied || e.HTTPStatus != 400 {
				t.Fatalf("got %v", err)
			}
			if version == dag.APIVersion2020 && !dataworks.Throttled(err) {
				t.Errorf("2020 bodies carry ErrorCode too; want Throttled: %v", err)
			}
		})
		t.Run(version+"/dropped after processing", func(t *testing.T) {
			emu, _, ep := startEmulator(t, emulator.Options{Faults: map[string]emulator.Faults{
				"CreateManualDag": {DropRate: 1},
			}})
			_, err := newClient(t, ep, emuSecret).CreateManualDag(ctx, req(version))
			e, ok := dataworks.AsError(err)
			if !ok || e.Phase != dataworks.PhaseUnknown || dataworks.NotSent(err) {
				t.Fatalf("got %v", err)
			}
			if n := len(emu.DAGs()); n != 1 {
				t.Errorf("emulator holds %d DAGs; the dropped create did run", n)
			}
		})
		t.Run(version+"/unknown DAG", func(t *testing.T) {
			_, _, ep := startEmulator(t, emulator.Options{})
			_, err := newClient(t, ep, emuSecret).SearchManualDagNodeInstance(ctx,
				dataworks.SearchManualDagNodeInstanceRequest{ProjectName: "p1", DagID: 42, APIVersion: version})
			if !dataworks.Permanent(err) {
				t.Fatalf("got %v", err)
			}
		})
	}
	t.Run("unknown flow", func(t *testing.T) {
		_, _, ep := startEmulator(t, emulator.Options{})
		_, err := newClient(t, ep, emuSecret).CreateManualDag(ctx, dataworks.CreateManualDagRequest{ProjectName: "p1", FlowName: "nope", Bizdate: "2024-03-28"})
		if !dataworks.Permanent(err) {
			t.Fatalf("unknown flow: %v", err)
		}
	})
	t.Run("instance ops 2020", func(t *testing.T) {
		_, clock, ep := startEmulator(t, emulator.Options{})
		c := newClient(t, ep, emuSecret)
		r := req(dag.APIVersion2020)
		dagID, err := c.CreateManualDag(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(30 * time.Second)
		list, err := c.SearchManualDagNodeInstance(ctx, dataworks.SearchManualDagNodeInstanceRequest{ProjectName: "p1", DagID: dagID, APIVersion: dag.APIVersion2020})
		if err != nil || len(list) == 0 {
			t.Fatalf("search: %v %v", list, err)
		}
		id := list[0].InstanceID
		if err := c.StopInstance(ctx, dataworks.InstanceRequest{InstanceID: id, APIVersion: dag.APIVersion2020}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetInstanceLog(ctx, dataworks.InstanceLogRequest{InstanceID: id, APIVersion: dag.APIVersion2020}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestEmulatorListFaultsBothVersions: what the client makes of the
// emulator's list faults under both API versions: a partial list right
// after the trigger, one empty reply (both forms) after nodes were listed,
// and HTTP-200 business errors, with the envelope's 500 kept.
func TestEmulatorListFaultsBothVersions(t *testing.T) {
	ctx := context.Background()
	for _, version := range []string{dag.APIVersion2018, dag.APIVersion2020} {
		t.Run(version, func(t *testing.T) {
			emu, clock, ep := startEmulator(t, emulator.Options{PartialListFor: time.Minute})
			c := newClient(t, ep, emuSecret)
			dagID, err := c.CreateManualDag(ctx, dataworks.CreateManualDagRequest{ProjectName: "p1", FlowName: "etl", Bizdate: "2024-03-28", APIVersion: version})
			if err != nil {
				t.Fatal(err)
			}
			search := func() ([]dataworks.NodeInstance, error) {
				return c.SearchManualDagNodeInstance(ctx, dataworks.SearchManualDagNodeInstanceRequest{ProjectName: "p1", DagID: dagID, APIVersion: version})
			}
			if list, err := search(); err != nil || len(list) != 1 {
				t.Fatalf("partial window: %d nodes, %v; want 1 of 2", len(list), err)
			}
			clock.Advance(time.Minute)
			if list, err := search(); err != nil || len(list) != 2 {
				t.Fatalf("after the partial window: %d nodes, %v", len(list), err)
			}

			for _, form := range []string{emulator.EmptyFormMissing, emulator.EmptyFormEmpty} {
				emu.SetFaults(emulator.AllActions, emulator.Faults{EmptyReplies: 1, EmptyReplyForm: form, DagID: dagID})
				if list, err := search(); err != nil || len(list) != 0 {
					t.Fatalf("empty reply (%s): %d nodes, %v", form, len(list), err)
				}
				if list, err := search(); err != nil || len(list) != 2 {
					t.Fatalf("after one empty reply (%s): %d nodes, %v", form, len(list), err)
				}
			}

			emu.SetFaults(emulator.AllActions, emulator.Faults{BusinessErrors: 1})
			_, err = search()
			e, ok := dataworks.AsError(err)
			if !ok || e.HTTPStatus != 200 || e.Code != emulator.DefaultBusinessErrorCode {
				t.Fatalf("business error: %v", err)
			}
			if version == dag.APIVersion2020 {
				emu.SetFaults(emulator.AllActions, emulator.Faults{BusinessErrors: 1, BusinessErrorStatus: 500})
				_, err = search()
				if e, _ := dataworks.AsError(err); e == nil || e.EnvelopeStatus != 500 || dataworks.Permanent(err) || dataworks.Throttled(err) {
					t.Fatalf("a 500 inside a 200 is transient for a read: %v", err)
				}
			}
			if list, err := search(); err != nil || len(list) != 2 {
				t.Fatalf("after the business errors: %d nodes, %v", len(list), err)
			}
		})
	}
}

// TestEmulatorRun2024 runs one manual workflow through the 2024-05-18 calls
// over signed HTTP: the asynchronous create, the marker, the task list,
// a rerun and a log.
func TestEmulatorRun2024(t *testing.T) {
	emu, clock, ep := startEmulator(t, emulator.Options{CreatingFor: 10 * time.Second})
	c := newClient(t, ep, emuSecret)
	ctx := context.Background()
	bizdate := dag.DefaultBizdate(clock.Now(), china)
	// p1 is project 10000 and etl its workflow 1000001 (the defaults).
	op, err := c.CreateWorkflowInstances(ctx, dataworks.CreateManualDagRequest{
		ProjectName: "10000", FlowName: "1000001", Bizdate: bizdate, APIVersion: dag.APIVersion2024,
		DagParameters: dag.Params{"k": "v"}, Marker: "run-1", Comment: "manualdag test",
	})
	if err != nil {
		t.Fatal(err)
	}
	result := dataworks.CreateResultRequest{OperationID: op, APIVersion: dag.APIVersion2024}
	if res, err := c.GetCreateWorkflowInstancesResult(ctx, result); err != nil || res.Status != dataworks.CreateStatusCreating {
		t.Fatalf("result at once = %+v, %v", res, err)
	}
	clock.Advance(10 * time.Second)
	res, err := c.GetCreateWorkflowInstancesResult(ctx, result)
	if err != nil || res.Status != dataworks.CreateStatusCreated || len(res.WorkflowInstanceIDs) != 1 {
		t.Fatalf("result = %+v, %v", res, err)
	}
	id := res.WorkflowInstanceIDs[0]
	found, err := c.ListWorkflowInstances(ctx, dataworks.ListWorkflowInstancesRequest{ProjectName: "10000", FlowName: "1000001", Bizdate: bizdate, APIVersion: dag.APIVersion2024})
	if err != nil || len(found) != 1 || found[0].ID != id || found[0].Tags[dataworks.MarkerTagKey] != "run-1" {
		t.Fatalf("ListWorkflowInstances = %+v, %v", found, err)
	}
	search := dataworks.SearchManualDagNodeInstanceRequest{ProjectName: "10000", DagID: id, Bizdate: bizdate, APIVersion: dag.APIVersion2024}
	var list []dataworks.NodeInstance
	for range 10 {
		clock.Advance(time.Minute)
		if list, err = c.SearchManualDagNodeInstance(ctx, search); err != nil {
			t.Fatal(err)
		}
		if len(list) == 2 && list[1].Status == dag.StatusSuccess {
			break
		}
	}
	if len(list) != 2 || list[0].Status != dag.StatusSuccess || list[0].RunNumber != 1 || list[0].ParaValue != "k=v" {
		t.Fatalf("task instances = %+v", list)
	}
	if err := c.RestartInstance(ctx, dataworks.InstanceRequest{InstanceID: list[0].InstanceID, APIVersion: dag.APIVersion2024}); err != nil {
		t.Fatal(err)
	}
	if log, err := c.GetInstanceLog(ctx, dataworks.InstanceLogRequest{InstanceID: list[0].InstanceID, APIVersion: dag.APIVersion2024}); err != nil || !strings.Contains(log, "extract") {
		t.Fatalf("log = %q, %v", log, err)
	}
	if n := len(emu.DAGs()); n != 1 {
		t.Fatalf("%d runs", n)
	}
}
