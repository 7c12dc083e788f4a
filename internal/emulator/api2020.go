package emulator

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// envelope2020 is the common part of 2020-05-18 answers.
type envelope2020 struct {
	RequestID      string `json:"RequestId"`
	Success        bool   `json:"Success"`
	HTTPStatusCode int    `json:"HttpStatusCode"`
	ErrorCode      string `json:"ErrorCode"`
	ErrorMessage   string `json:"ErrorMessage"`
}

func okEnvelope(c *rpcCall) envelope2020 {
	return envelope2020{RequestID: c.requestID, Success: true, HTTPStatusCode: 200}
}

func projectEnv(c *rpcCall) *apiError {
	switch env := c.params["ProjectEnv"]; env {
	case "PROD", "DEV":
		return nil
	case "":
		return errMissingParameter("ProjectEnv")
	default:
		return errInvalidParameter("ProjectEnv", "use PROD or DEV, not "+strconv.Quote(env)+".")
	}
}

// dagParameters accepts the JSON object the 2020 reference documents
// ({"k":"v"}) and the 2018 "k=v k=v" form, and renders "k=v k=v".
func dagParameters(s string) (string, *apiError) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") {
		return s, nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return "", errInvalidParameter("DagParameters", `it must be a JSON object such as {"k":"v"}.`)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%v", k, m[k])
	}
	return strings.Join(parts, " "), nil
}

// nodeIDs reads a comma-separated list of node ids; nil when empty.
func nodeIDs(name, s string) (map[int64]bool, *apiError) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	out := map[int64]bool{}
	for _, f := range strings.Split(s, ",") {
		id, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil {
			return nil, errInvalidParameter(name, "it must be comma-separated node ids, e.g. 103180025,103180026.")
		}
		out[id] = true
	}
	return out, nil
}

type createReply2020 struct {
	envelope2020
	DagID int64 `json:"DagId"`
}

// createManualDag2020 serves CreateManualDag and RunManualDagNodes: nodes
// left out by IncludeNodeIds or named in ExcludeNodeIds dry-run (succeed at
// once) so their downstream still runs.
func (e *Emulator) createManualDag2020(c *rpcCall) (reply, *apiError) {
	if aerr := projectEnv(c); aerr != nil {
		return reply{}, aerr
	}
	if aerr := required(c, "ProjectName", "FlowName", "BizDate"); aerr != nil {
		return reply{}, aerr
	}
	bizdate, ok := parseBizdate(c.params["BizDate"])
	if !ok {
		return reply{}, errInvalidParameter("BizDate", "use yyyy-MM-dd 00:00:00.")
	}
	dagParams, aerr := dagParameters(c.params["DagParameters"])
	if aerr != nil {
		return reply{}, aerr
	}
	nodeParams, aerr := parseNodeParams("NodeParameters", c.params["NodeParameters"])
	if aerr != nil {
		return reply{}, aerr
	}
	include, aerr := nodeIDs("IncludeNodeIds", c.params["IncludeNodeIds"])
	if aerr != nil {
		return reply{}, aerr
	}
	exclude, aerr := nodeIDs("ExcludeNodeIds", c.params["ExcludeNodeIds"])
	if aerr != nil {
		return reply{}, aerr
	}
	d, aerr := e.createDAG(createSpec{
		project:    c.params["ProjectName"],
		flow:       c.params["FlowName"],
		bizdate:    bizdate,
		dagParams:  dagParams,
		nodeParams: nodeParams,
		include:    include,
		exclude:    exclude,
		version:    c.version,
		action:     c.action,
		env:        c.params["ProjectEnv"],
	}, c.now)
	if aerr != nil {
		return reply{}, aerr
	}
	return reply{body: createReply2020{okEnvelope(c), d.id}, outcome: OutcomeOK}, nil
}

// instance2020 carries the field names the SDK's InstancesItem decodes.
type instance2020 struct {
	InstanceID        int64  `json:"InstanceId"`
	InstanceHistoryID int64  `json:"InstanceHistoryId"`
	DagID             int64  `json:"DagId"`
	DagType           string `json:"DagType"`
	NodeID            int64  `json:"NodeId"`
	NodeName          string `json:"NodeName"`
	ProjectID         int64  `json:"ProjectId"`
	Status            string `json:"Status"`
	TaskType          string `json:"TaskType"`
	ParamValues       string `json:"ParamValues,omitempty"`
	ErrorMessage      string `json:"ErrorMessage,omitempty"`
	CreateUser        string `json:"CreateUser"`
	BizDate           int64  `json:"BizDate"`
	Bizdate           int64  `json:"Bizdate"`
	CycTime           int64  `json:"CycTime"`
	CreateTime        int64  `json:"CreateTime"`
	ModifyTime        int64  `json:"ModifyTime"`
	BeginWaitTimeTime int64  `json:"BeginWaitTimeTime,omitempty"`
	BeginWaitResTime  int64  `json:"BeginWaitResTime,omitempty"`
	BeginRunningTime  int64  `json:"BeginRunningTime,omitempty"`
	FinishTime        int64  `json:"FinishTime,omitempty"`
}

type instancesReply2020 struct {
	envelope2020
	Instances []instance2020 `json:"Instances"`
}

// createUser is the account id reported as the creator of every instance.
const createUser = "1000000000001"

func (e *Emulator) manualDagInstances2020(c *rpcCall) (reply, *apiError) {
	if aerr := projectEnv(c); aerr != nil {
		return reply{}, aerr
	}
	if aerr := required(c, "ProjectName", "DagId"); aerr != nil {
		return reply{}, aerr
	}
	dagID, err := strconv.ParseInt(c.params["DagId"], 10, 64)
	if err != nil {
		return reply{}, errInvalidParameter("DagId", "it must be the number CreateManualDag returned.")
	}
	views, ok := e.listInstances(dagID, c.params["ProjectName"], c.now)
	if !ok {
		return reply{}, newDagNotExist(dagID)
	}
	_, projectID, _ := e.def.flow(c.params["ProjectName"], "")
	out := make([]instance2020, len(views))
	for i, v := range views {
		out[i] = instance2020{
			InstanceID: v.InstanceID, InstanceHistoryID: v.HistoryID, DagID: v.DagID, DagType: "MANUAL",
			NodeID: v.NodeID, NodeName: v.NodeName, ProjectID: projectID, Status: v.Status.String(),
			TaskType: v.TaskType, ParamValues: v.ParaValue, ErrorMessage: v.ErrorMessage, CreateUser: createUser,
			BizDate: epochMS(v.Bizdate), Bizdate: epochMS(v.Bizdate), CycTime: epochMS(v.CreateTime),
			CreateTime: epochMS(v.CreateTime), ModifyTime: epochMS(v.ModifyTime),
			BeginWaitTimeTime: epochMS(v.BeginWait), BeginWaitResTime: epochMS(v.BeginWaitRes),
			BeginRunningTime: epochMS(v.BeginRunning), FinishTime: epochMS(v.Finish),
		}
	}
	return reply{body: instancesReply2020{okEnvelope(c), out}, outcome: OutcomeOK}, nil
}

func instanceID(c *rpcCall) (int64, *apiError) {
	if aerr := projectEnv(c); aerr != nil {
		return 0, aerr
	}
	if aerr := required(c, "InstanceId"); aerr != nil {
		return 0, aerr
	}
	id, err := strconv.ParseInt(c.params["InstanceId"], 10, 64)
	if err != nil {
		return 0, errInvalidParameter("InstanceId", "it must be a number.")
	}
	return id, nil
}

type dataReply2020 struct {
	envelope2020
	Data any `json:"Data"`
}

func (e *Emulator) stopInstance2020(c *rpcCall) (reply, *apiError) {
	id, aerr := instanceID(c)
	if aerr == nil {
		aerr = e.stopInstance(id, c.now)
	}
	if aerr != nil {
		return reply{}, aerr
	}
	return reply{body: dataReply2020{okEnvelope(c), true}, outcome: OutcomeOK}, nil
}

func (e *Emulator) restartInstance2020(c *rpcCall) (reply, *apiError) {
	id, aerr := instanceID(c)
	if aerr == nil {
		aerr = e.restartInstance(id, c.now)
	}
	if aerr != nil {
		return reply{}, aerr
	}
	return reply{body: dataReply2020{okEnvelope(c), true}, outcome: OutcomeOK}, nil
}

func (e *Emulator) instanceLog2020(c *rpcCall) (reply, *apiError) {
	id, aerr := instanceID(c)
	if aerr != nil {
		return reply{}, aerr
	}
	var historyID int64
	if s := c.params["InstanceHistoryId"]; s != "" {
		var err error
		if historyID, err = strconv.ParseInt(s, 10, 64); err != nil {
			return reply{}, errInvalidParameter("InstanceHistoryId", "it must be a number.")
		}
	}
	log, aerr := e.instanceLog(id, historyID, c.now)
	if aerr != nil {
		return reply{}, aerr
	}
	return reply{body: dataReply2020{okEnvelope(c), log}, outcome: OutcomeOK}, nil
}
