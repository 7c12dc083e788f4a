package aliyun

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	dwpub "github.com/aliyun/alibaba-cloud-sdk-go/services/dataworks-public"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
)

// The 2024-05-18 calls (the new Data Studio). They go through the same SDK
// client, credential chain, pool, QPS cap and transport as the other
// versions, as CommonRequests signed with signature v1 and their business
// parameters form-encoded in the body; complex parameters (Periods, Tags,
// Ids, DefaultRunProperties) travel as JSON strings, as the typed
// dataworks-public-20240518 SDK sends its "shrink" fields. docs/design.md
// ("API 2024-05-18") says why this SDK rather than the typed one.
const (
	actionCreate2024       = "CreateWorkflowInstances"
	actionCreateResult2024 = "GetCreateWorkflowInstancesResult"
	actionListWorkflows    = "ListWorkflowInstances"
	actionSearch2024       = "ListTaskInstances"
	actionStop2024         = "StopTaskInstances"
	actionRerun2024        = "RerunTaskInstances"
	actionLog2024          = "GetTaskInstanceLog"

	// workflowTypeManual is the Type of a manual workflow's instances.
	workflowTypeManual = "ManualWorkflow"
	// pageSize2024 is the page size of the list calls (ListTaskInstances
	// takes up to 500, ListWorkflowInstances documents no maximum).
	pageSize2024 = 100
	// maxPages2024 bounds one listing: 100 pages of 100.
	maxPages2024 = 100
)

// request2024 is a 2024-05-18 call with its parameters in the form body.
func (c *Client) request2024(action string) *requests.CommonRequest {
	r := c.commonRequest(action, dag.APIVersion2024)
	r.FormParams = map[string]string{}
	return r
}

func sendCommon(r *requests.CommonRequest) func(*dwpub.Client) error {
	return func(cl *dwpub.Client) error {
		_, err := cl.ProcessCommonRequest(r)
		return err
	}
}

// need2024 refuses a call that exists only under 2024-05-18.
func (c *Client) need2024(action, override string) *dataworks.Error {
	version, e := c.resolveVersion(override)
	if e != nil {
		return e
	}
	if version != dag.APIVersion2024 {
		return &dataworks.Error{Phase: dataworks.PhaseNotSent, Code: dataworks.CodeUnsupported,
			Message: fmt.Sprintf("the %s API has no %s call: set APIVersion to %s", version, action, dag.APIVersion2024)}
	}
	return nil
}

// bizdateMillis is a bizdate (yyyy-MM-dd) as 2024-05-18 lists take it:
// epoch milliseconds of its midnight, China time.
func bizdateMillis(bizdate string) (int64, *dataworks.Error) {
	b, err := dag.ParseBizdate(bizdate)
	if err != nil {
		return 0, invalid("%v", err)
	}
	t, err := time.ParseInLocation(dag.BizdateLayout, b, serviceZone)
	if err != nil {
		return 0, invalid("%v", err)
	}
	return t.UnixMilli(), nil
}

// CreateWorkflowInstances starts one run of a manual workflow under
// 2024-05-18 and returns the OperationId of the asynchronous creation (read
// it with GetCreateWorkflowInstancesResult). Like CreateManualDag it takes no
// idempotency token: sending it twice starts two runs, and on error only
// dataworks.NotSent(err) makes a resend safe. The run carries the tag
// dataworks.MarkerTagKey=req.Marker, by which ListWorkflowInstances finds
// it again.
func (c *Client) CreateWorkflowInstances(ctx context.Context, req dataworks.CreateManualDagRequest) (string, error) {
	r, e := c.buildCreate2024(req)
	if e != nil {
		return "", c.finish(actionCreate2024, e)
	}
	rep, err := c.doWith(ctx, actionCreate2024, callOptions{write: true, beforeSend: req.BeforeSend}, sendCommon(r))
	if err != nil {
		return "", err
	}
	id, err := decodeOperationID(rep.status, rep.requestID, rep.body)
	if err != nil {
		return "", c.finish(actionCreate2024, err)
	}
	return id, nil
}

func (c *Client) buildCreate2024(req dataworks.CreateManualDagRequest) (*requests.CommonRequest, *dataworks.Error) {
	if e := c.need2024(actionCreate2024, req.APIVersion); e != nil {
		return nil, e
	}
	projectID, workflowID, e := workflowIDs(req.ProjectName, req.FlowName)
	if e != nil {
		return nil, e
	}
	bizdate, err := dag.ParseBizdate(req.Bizdate)
	if err != nil {
		return nil, invalid("%v", err)
	}
	if err := req.DagParameters.Validate(); err != nil {
		return nil, invalid("DagParameters: %v", err)
	}
	taskParams, e := encodeNodeParameters(req.NodeParameters)
	if e != nil {
		return nil, e
	}
	env, e := projectEnv(req.ProjectEnv, dag.APIVersion2024)
	if e != nil {
		return nil, e
	}
	if req.Marker == "" || len(req.Marker) > 128 {
		return nil, invalid("Marker must be 1 to 128 bytes under %s: it is how an ambiguous create is found again", dag.APIVersion2024)
	}
	if len(req.Comment) > 1024 {
		return nil, invalid("Comment is %d bytes long; at most 1024 are accepted", len(req.Comment))
	}
	r := c.request2024(actionCreate2024)
	f := r.FormParams
	f["Type"] = workflowTypeManual
	f["ProjectId"] = strconv.FormatInt(projectID, 10)
	f["WorkflowId"] = strconv.FormatInt(workflowID, 10)
	f["EnvType"] = envType(env)
	f["Name"] = "manualdag_" + bizdate
	f["Periods"] = jsonString(map[string]any{"BizDates": []map[string]string{{"StartBizDate": bizdate, "EndBizDate": bizdate}}})
	f["Tags"] = jsonString([]map[string]string{{"Key": dataworks.MarkerTagKey, "Value": req.Marker}})
	if len(req.DagParameters) > 0 {
		// A manual workflow's WorkflowParameters are a JSON object, and
		// override the tasks' own parameters.
		f["WorkflowParameters"] = jsonString(map[string]string(req.DagParameters))
	}
	if taskParams != "" {
		f["TaskParameters"] = taskParams
	}
	if req.Comment != "" {
		f["Comment"] = req.Comment
	}
	return r, nil
}

// GetCreateWorkflowInstancesResult reads what became of a
// CreateWorkflowInstances call. It only reads: any error may be retried.
func (c *Client) GetCreateWorkflowInstancesResult(ctx context.Context, req dataworks.CreateResultRequest) (dataworks.CreateResult, error) {
	e := c.need2024(actionCreateResult2024, req.APIVersion)
	if e == nil && (req.OperationID == "" || len(req.OperationID) > 256) {
		e = invalid("OperationId %q is not the id CreateWorkflowInstances answered", req.OperationID)
	}
	if e != nil {
		return dataworks.CreateResult{}, c.finish(actionCreateResult2024, e)
	}
	r := c.request2024(actionCreateResult2024)
	r.FormParams["OperationId"] = req.OperationID
	rep, err := c.do(ctx, actionCreateResult2024, sendCommon(r))
	if err != nil {
		return dataworks.CreateResult{}, err
	}
	res, err := decodeCreateResult(rep.status, rep.requestID, rep.body)
	if err != nil {
		return dataworks.CreateResult{}, c.finish(actionCreateResult2024, err)
	}
	return res, nil
}

// ListWorkflowInstances lists every manual workflow instance of a workflow
// and business date, reading all pages (one call each).
func (c *Client) ListWorkflowInstances(ctx context.Context, req dataworks.ListWorkflowInstancesRequest) ([]dataworks.WorkflowInstance, error) {
	base, e := c.buildList2024(req)
	if e != nil {
		return nil, c.finish(actionListWorkflows, e)
	}
	var out []dataworks.WorkflowInstance
	seen := map[int64]bool{}
	for page := 1; page <= maxPages2024; page++ {
		r := c.request2024(actionListWorkflows)
		for k, v := range base {
			r.FormParams[k] = v
		}
		r.FormParams["PageNumber"] = strconv.Itoa(page)
		r.FormParams["PageSize"] = strconv.Itoa(pageSize2024)
		rep, err := c.do(ctx, actionListWorkflows, sendCommon(r))
		if err != nil {
			return nil, err
		}
		list, total, err := decodeWorkflowInstances(rep.status, rep.requestID, rep.body)
		if err != nil {
			return nil, c.finish(actionListWorkflows, err)
		}
		for _, wi := range list {
			if !seen[wi.ID] {
				seen[wi.ID] = true
				out = append(out, wi)
			}
		}
		if lastPage(len(list), len(out), total) {
			return out, nil
		}
	}
	return nil, c.finish(actionListWorkflows, replyError(200, "", fmt.Errorf("more than %d pages of workflow instances", maxPages2024)))
}

func (c *Client) buildList2024(req dataworks.ListWorkflowInstancesRequest) (map[string]string, *dataworks.Error) {
	if e := c.need2024(actionListWorkflows, req.APIVersion); e != nil {
		return nil, e
	}
	projectID, workflowID, e := workflowIDs(req.ProjectName, req.FlowName)
	if e != nil {
		return nil, e
	}
	ms, e := bizdateMillis(req.Bizdate)
	if e != nil {
		return nil, e
	}
	if _, e := projectEnv(req.ProjectEnv, dag.APIVersion2024); e != nil {
		return nil, e
	}
	return map[string]string{
		"ProjectId":  strconv.FormatInt(projectID, 10),
		"WorkflowId": strconv.FormatInt(workflowID, 10),
		"BizDate":    strconv.FormatInt(ms, 10),
		"Type":       workflowTypeManual,
		"SortBy":     "Id Asc",
	}, nil
}

// searchTasks2024 is SearchManualDagNodeInstance under 2024-05-18: the task
// instances of workflow instance req.DagID (ListTaskInstances), every page.
func (c *Client) searchTasks2024(ctx context.Context, req dataworks.SearchManualDagNodeInstanceRequest, env string) ([]dataworks.NodeInstance, error) {
	projectID, e := checkNumericID("ProjectName", req.ProjectName)
	var ms int64
	if e == nil {
		ms, e = bizdateMillis(req.Bizdate)
	}
	if e != nil {
		return nil, c.finish(actionSearch2024, e)
	}
	var out []dataworks.NodeInstance
	index := map[int64]int{}
	for page := 1; page <= maxPages2024; page++ {
		r := c.request2024(actionSearch2024)
		f := r.FormParams
		f["ProjectId"] = strconv.FormatInt(projectID, 10)
		f["ProjectEnv"] = envType(env)
		f["Bizdate"] = strconv.FormatInt(ms, 10)
		f["WorkflowInstanceId"] = strconv.FormatInt(req.DagID, 10)
		f["SortBy"] = "Id Asc"
		f["PageNumber"] = strconv.Itoa(page)
		f["PageSize"] = strconv.Itoa(pageSize2024)
		rep, err := c.do(ctx, actionSearch2024, sendCommon(r))
		if err != nil {
			return nil, err
		}
		list, total, err := decodeTaskInstances(rep.status, rep.requestID, rep.body, req.DagID)
		if err != nil {
			return nil, c.finish(actionSearch2024, err)
		}
		for _, ni := range list {
			// A task moving between pages while they are read is listed
			// twice: keep its latest record, at its first place.
			if j, dup := index[ni.InstanceID]; dup {
				if !ni.ModifyTime.Before(out[j].ModifyTime) {
					out[j] = ni
				}
				continue
			}
			index[ni.InstanceID] = len(out)
			out = append(out, ni)
		}
		if lastPage(len(list), len(out), total) {
			return out, nil
		}
	}
	return nil, c.finish(actionSearch2024, replyError(200, "", fmt.Errorf("more than %d pages of task instances", maxPages2024)))
}

// taskInstancesOp is StopTaskInstances or RerunTaskInstances for one
// instance: the batch reply's SuccessInfo says whether it was done.
func (c *Client) taskInstancesOp(ctx context.Context, action string, id int64) error {
	r := c.request2024(action)
	r.FormParams["Ids"] = "[" + strconv.FormatInt(id, 10) + "]"
	r.FormParams["Comment"] = "manualdag"
	rep, err := c.do(ctx, action, sendCommon(r))
	if err != nil {
		return err
	}
	if err := decodeSuccessInfo(rep.status, rep.requestID, rep.body, id); err != nil {
		return c.finish(action, err)
	}
	return nil
}

// taskInstanceLog is GetInstanceLog under 2024-05-18: the log of the
// latest run of a task instance.
func (c *Client) taskInstanceLog(ctx context.Context, id int64) (string, error) {
	r := c.request2024(actionLog2024)
	r.FormParams["Id"] = strconv.FormatInt(id, 10)
	rep, err := c.do(ctx, actionLog2024, sendCommon(r))
	if err != nil {
		return "", err
	}
	log, err := decodeTaskLog(rep.status, rep.requestID, rep.body)
	if err != nil {
		return "", c.finish(actionLog2024, err)
	}
	return log, nil
}

// lastPage decides whether a listing is complete after a page of n items,
// have items in all, the reply saying total (0: it did not say): an empty
// page ends it, as does reaching the total; without a total, a short page.
func lastPage(n, have, total int) bool {
	switch {
	case n == 0:
		return true
	case total > 0:
		return have >= total
	}
	return n < pageSize2024
}

// workflowIDs are the numeric ProjectId and WorkflowId that 2024-05-18
// calls take in place of the project and flow names.
func workflowIDs(project, flow string) (projectID, workflowID int64, _ *dataworks.Error) {
	projectID, e := checkNumericID("ProjectName", project)
	if e != nil {
		return 0, 0, e
	}
	if workflowID, e = checkNumericID("FlowName", flow); e != nil {
		return 0, 0, e
	}
	return projectID, workflowID, nil
}
