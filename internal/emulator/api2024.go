package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The 2024-05-18 API (the new Data Studio): a manual workflow runs as a
// workflow instance, created asynchronously. Successes carry RequestId and
// the data only; errors are the common error body with HttpStatusCode (see
// errorBody). Complex parameters arrive as JSON strings, as the typed SDK
// sends its "shrink" fields.

const version2024 = "2024-05-18"

// Values of the 2024 API.
const (
	typeManualWorkflow = "ManualWorkflow"
	// CodeInvalidParam2024 is 2024-05-18's code for a bad parameter.
	CodeInvalidParam2024 = "Invalid.Param"
	// maxPageSize2024 is ListTaskInstances' documented maximum.
	maxPageSize2024 = 500
)

// status2024 is the 2024-05-18 spelling of a status: NotRun, WaitTime, …
var status2024 = map[Status]string{
	StatusNotRun:            "NotRun",
	StatusWaitTime:          "WaitTime",
	StatusWaitResource:      "WaitResource",
	StatusRunning:           "Running",
	StatusFailure:           "Failure",
	StatusSuccess:           "Success",
	StatusChecking:          "Checking",
	StatusCheckingCondition: "CheckingCondition",
}

func lookupHandler2024(action string) handler {
	switch action {
	case "CreateWorkflowInstances":
		return (*Emulator).createWorkflowInstances
	case "GetCreateWorkflowInstancesResult":
		return (*Emulator).createWorkflowInstancesResult
	case "ListWorkflowInstances":
		return (*Emulator).listWorkflowInstances
	case "GetWorkflowInstance":
		return (*Emulator).getWorkflowInstance
	case "ListTaskInstances":
		return (*Emulator).listTaskInstances
	case "StopTaskInstances":
		return (*Emulator).stopTaskInstances
	case "RerunTaskInstances":
		return (*Emulator).rerunTaskInstances
	case "GetTaskInstanceLog":
		return (*Emulator).taskInstanceLog
	}
	return nil
}

func errParam2024(name, how string) *apiError {
	return newAPIError(http.StatusBadRequest, CodeInvalidParam2024, "The parameter "+name+" is invalid: "+how)
}

func int64Param(c *rpcCall, name string, required bool) (int64, *apiError) {
	s := c.params[name]
	if s == "" {
		if required {
			return 0, errMissingParameter(name)
		}
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, errParam2024(name, "it must be a positive number.")
	}
	return n, nil
}

// envType2024 reads EnvType / ProjectEnv: Prod (default) or Dev.
func envType2024(c *rpcCall, name string) (string, *apiError) {
	switch v := c.params[name]; v {
	case "", "Prod":
		return "Prod", nil
	case "Dev":
		return "Dev", nil
	default:
		return "", errParam2024(name, "use Prod or Dev, not "+strconv.Quote(v)+".")
	}
}

// bizdateMillis reads an epoch-millisecond business date; it must be a
// midnight in China time.
func bizdateMillis(c *rpcCall, name string) (time.Time, *apiError) {
	ms, aerr := int64Param(c, name, true)
	if aerr != nil {
		return time.Time{}, aerr
	}
	t := time.UnixMilli(ms).In(chinaTime)
	if t.Hour() != 0 || t.Minute() != 0 || t.Second() != 0 || t.Nanosecond() != 0 {
		return time.Time{}, errParam2024(name, "it must be the epoch milliseconds of a midnight, China time.")
	}
	return t, nil
}

type createReply2024 struct {
	RequestID   string `json:"RequestId"`
	OperationID string `json:"OperationId"`
}

// operation is one CreateWorkflowInstances: the run it made, or why it
// made none (the CreateFailures fault). Its result is Creating until
// readyAt.
type operation struct {
	run     *dagRun // nil: the create failed
	failure string  // the FailureMessage of a failed create
	readyAt time.Time
}

// addOperation records op under a new OperationId; wf, for an op that
// made a run, becomes that run's.
func (e *Emulator) addOperation(op *operation, wf *workflowRun) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.operationSeq++
	id := fmt.Sprintf("%08x-0e4a-4d0c-9b5e-%012x", uint32(e.seed), e.operationSeq)
	if op.run != nil {
		wf.operationID = id
		op.run.wf = wf
	}
	e.operations[id] = op
	return id
}

// createWorkflowInstances serves CreateWorkflowInstances for Type
// ManualWorkflow and one business date. The run is recorded at once (a
// dropped reply still leaves it, as on the real service) and becomes
// visible CreatingFor later; under the CreateFailures fault no run is
// made, and the operation ends CreateFailure.
func (e *Emulator) createWorkflowInstances(c *rpcCall) (reply, *apiError) {
	if aerr := required(c, "ProjectId", "WorkflowId", "Name", "Type"); aerr != nil {
		return reply{}, aerr
	}
	if t := c.params["Type"]; t != typeManualWorkflow {
		return reply{}, errParam2024("Type", "the emulator serves ManualWorkflow only, not "+strconv.Quote(t)+".")
	}
	projectID, aerr := int64Param(c, "ProjectId", true)
	if aerr != nil {
		return reply{}, aerr
	}
	workflowID, aerr := int64Param(c, "WorkflowId", true)
	if aerr != nil {
		return reply{}, aerr
	}
	env, aerr := envType2024(c, "EnvType")
	if aerr != nil {
		return reply{}, aerr
	}
	bizdate, aerr := periods(c.params["Periods"])
	if aerr != nil {
		return reply{}, aerr
	}
	dagParams, aerr := dagParameters(c.params["WorkflowParameters"])
	if aerr != nil {
		return reply{}, aerr
	}
	nodeParams, aerr := parseNodeParams("TaskParameters", c.params["TaskParameters"])
	if aerr != nil {
		return reply{}, aerr
	}
	var tags []tag
	if s := c.params["Tags"]; s != "" {
		if err := json.Unmarshal([]byte(s), &tags); err != nil {
			return reply{}, errParam2024("Tags", `it must be a JSON array such as [{"Key":"k","Value":"v"}].`)
		}
	}
	_, project, flow, err := e.def.flowByID(projectID, workflowID)
	switch {
	case err == errProjectNotFound:
		return reply{}, newAPIError(http.StatusBadRequest, CodeProjectNotExist, fmt.Sprintf("The project %d does not exist; check ProjectId.", projectID))
	case err != nil:
		return reply{}, newAPIError(http.StatusBadRequest, CodeFlowNotExist, fmt.Sprintf("The workflow %d does not exist in project %d; check WorkflowId.", workflowID, projectID))
	}
	readyAt := c.now.Add(e.creatingFor)
	if e.take(c, createFailures) {
		_, f := e.faultsFor(c.action)
		op := e.addOperation(&operation{failure: f.createFailureMessage(), readyAt: readyAt}, nil)
		return reply{body: createReply2024{c.requestID, op}, outcome: OutcomeOK}, nil
	}
	d, aerr := e.createDAG(createSpec{project: project, flow: flow, bizdate: bizdate, dagParams: dagParams,
		nodeParams: nodeParams, version: c.version, action: c.action, env: strings.ToUpper(env), name: c.params["Name"]}, readyAt)
	if aerr != nil {
		return reply{}, aerr
	}
	op := e.addOperation(&operation{run: d, readyAt: readyAt}, &workflowRun{projectID: projectID, workflowID: workflowID,
		name: c.params["Name"], envType: env, comment: c.params["Comment"], tags: tags, params: c.params["WorkflowParameters"], readyAt: readyAt})
	return reply{body: createReply2024{c.requestID, op}, outcome: OutcomeOK}, nil
}

// periods reads {"BizDates":[{"StartBizDate":"2024-06-01","EndBizDate":"2024-06-01"}]}:
// one business date (a manual workflow run is one bizdate here).
func periods(s string) (time.Time, *apiError) {
	if s == "" {
		return time.Time{}, errMissingParameter("Periods")
	}
	var p struct {
		BizDates []struct{ StartBizDate, EndBizDate string }
	}
	bad := errParam2024("Periods", `it must be {"BizDates":[{"StartBizDate":"yyyy-mm-dd","EndBizDate":"yyyy-mm-dd"}]} with one date.`)
	if err := json.Unmarshal([]byte(s), &p); err != nil || len(p.BizDates) != 1 || p.BizDates[0].StartBizDate != p.BizDates[0].EndBizDate {
		return time.Time{}, bad
	}
	t, err := time.ParseInLocation(time.DateOnly, p.BizDates[0].StartBizDate, chinaTime)
	if err != nil {
		return time.Time{}, bad
	}
	return t, nil
}

type createResult2024 struct {
	RequestID string `json:"RequestId"`
	Result    struct {
		Status              string  `json:"Status"`
		WorkflowInstanceIDs []int64 `json:"WorkflowInstanceIds,omitempty"`
		FailureMessage      string  `json:"FailureMessage,omitempty"`
	} `json:"Result"`
}

func (e *Emulator) createWorkflowInstancesResult(c *rpcCall) (reply, *apiError) {
	if aerr := required(c, "OperationId"); aerr != nil {
		return reply{}, aerr
	}
	e.mu.Lock()
	op, ok := e.operations[c.params["OperationId"]]
	e.mu.Unlock()
	if !ok {
		return reply{}, errParam2024("OperationId", "no create operation has this id.")
	}
	var r createResult2024
	r.RequestID = c.requestID
	r.Result.Status = "Creating"
	outcome := OutcomeOK
	switch {
	case c.now.Before(op.readyAt):
	case op.run == nil:
		r.Result.Status, r.Result.FailureMessage = "CreateFailure", op.failure
		outcome = OutcomeCreateFailure
	default:
		r.Result.Status, r.Result.WorkflowInstanceIDs = "Created", []int64{op.run.id}
	}
	return reply{body: r, outcome: outcome}, nil
}

// workflowInstance2024 carries the field names of ListWorkflowInstances'
// WorkflowInstances and GetWorkflowInstance's WorkflowInstance.
type workflowInstance2024 struct {
	ID                 int64  `json:"Id"`
	WorkflowID         int64  `json:"WorkflowId"`
	ProjectID          int64  `json:"ProjectId"`
	Name               string `json:"Name"`
	Type               string `json:"Type"`
	EnvType            string `json:"EnvType"`
	Status             string `json:"Status"`
	BizDate            int64  `json:"BizDate"`
	CreateTime         int64  `json:"CreateTime"`
	CreateUser         string `json:"CreateUser"`
	ModifyTime         int64  `json:"ModifyTime"`
	StartedTime        int64  `json:"StartedTime,omitempty"`
	FinishedTime       int64  `json:"FinishedTime,omitempty"`
	WorkflowParameters string `json:"WorkflowParameters,omitempty"`
	Tags               []tag  `json:"Tags"`
}

// wfView renders d at now; d.wf is set and d visible. Called with e.mu held.
func (d *dagRun) wfView(now time.Time) workflowInstance2024 {
	all := d.evaluate()
	st, finished, _ := d.summary(all, now)
	status := "Running"
	switch st {
	case DAGSuccess:
		status = "Success"
	case DAGFailure:
		status = "Failure"
	}
	tags := d.wf.tags
	if tags == nil {
		tags = []tag{}
	}
	return workflowInstance2024{ID: d.id, WorkflowID: d.wf.workflowID, ProjectID: d.wf.projectID, Name: d.wf.name,
		Type: typeManualWorkflow, EnvType: d.wf.envType, Status: status, BizDate: epochMS(d.bizdate),
		CreateTime: epochMS(d.createdAt), CreateUser: createUser, ModifyTime: epochMS(later(d.createdAt, finished)),
		StartedTime: epochMS(d.createdAt), FinishedTime: epochMS(finished), WorkflowParameters: d.wf.params, Tags: tags}
}

type pagingInfo struct {
	PageNumber        int                    `json:"PageNumber"`
	PageSize          int                    `json:"PageSize"`
	TotalCount        int                    `json:"TotalCount"`
	WorkflowInstances []workflowInstance2024 `json:"WorkflowInstances,omitempty"`
	TaskInstances     []taskInstance2024     `json:"TaskInstances,omitempty"`
}

type pagedReply2024 struct {
	RequestID  string     `json:"RequestId"`
	PagingInfo pagingInfo `json:"PagingInfo"`
}

// page reads PageNumber (default 1) and PageSize (default 10, at most max).
func page(c *rpcCall, max int) (number, size int, aerr *apiError) {
	number, size = 1, 10
	for _, p := range []struct {
		name string
		dst  *int
		max  int
	}{{"PageNumber", &number, 1 << 30}, {"PageSize", &size, max}} {
		if s := c.params[p.name]; s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > p.max {
				return 0, 0, errParam2024(p.name, fmt.Sprintf("it must be a number from 1 to %d.", p.max))
			}
			*p.dst = n
		}
	}
	return number, size, nil
}

func pageBounds(n, number, size int) (int, int) {
	from := min((number-1)*size, n)
	return from, min(from+size, n)
}

// listWorkflowInstances lists the visible workflow instances of a project
// and business date, optionally of one workflow and type, by ascending id.
func (e *Emulator) listWorkflowInstances(c *rpcCall) (reply, *apiError) {
	projectID, aerr := int64Param(c, "ProjectId", true)
	if aerr != nil {
		return reply{}, aerr
	}
	bizdate, aerr := bizdateMillis(c, "BizDate")
	if aerr != nil {
		return reply{}, aerr
	}
	workflowID, aerr := int64Param(c, "WorkflowId", false)
	if aerr != nil {
		return reply{}, aerr
	}
	number, size, aerr := page(c, 1<<30)
	if aerr != nil {
		return reply{}, aerr
	}
	if t := c.params["Type"]; t != "" && t != typeManualWorkflow {
		return reply{body: pagedReply2024{c.requestID, pagingInfo{PageNumber: number, PageSize: size}}, outcome: OutcomeOK}, nil
	}
	e.mu.Lock()
	var all []workflowInstance2024
	for _, d := range e.dagOrder {
		w := d.wf
		if w == nil || w.projectID != projectID || !d.bizdate.Equal(bizdate) || (workflowID != 0 && w.workflowID != workflowID) || c.now.Before(w.readyAt) {
			continue
		}
		all = append(all, d.wfView(c.now))
	}
	e.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	if strings.HasSuffix(c.params["SortBy"], "Desc") || c.params["SortBy"] == "" {
		sort.Slice(all, func(i, j int) bool { return all[i].ID > all[j].ID }) // the documented default: Id Desc
	}
	from, to := pageBounds(len(all), number, size)
	return reply{body: pagedReply2024{c.requestID, pagingInfo{PageNumber: number, PageSize: size, TotalCount: len(all),
		WorkflowInstances: all[from:to]}}, outcome: OutcomeOK}, nil
}

type getWorkflowInstanceReply struct {
	RequestID        string               `json:"RequestId"`
	WorkflowInstance workflowInstance2024 `json:"WorkflowInstance"`
}

func (e *Emulator) getWorkflowInstance(c *rpcCall) (reply, *apiError) {
	id, aerr := int64Param(c, "Id", true)
	if aerr != nil {
		return reply{}, aerr
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	d, ok := e.dags[id]
	if !ok || d.wf == nil || c.now.Before(d.wf.readyAt) {
		return reply{}, newAPIError(http.StatusBadRequest, CodeInvalidParam2024, fmt.Sprintf("The workflow instance %d does not exist.", id))
	}
	return reply{body: getWorkflowInstanceReply{c.requestID, d.wfView(c.now)}, outcome: OutcomeOK}, nil
}

// taskInstance2024 carries the field names of ListTaskInstances'
// TaskInstances.
type taskInstance2024 struct {
	ID                   int64  `json:"Id"`
	TaskID               int64  `json:"TaskId"`
	TaskName             string `json:"TaskName"`
	TaskType             string `json:"TaskType"`
	Status               string `json:"Status"`
	RunNumber            int    `json:"RunNumber"`
	ProjectID            int64  `json:"ProjectId"`
	ProjectEnv           string `json:"ProjectEnv"`
	WorkflowID           int64  `json:"WorkflowId"`
	WorkflowInstanceID   int64  `json:"WorkflowInstanceId"`
	WorkflowInstanceType string `json:"WorkflowInstanceType"`
	TriggerType          string `json:"TriggerType"`
	ScriptParameters     string `json:"ScriptParameters,omitempty"`
	Bizdate              int64  `json:"Bizdate"`
	CreateTime           int64  `json:"CreateTime"`
	ModifyTime           int64  `json:"ModifyTime"`
	TriggerTime          int64  `json:"TriggerTime,omitempty"`
	WaitingResourceTime  int64  `json:"WaitingResourceTime,omitempty"`
	StartedTime          int64  `json:"StartedTime,omitempty"`
	FinishedTime         int64  `json:"FinishedTime,omitempty"`
}

// listTaskInstances lists the task instances of one workflow instance (or
// of every one of the project's, without WorkflowInstanceId) of a
// business date, by ascending id, as the list window shows them.
func (e *Emulator) listTaskInstances(c *rpcCall) (reply, *apiError) {
	projectID, aerr := int64Param(c, "ProjectId", true)
	if aerr != nil {
		return reply{}, aerr
	}
	bizdate, aerr := bizdateMillis(c, "Bizdate")
	if aerr != nil {
		return reply{}, aerr
	}
	wfID, aerr := int64Param(c, "WorkflowInstanceId", false)
	if aerr != nil {
		return reply{}, aerr
	}
	env, aerr := envType2024(c, "ProjectEnv")
	if aerr != nil {
		return reply{}, aerr
	}
	number, size, aerr := page(c, maxPageSize2024)
	if aerr != nil {
		return reply{}, aerr
	}
	e.mu.Lock()
	var runs []*dagRun
	for _, d := range e.dagOrder {
		if d.wf != nil && d.wf.projectID == projectID && d.wf.envType == env && d.bizdate.Equal(bizdate) && (wfID == 0 || d.id == wfID) {
			runs = append(runs, d)
		}
	}
	e.mu.Unlock()
	var all []taskInstance2024
	for _, d := range runs {
		views, _ := e.listInstances(d.id, "", c.now)
		for _, v := range views {
			all = append(all, taskInstance2024{
				ID: v.InstanceID, TaskID: v.NodeID, TaskName: v.NodeName, TaskType: v.TaskType, Status: status2024[v.Status],
				RunNumber: int(v.HistoryID-historyID0(v.InstanceID)) + 1, ProjectID: projectID, ProjectEnv: env,
				WorkflowID: d.wf.workflowID, WorkflowInstanceID: d.id, WorkflowInstanceType: typeManualWorkflow, TriggerType: "Manual",
				ScriptParameters: v.ParaValue, Bizdate: epochMS(v.Bizdate), CreateTime: epochMS(v.CreateTime), ModifyTime: epochMS(v.ModifyTime),
				TriggerTime: epochMS(v.BeginWait), WaitingResourceTime: epochMS(v.BeginWaitRes), StartedTime: epochMS(v.BeginRunning), FinishedTime: epochMS(v.Finish),
			})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	if s := c.params["SortBy"]; s == "" || strings.HasSuffix(s, "Desc") {
		sort.Slice(all, func(i, j int) bool { return all[i].ID > all[j].ID })
	}
	from, to := pageBounds(len(all), number, size)
	return reply{body: pagedReply2024{c.requestID, pagingInfo{PageNumber: number, PageSize: size, TotalCount: len(all),
		TaskInstances: all[from:to]}}, outcome: OutcomeOK}, nil
}

type successInfo struct {
	Success bool   `json:"Success"`
	Message string `json:"Message"`
}

type batchReply2024 struct {
	RequestID   string                 `json:"RequestId"`
	SuccessInfo map[string]successInfo `json:"SuccessInfo"`
}

// batch runs op on each id of the JSON array Ids and reports each outcome.
func (e *Emulator) batch(c *rpcCall, op func(int64, time.Time) *apiError) (reply, *apiError) {
	var ids []int64
	if err := json.Unmarshal([]byte(c.params["Ids"]), &ids); err != nil || len(ids) == 0 {
		return reply{}, errParam2024("Ids", "it must be a JSON array of instance ids, e.g. [1234].")
	}
	out := batchReply2024{RequestID: c.requestID, SuccessInfo: map[string]successInfo{}}
	for _, id := range ids {
		r := successInfo{Success: true}
		if aerr := op(id, c.now); aerr != nil {
			r = successInfo{Message: aerr.message}
		}
		out.SuccessInfo[strconv.FormatInt(id, 10)] = r
	}
	return reply{body: out, outcome: OutcomeOK}, nil
}

func (e *Emulator) stopTaskInstances(c *rpcCall) (reply, *apiError) {
	return e.batch(c, e.stopInstance)
}

func (e *Emulator) rerunTaskInstances(c *rpcCall) (reply, *apiError) {
	return e.batch(c, e.restartInstance)
}

type taskLogReply struct {
	RequestID       string `json:"RequestId"`
	TaskInstanceLog string `json:"TaskInstanceLog"`
}

func (e *Emulator) taskInstanceLog(c *rpcCall) (reply, *apiError) {
	id, aerr := int64Param(c, "Id", true)
	if aerr != nil {
		return reply{}, aerr
	}
	run, aerr := int64Param(c, "RunNumber", false)
	if aerr != nil {
		return reply{}, aerr
	}
	var history int64
	if run > 0 {
		history = historyID(id, int(run-1))
	}
	log, aerr := e.instanceLog(id, history, c.now)
	if aerr != nil {
		return reply{}, aerr
	}
	return reply{body: taskLogReply{c.requestID, log}, outcome: OutcomeOK}, nil
}
