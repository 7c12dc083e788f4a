package emulator

import (
	"encoding/json"
	"regexp"
	"strconv"
	"time"
)

// API versions served.
const (
	version2018 = "2018-06-01"
	version2020 = "2020-05-18"
)

// lookupHandler returns the handler of an action, nil for an unknown one.
func lookupHandler(version, action string) handler {
	switch version + "/" + action {
	case version2018 + "/CreateManualDag":
		return (*Emulator).createManualDag2018
	case version2018 + "/SearchManualDagNodeInstance":
		return (*Emulator).searchManualDagNodeInstance
	case version2020 + "/CreateManualDag", version2020 + "/RunManualDagNodes":
		return (*Emulator).createManualDag2020
	case version2020 + "/GetManualDagInstances", version2020 + "/ListManualDagInstances":
		return (*Emulator).manualDagInstances2020
	case version2020 + "/StopInstance":
		return (*Emulator).stopInstance2020
	case version2020 + "/RestartInstance":
		return (*Emulator).restartInstance2020
	case version2020 + "/GetInstanceLog":
		return (*Emulator).instanceLog2020
	}
	if version == version2024 {
		return lookupHandler2024(action)
	}
	return nil
}

// bizdatePattern is the only accepted form: the service refuses anything
// but midnight.
var bizdatePattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} 00:00:00$`)

func parseBizdate(s string) (time.Time, bool) {
	if !bizdatePattern.MatchString(s) {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation(time.DateTime, s, chinaTime)
	return t, err == nil
}

func required(c *rpcCall, names ...string) *apiError {
	for _, n := range names {
		if c.params[n] == "" {
			return errMissingParameter(n)
		}
	}
	return nil
}

// parseNodeParams reads {"<node id>":"k=v k=v"}.
func parseNodeParams(name, s string) (map[int64]string, *apiError) {
	if s == "" {
		return nil, nil
	}
	var raw map[string]string
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, errInvalidParameter(name, `it must be a JSON object of node id to "k=v k=v" strings, e.g. {"103180025":"test=$[yyyy-mm-dd]"}.`)
	}
	out := make(map[int64]string, len(raw))
	for k, v := range raw {
		id, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			return nil, errInvalidParameter(name, "the key "+strconv.Quote(k)+" is not a node id.")
		}
		out[id] = v
	}
	return out, nil
}

type createReply2018 struct {
	RequestID           string `json:"RequestId"`
	ReturnCode          string `json:"ReturnCode"`
	ReturnErrorSolution string `json:"ReturnErrorSolution"`
	ReturnMessage       string `json:"ReturnMessage"`
	ReturnValue         int64  `json:"ReturnValue,omitempty"`
}

func (e *Emulator) createManualDag2018(c *rpcCall) (reply, *apiError) {
	if aerr := required(c, "ProjectName", "FlowName", "Bizdate"); aerr != nil {
		return reply{}, aerr
	}
	bizdate, ok := parseBizdate(c.params["Bizdate"])
	if !ok {
		// The real service answers this one with HTTP 200.
		return reply{body: createReply2018{
			RequestID:           c.requestID,
			ReturnCode:          CodeBizdateFormat,
			ReturnMessage:       "bizdate format error, should be yyyy-MM-dd 00:00:00",
			ReturnErrorSolution: "pass Bizdate as yyyy-MM-dd 00:00:00",
		}, outcome: CodeBizdateFormat}, nil
	}
	nodeParams, aerr := parseNodeParams("NodePara", c.params["NodePara"])
	if aerr != nil {
		return reply{}, aerr
	}
	d, aerr := e.createDAG(createSpec{
		project:    c.params["ProjectName"],
		flow:       c.params["FlowName"],
		bizdate:    bizdate,
		dagParams:  c.params["DagPara"],
		nodeParams: nodeParams,
		version:    c.version,
		action:     c.action,
	}, c.now)
	if aerr != nil {
		return reply{}, aerr
	}
	return reply{body: createReply2018{RequestID: c.requestID, ReturnCode: "0", ReturnValue: d.id}, outcome: OutcomeOK}, nil
}

// instance2018 is a node instance as the live service sends it: epoch-ms
// numbers, fields without a value left out.
type instance2018 struct {
	InstanceID        int64  `json:"InstanceId"`
	DagID             int64  `json:"DagId"`
	DagType           int    `json:"DagType"`
	Status            int    `json:"Status"`
	NodeName          string `json:"NodeName"`
	ParaValue         string `json:"ParaValue,omitempty"`
	Bizdate           int64  `json:"Bizdate,omitempty"`
	CreateTime        int64  `json:"CreateTime,omitempty"`
	ModifyTime        int64  `json:"ModifyTime,omitempty"`
	BeginWaitTimeTime int64  `json:"BeginWaitTimeTime,omitempty"`
	BeginWaitResTime  int64  `json:"BeginWaitResTime,omitempty"`
	BeginRunningTime  int64  `json:"BeginRunningTime,omitempty"`
	FinishTime        int64  `json:"FinishTime,omitempty"`
}

// instanceReference is a node instance as the reference page shows it:
// lower-case keys, times as strings, in both forms the page uses
// ("2018-12-12 00:00:00" for dates, "1564019679966" for moments).
type instanceReference struct {
	InstanceID        int64  `json:"instanceId"`
	DagID             int64  `json:"dagId"`
	DagType           int    `json:"dagType"`
	Status            int    `json:"status"`
	NodeName          string `json:"nodeName"`
	ParaValue         string `json:"paraValue,omitempty"`
	Bizdate           string `json:"bizdate,omitempty"`
	CreateTime        string `json:"createTime,omitempty"`
	ModifyTime        string `json:"modifyTime,omitempty"`
	BeginWaitTimeTime string `json:"beginWaitTimeTime,omitempty"`
	BeginWaitResTime  string `json:"beginWaitResTime,omitempty"`
	BeginRunningTime  string `json:"beginRunningTime,omitempty"`
	FinishTime        string `json:"finishTime,omitempty"`
}

type searchReply2018 struct {
	RequestID string `json:"RequestId"`
	ErrCode   string `json:"ErrCode"`
	ErrMsg    string `json:"ErrMsg"`
	Success   bool   `json:"Success"`
	Data      any    `json:"Data,omitempty"`
}

type searchReplyReference struct {
	RequestID string              `json:"RequestId"`
	ErrCode   string              `json:"ErrCode"`
	ErrMsg    string              `json:"ErrMsg"`
	Success   bool                `json:"Success"`
	Data      []instanceReference `json:"data"`
}

type nodeInsInfo struct {
	NodeInsInfo []instance2018 `json:"NodeInsInfo"`
}

// dagTypeManual is the DagType of a manual flow's DAG.
const dagTypeManual = 5

func (e *Emulator) searchManualDagNodeInstance(c *rpcCall) (reply, *apiError) {
	if aerr := required(c, "ProjectName", "DagId"); aerr != nil {
		return reply{}, aerr
	}
	dagID, err := strconv.ParseInt(c.params["DagId"], 10, 64)
	var views []instanceView
	ok := err == nil
	if ok {
		views, ok = e.listInstances(dagID, c.params["ProjectName"], c.now)
	}
	if !ok {
		return reply{body: searchReply2018{
			RequestID: c.requestID,
			ErrCode:   CodeInvalidDagID,
			ErrMsg:    "dag id is invalid: " + c.params["DagId"],
		}, outcome: CodeInvalidDagID}, nil
	}
	if e.referenceFormat {
		out := make([]instanceReference, len(views))
		for i, v := range views {
			out[i] = instanceReference{
				InstanceID: v.InstanceID, DagID: v.DagID, DagType: dagTypeManual, Status: int(v.Status),
				NodeName: v.NodeName, ParaValue: v.ParaValue,
				Bizdate: dateString(v.Bizdate), CreateTime: dateString(v.CreateTime),
				ModifyTime: msString(v.ModifyTime), BeginWaitTimeTime: msString(v.BeginWait),
				BeginWaitResTime: msString(v.BeginWaitRes), BeginRunningTime: msString(v.BeginRunning),
				FinishTime: msString(v.Finish),
			}
		}
		return reply{body: searchReplyReference{RequestID: c.requestID, ErrCode: "0", Success: true, Data: out}, outcome: OutcomeOK}, nil
	}
	out := make([]instance2018, len(views))
	for i, v := range views {
		out[i] = instance2018{
			InstanceID: v.InstanceID, DagID: v.DagID, DagType: dagTypeManual, Status: int(v.Status),
			NodeName: v.NodeName, ParaValue: v.ParaValue,
			Bizdate: epochMS(v.Bizdate), CreateTime: epochMS(v.CreateTime), ModifyTime: epochMS(v.ModifyTime),
			BeginWaitTimeTime: epochMS(v.BeginWait), BeginWaitResTime: epochMS(v.BeginWaitRes),
			BeginRunningTime: epochMS(v.BeginRunning), FinishTime: epochMS(v.Finish),
		}
	}
	return reply{body: searchReply2018{
		RequestID: c.requestID, ErrCode: "0", Success: true, Data: nodeInsInfo{NodeInsInfo: out},
	}, outcome: OutcomeOK}, nil
}

// epochMS is 0 (left out) for "no value".
func epochMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func msString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}

func dateString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(chinaTime).Format(time.DateTime)
}
