package emulator

import (
	"cmp"
	"slices"
	"time"
)

// Push events: what DataWorks OpenEvent sends through an EventBridge bus to
// an HTTP target when a manual DAG run or one of its node instances
// changes status. The simulation has no timers (state is a function of the
// clock), so a scan compares each run's state at the clock's now with what
// it pushed before and turns the difference into events stamped with the
// moment each change happened, not the moment the scan noticed it.

// Event types, as an EventBridge rule names them in its "type" filter.
const (
	// EventTypeDagStatus is a DAG run's status change (eventCode
	// dag-status-changes): manual workflow runs and backfills.
	EventTypeDagStatus = "dataworks:DagStatusChanges:DagStatusChanges"
	// EventTypeInstanceStatus is a node instance's status change (eventCode
	// instance-status-changes).
	EventTypeInstanceStatus = "dataworks:InstanceStatusChanges:InstanceStatusChanges"
)

// DAG statuses in a DagStatusChanges event. The emulator never pushes
// DagNotRun: a manual DAG's first nodes start the moment it is triggered.
const (
	DagNotRun    = 1
	DagRunning   = 4
	DagFailed    = 5
	DagSucceeded = 6
)

// Envelope values the documentation shows.
const (
	eventSource      = "acs.dataworks"
	eventSpecVersion = "1.0"
	// eventContentType is what the documented sample message carries; the
	// CloudEvents field says application/json in prose, so receivers must
	// accept a charset parameter.
	eventContentType = "application/json;charset=utf-8"
	envProd          = "PROD"
	// publishTimeLayout is aliyunpublishtime as the sample shows it:
	// milliseconds and the literal zone name PRC, not an RFC 3339 offset.
	publishTimeLayout = "2006-01-02T15:04:05.000PRC"
)

// cloudEvent is the CloudEvents 1.0 envelope EventBridge delivers.
type cloudEvent struct {
	ID                 string `json:"id"`
	Source             string `json:"source"`
	SpecVersion        string `json:"specversion"`
	Type               string `json:"type"`
	Subject            string `json:"subject"`
	Time               string `json:"time"`
	DataContentType    string `json:"datacontenttype"`
	AliyunAccountID    string `json:"aliyunaccountid"`
	AliyunPublishTime  string `json:"aliyunpublishtime"`
	AliyunEventBusName string `json:"aliyuneventbusname"`
	AliyunRegionID     string `json:"aliyunregionid"`
	AliyunPublishAddr  string `json:"aliyunpublishaddr"`
	Data               any    `json:"data"`
}

// dagEventData is the data of EventTypeDagStatus.
type dagEventData struct {
	DagID      int64  `json:"dagId"`
	DagName    string `json:"dagName"`
	DagType    int    `json:"dagType"`
	FlowID     int64  `json:"flowId"`
	FlowName   string `json:"flowName"`
	ProjectID  int64  `json:"projectId"`
	ProjectEnv string `json:"projectEnv"`
	BizDate    string `json:"bizDate"`    // yyyy-mm-dd hh:mm:ss, China time
	CreateTime string `json:"createTime"` // yyyy-mm-dd hh:mm:ss, China time
	Operator   string `json:"operator"`
	TenantID   int64  `json:"tenantId"`
	Status     int    `json:"status"`
}

// instanceEventData is the data of EventTypeInstanceStatus: epoch-ms
// times, those without a value left out, as in the documented sample.
type instanceEventData struct {
	TaskID            int64 `json:"taskId"`
	NodeID            int64 `json:"nodeId"`
	DagID             int64 `json:"dagId"`
	DagType           int   `json:"dagType"`
	FlowID            int64 `json:"flowId"`
	AppID             int64 `json:"appId"`
	TenantID          int64 `json:"tenantId"`
	Status            int   `json:"status"`
	BeginWaitTimeTime int64 `json:"beginWaitTimeTime,omitempty"`
	BeginWaitResTime  int64 `json:"beginWaitResTime,omitempty"`
	BeginRunningTime  int64 `json:"beginRunningTime,omitempty"`
	FinishTime        int64 `json:"finishTime,omitempty"`
	CreateTime        int64 `json:"createTime"`
	ModifyTime        int64 `json:"modifyTime"`
}

// dagEvents is what the scan has pushed for one DAG run.
type dagEvents struct {
	// upTo is the clock time the node transitions were pushed up to.
	upTo time.Time
	// status is the DAG status last pushed, 0 before the first.
	status int
	// done: the run is over and everything up to its end was pushed; a
	// stop or restart clears it.
	done bool
}

// simEvent is one status change found by a scan, before the faults and
// the envelope: dag or inst is set.
type simEvent struct {
	at   time.Time
	rank int // orders changes of one instant: DAG running, nodes, DAG final
	dag  *dagEventData
	inst *instanceEventData
}

const (
	rankDagStart = iota
	rankNode
	rankDagEnd
)

// nodeTransition is one status a node instance entered, and when.
type nodeTransition struct {
	at      time.Time
	attempt int
	status  Status
}

// transitions lists every status each run of the node entered, in time
// order. Every run starts NOT_RUN when its instance is made (or rerun);
// phases that begin at one instant show only the last, as statusAt does.
func (n *nodeRun) transitions(atts []attempt) []nodeTransition {
	checking := StatusChecking
	if n.condition {
		checking = StatusCheckingCondition
	}
	var out []nodeTransition
	for k, a := range atts {
		origin := n.createdAt
		if k > 0 {
			origin = a.restartedAt
		}
		out = append(out, nodeTransition{origin, k, StatusNotRun})
		phases := []nodeTransition{
			{a.start, k, StatusWaitTime}, {a.waitResAt, k, StatusWaitResource}, {a.runAt, k, StatusRunning},
			{a.checkAt, k, checking}, {a.finalAt, k, a.final},
		}
		for j, p := range phases {
			if p.at.IsZero() || slices.ContainsFunc(phases[j+1:], func(q nodeTransition) bool { return q.at.Equal(p.at) }) {
				continue
			}
			out = append(out, p)
		}
	}
	return out
}

// dagStatusCode is a DAG state as DagStatusChanges numbers it.
func dagStatusCode(s DAGStatus) int {
	switch s {
	case DAGSuccess:
		return DagSucceeded
	case DAGFailure:
		return DagFailed
	}
	return DagRunning
}

// lastIntervention is when a stop or restart last changed d, by now: the
// moment a finished run started running again.
func (d *dagRun) lastIntervention(now time.Time) time.Time {
	last := d.createdAt
	for _, n := range d.nodes {
		for _, iv := range n.interventions {
			if !iv.at.After(now) {
				last = later(last, iv.at)
			}
		}
	}
	return last
}

// collectEvents returns the status changes of every run since the last
// scan, up to now, in time order; instances adds the node changes. Called
// with e.mu held.
func (e *Emulator) collectEvents(now time.Time, instances bool, tenant int64) []simEvent {
	var out []simEvent
	for _, d := range e.dagOrder {
		if d.events.done || now.Before(d.createdAt) {
			continue
		}
		all := d.evaluate()
		if instances {
			for i, n := range d.nodes {
				for _, tr := range n.transitions(all[i]) {
					if tr.at.After(d.events.upTo) && !tr.at.After(now) {
						out = append(out, simEvent{at: tr.at, rank: rankNode, inst: d.instanceData(i, all[i][:tr.attempt+1], tr, tenant)})
					}
				}
			}
		}
		st, finished, _ := d.summary(all, now)
		code := dagStatusCode(st)
		if code != d.events.status {
			if d.events.status == 0 && code != DagRunning {
				// A run first seen over was running before: say so first.
				out = append(out, simEvent{at: d.createdAt, rank: rankDagStart, dag: d.dagData(DagRunning, tenant)})
			}
			ev := simEvent{at: finished, rank: rankDagEnd, dag: d.dagData(code, tenant)}
			if code == DagRunning {
				ev.at, ev.rank = d.lastIntervention(now), rankDagStart
			}
			out = append(out, ev)
			d.events.status = code
		}
		d.events.upTo = now
		d.events.done = st != DAGRunning
	}
	slices.SortStableFunc(out, func(a, b simEvent) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.rank, b.rank))
	})
	return out
}

// operator is the account that triggers every run (the API's CreateUser).
const operator = createUser

func (d *dagRun) dagData(status int, tenant int64) *dagEventData {
	return &dagEventData{
		DagID: d.id, DagName: d.name, DagType: dagTypeManual, FlowID: d.flowID, FlowName: d.flow,
		ProjectID: d.projectID, ProjectEnv: d.env, BizDate: dateString(d.bizdate), CreateTime: dateString(d.createdAt),
		Operator: operator, TenantID: tenant, Status: status,
	}
}

// instanceData is node i as it was when it entered tr: atts ends with the
// run tr belongs to. A NOT_RUN instance reports no phase times yet.
func (d *dagRun) instanceData(i int, atts []attempt, tr nodeTransition, tenant int64) *instanceEventData {
	v := d.view(i, atts, tr.at)
	data := &instanceEventData{
		TaskID: v.InstanceID, NodeID: v.NodeID, DagID: d.id, DagType: dagTypeManual, FlowID: d.flowID,
		AppID: d.projectID, TenantID: tenant, Status: int(tr.status),
		CreateTime: epochMS(v.CreateTime), ModifyTime: epochMS(v.ModifyTime),
	}
	if tr.status != StatusNotRun {
		data.BeginWaitTimeTime, data.BeginWaitResTime = epochMS(v.BeginWait), epochMS(v.BeginWaitRes)
		data.BeginRunningTime, data.FinishTime = epochMS(v.BeginRunning), epochMS(v.Finish)
	}
	return data
}
