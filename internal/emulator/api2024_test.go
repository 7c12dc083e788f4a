package emulator

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// call2024 sends a 2024-05-18 call as the project's client does: business
// parameters in the form body, signed with signature v1.
func (h *harness) call2024(c *sdk.Client, action string, form map[string]string) (string, error) {
	req := requests.NewCommonRequest()
	req.Method, req.Product, req.Version, req.ApiName = requests.POST, "dataworks-public", version2024, action
	req.Domain, req.Scheme = h.host, "http"
	req.FormParams = form
	resp, err := c.ProcessCommonRequest(req)
	if err != nil {
		return "", err
	}
	return resp.GetHttpContentString(), nil
}

func (h *harness) json2024(action string, form map[string]string, v any) {
	h.t.Helper()
	body, err := h.call2024(h.client, action, form)
	require.NoError(h.t, err, action)
	require.NoError(h.t, json.Unmarshal([]byte(body), v), body)
}

// The test definition's p1 is project 10000; its flows etl, ok and flaky
// are workflows 1000001, 1000002 and 1000003.
const (
	p1ID       = "10000"
	etlID      = "1000001"
	bizday2024 = "2024-03-28"
)

var bizdayMillis = strconv.FormatInt(time.Date(2024, 3, 28, 0, 0, 0, 0, chinaTime).UnixMilli(), 10)

func createForm(workflowID string) map[string]string {
	return map[string]string{
		"ProjectId": p1ID, "WorkflowId": workflowID, "Name": "run", "Type": "ManualWorkflow", "EnvType": "Prod",
		"Periods":            `{"BizDates":[{"StartBizDate":"` + bizday2024 + `","EndBizDate":"` + bizday2024 + `"}]}`,
		"Tags":               `[{"Key":"manualdag-run","Value":"run-1"}]`,
		"Comment":            "manualdag: workflow wf-1",
		"WorkflowParameters": `{"k1":"v1"}`,
	}
}

func TestCreateWorkflowInstancesAsync(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.CreatingFor = 30 * time.Second })
	var created createReply2024
	h.json2024("CreateWorkflowInstances", createForm(etlID), &created)
	require.NotEmpty(t, created.OperationID)

	result := func() createResult2024 {
		var r createResult2024
		h.json2024("GetCreateWorkflowInstancesResult", map[string]string{"OperationId": created.OperationID}, &r)
		return r
	}
	list := func() pagedReply2024 {
		var r pagedReply2024
		h.json2024("ListWorkflowInstances", map[string]string{"ProjectId": p1ID, "WorkflowId": etlID, "BizDate": bizdayMillis, "Type": "ManualWorkflow"}, &r)
		return r
	}
	assert.Equal(t, "Creating", result().Result.Status)
	assert.Empty(t, list().PagingInfo.WorkflowInstances, "not listed while Creating")
	dags := h.emu.DAGs()
	require.Len(t, dags, 1, "the run is recorded at once")
	assert.Equal(t, "manualdag: workflow wf-1", dags[0].Comment)
	assert.Equal(t, map[string]string{"manualdag-run": "run-1"}, dags[0].Tags)

	h.clock.Advance(30 * time.Second)
	r := result()
	assert.Equal(t, "Created", r.Result.Status)
	assert.Equal(t, []int64{dags[0].DagID}, r.Result.WorkflowInstanceIDs)
	l := list().PagingInfo
	require.Len(t, l.WorkflowInstances, 1)
	wi := l.WorkflowInstances[0]
	assert.Equal(t, dags[0].DagID, wi.ID)
	assert.Equal(t, []tag{{"manualdag-run", "run-1"}}, wi.Tags)
	assert.Equal(t, "Running", wi.Status)
	assert.Equal(t, bizdayMillis, strconv.FormatInt(wi.BizDate, 10))

	// The task instances: string statuses, every page, RunNumber.
	h.clock.Advance(2 * time.Minute)
	seen := map[string]string{}
	for page := 1; page <= 3; page++ {
		var tr pagedReply2024
		h.json2024("ListTaskInstances", map[string]string{"ProjectId": p1ID, "Bizdate": bizdayMillis, "WorkflowInstanceId": itoa(wi.ID),
			"PageSize": "2", "PageNumber": strconv.Itoa(page), "SortBy": "Id Asc"}, &tr)
		assert.Equal(t, 5, tr.PagingInfo.TotalCount)
		for _, ti := range tr.PagingInfo.TaskInstances {
			seen[ti.TaskName] = ti.Status
			assert.Equal(t, 1, ti.RunNumber)
			assert.Equal(t, wi.ID, ti.WorkflowInstanceID)
		}
	}
	assert.Equal(t, map[string]string{"extract": "Success", "transform_a": "Running", "transform_b": "Running", "load": "NotRun", "report": "NotRun"}, seen)

	// Another bizdate lists nothing.
	var other pagedReply2024
	h.json2024("ListTaskInstances", map[string]string{"ProjectId": p1ID, "Bizdate": strconv.FormatInt(time.Date(2024, 3, 27, 0, 0, 0, 0, chinaTime).UnixMilli(), 10),
		"WorkflowInstanceId": itoa(wi.ID)}, &other)
	assert.Zero(t, other.PagingInfo.TotalCount)
}

func TestTaskInstanceOps2024(t *testing.T) {
	h := newHarness(t, nil)
	var created createReply2024
	h.json2024("CreateWorkflowInstances", createForm(etlID), &created)
	d := h.emu.DAGs()[0]
	h.clock.Advance(2*time.Minute + 30*time.Second) // transform_b has failed
	failed := d.Nodes[2].InstanceID

	var rerun batchReply2024
	h.json2024("RerunTaskInstances", map[string]string{"Ids": "[" + itoa(failed) + "," + itoa(d.Nodes[4].InstanceID) + "]"}, &rerun)
	assert.True(t, rerun.SuccessInfo[itoa(failed)].Success)
	assert.False(t, rerun.SuccessInfo[itoa(d.Nodes[4].InstanceID)].Success, "a NotRun instance cannot be rerun")
	assert.NotEmpty(t, rerun.SuccessInfo[itoa(d.Nodes[4].InstanceID)].Message)

	var log taskLogReply
	h.json2024("GetTaskInstanceLog", map[string]string{"Id": itoa(failed), "RunNumber": "1"}, &log)
	assert.Contains(t, log.TaskInstanceLog, "boom: bad column")

	var stop batchReply2024
	h.json2024("StopTaskInstances", map[string]string{"Ids": "[" + itoa(d.Nodes[1].InstanceID) + "]"}, &stop)
	assert.True(t, stop.SuccessInfo[itoa(d.Nodes[1].InstanceID)].Success)
}

func TestErrors2024(t *testing.T) {
	h := newHarness(t, nil)
	form := createForm("999")
	_, err := h.call2024(h.client, "CreateWorkflowInstances", form)
	se := serverError(t, err)
	assert.Equal(t, http.StatusBadRequest, se.HttpStatus())
	assert.Equal(t, CodeFlowNotExist, se.ErrorCode())
	assert.Empty(t, h.emu.DAGs())

	form = createForm(etlID)
	form["Periods"] = `{"BizDates":[{"StartBizDate":"2024-03-27","EndBizDate":"2024-03-28"}]}`
	_, err = h.call2024(h.client, "CreateWorkflowInstances", form)
	assert.Equal(t, CodeInvalidParam2024, serverError(t, err).ErrorCode())

	// The signature is checked as for the other versions.
	_, err = h.call2024(h.sdkClient(testKeyID, "wrong-secret"), "CreateWorkflowInstances", createForm(etlID))
	assert.Equal(t, "SignatureDoesNotMatch", serverError(t, err).ErrorCode())
	assert.Empty(t, h.emu.DAGs())

	// A business error after processing: the run exists, the 200 says it failed.
	h.emu.SetFaults("CreateWorkflowInstances", Faults{BusinessErrors: 1, BusinessErrorAfterProcessing: true})
	body, err := h.call2024(h.client, "CreateWorkflowInstances", createForm(etlID))
	require.NoError(t, err)
	assert.Contains(t, body, `"Success":false`)
	assert.Len(t, h.emu.DAGs(), 1)
}

// TestCreateFailures2024: a create met by createFailures is answered with an
// OperationId as usual, is Creating for CreatingFor, then ends
// CreateFailure with the message set; no workflow instance exists at any
// moment. The count is used up: the next create makes its run.
func TestCreateFailures2024(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.CreatingFor = 30 * time.Second })
	require.Equal(t, http.StatusOK, h.send(http.MethodPut, "/_emulator/faults/CreateWorkflowInstances",
		`{"createFailures":1,"createFailureMessage":"the workflow is not deployed"}`, nil))
	result := func(op string) createResult2024 {
		var r createResult2024
		h.json2024("GetCreateWorkflowInstancesResult", map[string]string{"OperationId": op}, &r)
		return r
	}
	listed := func() int {
		var r pagedReply2024
		h.json2024("ListWorkflowInstances", map[string]string{"ProjectId": p1ID, "WorkflowId": etlID, "BizDate": bizdayMillis}, &r)
		return r.PagingInfo.TotalCount
	}

	var failed createReply2024
	h.json2024("CreateWorkflowInstances", createForm(etlID), &failed)
	require.NotEmpty(t, failed.OperationID, "the create is accepted")
	assert.Zero(t, h.emu.Faults()["CreateWorkflowInstances"].CreateFailures, "used up")
	assert.Equal(t, "Creating", result(failed.OperationID).Result.Status)
	h.clock.Advance(30 * time.Second)
	r := result(failed.OperationID)
	assert.Equal(t, "CreateFailure", r.Result.Status)
	assert.Equal(t, "the workflow is not deployed", r.Result.FailureMessage)
	assert.Empty(t, r.Result.WorkflowInstanceIDs)
	assert.Empty(t, h.emu.DAGs(), "no run was made")
	assert.Zero(t, listed())
	assert.Equal(t, 1, h.emu.Stats().Calls["GetCreateWorkflowInstancesResult"].Outcomes[OutcomeCreateFailure])

	var created createReply2024
	h.json2024("CreateWorkflowInstances", createForm(etlID), &created)
	assert.NotEqual(t, failed.OperationID, created.OperationID)
	h.clock.Advance(30 * time.Second)
	assert.Equal(t, "Created", result(created.OperationID).Result.Status)
	assert.Len(t, h.emu.DAGs(), 1)
	assert.Equal(t, 1, listed())
	assert.Equal(t, "CreateFailure", result(failed.OperationID).Result.Status, "a failed operation stays failed")

	// The default message.
	h.emu.SetFaults("CreateWorkflowInstances", Faults{CreateFailures: 1})
	h.json2024("CreateWorkflowInstances", createForm(etlID), &failed)
	h.clock.Advance(30 * time.Second)
	assert.Equal(t, DefaultCreateFailureMessage, result(failed.OperationID).Result.FailureMessage)
}

// TestDropReplies: the next N calls are processed and their connections
// dropped; the count is shown as it is used up, and only calls that would
// have succeeded use it.
func TestDropReplies(t *testing.T) {
	h := newHarness(t, nil)
	var created createReply2024
	h.json2024("CreateWorkflowInstances", createForm(etlID), &created)
	h.emu.SetFaults("GetCreateWorkflowInstancesResult", Faults{DropReplies: 2})

	_, err := h.call2024(h.client, "GetCreateWorkflowInstancesResult", map[string]string{"OperationId": "no-such-operation"})
	assert.Equal(t, CodeInvalidParam2024, serverError(t, err).ErrorCode(), "an error reply uses none")
	for i := range 2 {
		_, err := h.call2024(h.client, "GetCreateWorkflowInstancesResult", map[string]string{"OperationId": created.OperationID})
		require.Error(t, err, "reply %d is dropped", i+1)
		assert.Equal(t, 1-i, h.emu.Faults()["GetCreateWorkflowInstancesResult"].DropReplies)
	}
	var r createResult2024
	h.json2024("GetCreateWorkflowInstancesResult", map[string]string{"OperationId": created.OperationID}, &r)
	assert.Equal(t, "Created", r.Result.Status, "the third read is answered")
	assert.Equal(t, 2, h.emu.Stats().Calls["GetCreateWorkflowInstancesResult"].Outcomes[OutcomeDropped])

	// dagId scopes it, as the other counted faults.
	id := h.emu.DAGs()[0].DagID
	tasks := map[string]string{"ProjectId": p1ID, "Bizdate": bizdayMillis, "WorkflowInstanceId": itoa(id)}
	h.emu.SetFaults("ListTaskInstances", Faults{DropReplies: 1, DagID: id + 1})
	_, err = h.call2024(h.client, "ListTaskInstances", tasks)
	require.NoError(t, err, "a call about another run is answered")
	h.emu.SetFaults("ListTaskInstances", Faults{DropReplies: 1, DagID: id})
	_, err = h.call2024(h.client, "ListTaskInstances", tasks)
	require.Error(t, err, "a call about this run is dropped")
}
