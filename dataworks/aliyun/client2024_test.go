package aliyun

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
)

// recorded2024 serves the reply shapes in testdata/2024 by Action (and
// PageNumber for ListTaskInstances); name overrides the file of an action.
func recorded2024(t *testing.T, files map[string]string) func(http.ResponseWriter, *http.Request, url.Values) {
	t.Helper()
	return func(w http.ResponseWriter, r *http.Request, p url.Values) {
		name, ok := files[p.Get("Action")]
		switch {
		case ok:
		case p.Get("Action") == "ListTaskInstances":
			name = "ListTaskInstances-page" + p.Get("PageNumber")
		default:
			name = p.Get("Action")
		}
		status := http.StatusOK
		if strings.HasPrefix(name, "error-") {
			status = http.StatusBadRequest
		}
		body, err := os.ReadFile(filepath.Join("testdata", "2024", name+".json"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		jsonReply(status, string(body))(w, r, p)
	}
}

func req2024() dataworks.CreateManualDagRequest {
	return dataworks.CreateManualDagRequest{
		ProjectName:    "100",
		FlowName:       "700123",
		Bizdate:        "2024-06-01",
		DagParameters:  dag.Params{"env": "demo"},
		NodeParameters: map[int64]dag.Params{501: {"test": "$[yyyy-mm-dd]"}},
		APIVersion:     dag.APIVersion2024,
		ProjectEnv:     "dev",
		Marker:         "2f9c1c52-0c2e-4b5e-9d7e-000000000001",
		Comment:        "manualdag: Temporal workflow manualdag/100/700123/2024-06-01",
	}
}

func TestCreateWorkflowInstancesWire(t *testing.T) {
	f, c := startFake(t, recorded2024(t, nil))
	var beforeSend bool
	req := req2024()
	req.BeforeSend = func() error { beforeSend = true; return nil }
	op, err := c.CreateWorkflowInstances(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if op != "e15ad21c-b0e9-4792-8f55-b037xxxxxxxx" || !beforeSend {
		t.Fatalf("OperationId = %q, BeforeSend ran: %v", op, beforeSend)
	}
	got := f.last(t)
	want := map[string]string{
		"Action":             "CreateWorkflowInstances",
		"Version":            dag.APIVersion2024,
		"Type":               "ManualWorkflow",
		"ProjectId":          "100",
		"WorkflowId":         "700123",
		"EnvType":            "Dev",
		"Name":               "manualdag_2024-06-01",
		"Periods":            `{"BizDates":[{"EndBizDate":"2024-06-01","StartBizDate":"2024-06-01"}]}`,
		"Tags":               `[{"Key":"manualdag-run","Value":"2f9c1c52-0c2e-4b5e-9d7e-000000000001"}]`,
		"WorkflowParameters": `{"env":"demo"}`,
		"TaskParameters":     `{"501":"test=$[yyyy-mm-dd]"}`,
		"Comment":            "manualdag: Temporal workflow manualdag/100/700123/2024-06-01",
		"SignatureMethod":    "HMAC-SHA1",
	}
	for k, v := range want {
		if got.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, got.Get(k), v)
		}
	}
}

func TestCreateWorkflowInstancesRefusesBeforeSending(t *testing.T) {
	f, c := startFake(t, recorded2024(t, nil))
	ctx := context.Background()
	tests := []struct {
		name string
		edit func(*dataworks.CreateManualDagRequest)
		want string
	}{
		{"project name", func(r *dataworks.CreateManualDagRequest) { r.ProjectName = "demo_project" }, `ProjectName "demo_project" is not a DataWorks id`},
		{"flow name", func(r *dataworks.CreateManualDagRequest) { r.FlowName = "daily_sales" }, "WorkflowId"},
		{"no marker", func(r *dataworks.CreateManualDagRequest) { r.Marker = "" }, "Marker"},
		{"2020 version", func(r *dataworks.CreateManualDagRequest) { r.APIVersion = dag.APIVersion2020 }, "has no CreateWorkflowInstances call"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := req2024()
			tt.edit(&req)
			_, err := c.CreateWorkflowInstances(ctx, req)
			e := mustError(t, err)
			if e.Phase != dataworks.PhaseNotSent || !dataworks.Permanent(err) || !strings.Contains(e.Message, tt.want) {
				t.Fatalf("error = %v (phase %v), want a permanent not-sent refusal saying %q", err, e.Phase, tt.want)
			}
		})
	}
	_, err := c.CreateManualDag(ctx, req2024())
	if e := mustError(t, err); e.Code != dataworks.CodeUnsupported {
		t.Fatalf("CreateManualDag under 2024 = %v, want Unsupported", err)
	}
	if len(f.got) != 0 {
		t.Fatalf("%d requests sent", len(f.got))
	}
}

func TestCreateResult2024(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		file   string
		status string
		ids    []int64
		msg    string
	}{
		{"GetCreateWorkflowInstancesResult-Creating", dataworks.CreateStatusCreating, nil, ""},
		{"GetCreateWorkflowInstancesResult-Created", dataworks.CreateStatusCreated, []int64{1234}, ""},
		{"GetCreateWorkflowInstancesResult-CreateFailure", dataworks.CreateStatusFailure, nil, "Invalid Param xxx"},
	} {
		f, c := startFake(t, recorded2024(t, map[string]string{"GetCreateWorkflowInstancesResult": tt.file}))
		res, err := c.GetCreateWorkflowInstancesResult(ctx, dataworks.CreateResultRequest{OperationID: "op-1", APIVersion: dag.APIVersion2024})
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		if res.Status != tt.status || len(res.WorkflowInstanceIDs) != len(tt.ids) || res.FailureMessage != tt.msg {
			t.Errorf("%s: %+v", tt.file, res)
		}
		if got := f.last(t); got.Get("OperationId") != "op-1" {
			t.Errorf("OperationId sent = %q", got.Get("OperationId"))
		}
	}
}

func TestListTaskInstancesReadsEveryPage(t *testing.T) {
	f, c := startFake(t, recorded2024(t, nil))
	list, err := c.SearchManualDagNodeInstance(context.Background(), dataworks.SearchManualDagNodeInstanceRequest{
		ProjectName: "100", DagID: 1234, Bizdate: "2024-06-01", APIVersion: dag.APIVersion2024})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.got) != 2 {
		t.Fatalf("%d calls, want 2 pages", len(f.got))
	}
	p1 := f.got[0]
	if p1.Get("Bizdate") != "1717171200000" || p1.Get("WorkflowInstanceId") != "1234" || p1.Get("ProjectId") != "100" || p1.Get("ProjectEnv") != "Prod" {
		t.Errorf("request = %v", p1)
	}
	wantStatus := []dag.Status{dag.StatusSuccess, dag.StatusFailure, dag.StatusNotRun, dag.StatusCheckingCondition, "WAITTRIGGER"}
	if len(list) != len(wantStatus) {
		t.Fatalf("list = %+v", list)
	}
	for i, s := range wantStatus {
		if list[i].Status != s {
			t.Errorf("node %d status %q, want %q", i, list[i].Status, s)
		}
	}
	first := list[0]
	if first.InstanceID != 1001 || first.DagID != 1234 || first.NodeID != 501 || first.NodeName != "ods_load" || first.RunNumber != 1 ||
		first.ParaValue != "para1=val1 para2=val2" || first.BeginRunningTime.UnixMilli() != 1717257610000 || first.FinishTime.UnixMilli() != 1717257720000 ||
		first.Bizdate.Format(dag.BizdateLayout) != "2024-06-01" {
		t.Errorf("first = %+v", first)
	}
	if list[1].RunNumber != 2 {
		t.Errorf("RunNumber of a rerun = %d", list[1].RunNumber)
	}
	if _, err := c.SearchManualDagNodeInstance(context.Background(), dataworks.SearchManualDagNodeInstanceRequest{
		ProjectName: "100", DagID: 1234, APIVersion: dag.APIVersion2024}); err == nil || !dataworks.Permanent(err) {
		t.Errorf("a 2024 search without a bizdate = %v, want a refusal", err)
	}
}

func TestListWorkflowInstancesTags(t *testing.T) {
	f, c := startFake(t, recorded2024(t, nil))
	list, err := c.ListWorkflowInstances(context.Background(), dataworks.ListWorkflowInstancesRequest{
		ProjectName: "100", FlowName: "700123", Bizdate: "2024-06-01", APIVersion: dag.APIVersion2024})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != 1234 || list[0].Tags[dataworks.MarkerTagKey] != "2f9c1c52-0c2e-4b5e-9d7e-000000000001" ||
		list[0].Status != dag.StatusSuccess || !list[0].CreateTime.Equal(time.UnixMilli(1717257600000)) || list[1].Tags != nil {
		t.Fatalf("list = %+v", list)
	}
	got := f.last(t)
	if got.Get("BizDate") != "1717171200000" || got.Get("WorkflowId") != "700123" || got.Get("Type") != "ManualWorkflow" {
		t.Errorf("request = %v", got)
	}
}

func TestTaskInstanceOps2024(t *testing.T) {
	ctx := context.Background()
	f, c := startFake(t, recorded2024(t, nil))
	if err := c.StopInstance(ctx, dataworks.InstanceRequest{InstanceID: 1001, APIVersion: dag.APIVersion2024}); err != nil {
		t.Fatal(err)
	}
	if got := f.last(t); got.Get("Action") != "StopTaskInstances" || got.Get("Ids") != "[1001]" {
		t.Errorf("stop request = %v", got)
	}
	log, err := c.GetInstanceLog(ctx, dataworks.InstanceLogRequest{InstanceID: 1001, APIVersion: dag.APIVersion2024})
	if err != nil || log != "This is running log" {
		t.Fatalf("log = %q, %v", log, err)
	}
	if got := f.last(t); got.Get("Action") != "GetTaskInstanceLog" || got.Get("Id") != "1001" {
		t.Errorf("log request = %v", got)
	}

	_, c = startFake(t, recorded2024(t, map[string]string{"RerunTaskInstances": "RerunTaskInstances-refused"}))
	err = c.RestartInstance(ctx, dataworks.InstanceRequest{InstanceID: 1002, APIVersion: dag.APIVersion2024})
	if e := mustError(t, err); e.Code != dataworks.CodeUnsuccessful || !strings.Contains(e.Message, "does not exist") {
		t.Fatalf("refused rerun = %v", err)
	}
	// The reply says nothing of this instance: not done.
	err = c.StopInstance(ctx, dataworks.InstanceRequest{InstanceID: 7, APIVersion: dag.APIVersion2024})
	if e := mustError(t, err); e.Code != dataworks.CodeInvalidResponse {
		t.Fatalf("stop of an instance the reply does not name = %v", err)
	}
}

func TestErrorEnvelope2024(t *testing.T) {
	_, c := startFake(t, recorded2024(t, map[string]string{"CreateWorkflowInstances": "error-ProjectNotExist"}))
	_, err := c.CreateWorkflowInstances(context.Background(), req2024())
	e := mustError(t, err)
	if e.Code != "Invalid.Tenant.ProjectNotExist" || e.HTTPStatus != 400 || e.RequestID != "22C97E95-F023-56B5-8852-B1A77A17XXXX" ||
		!dataworks.Refused(err) || !dataworks.Permanent(err) || e.Action != "CreateWorkflowInstances" {
		t.Fatalf("error = %+v", e)
	}
}

func TestCreateReplyWithoutOperationIDIsUnknown(t *testing.T) {
	_, c := startFake(t, jsonReply(200, `{"RequestId":"R"}`))
	_, err := c.CreateWorkflowInstances(context.Background(), req2024())
	if e := mustError(t, err); e.Code != dataworks.CodeInvalidResponse || dataworks.Refused(err) || dataworks.NotSent(err) {
		t.Fatalf("error = %v: a success without OperationId may have created a run", err)
	}
}
