package emulator

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// createSpec is a validated CreateManualDag / RunManualDagNodes request.
type createSpec struct {
	project    string
	flow       string
	bizdate    time.Time
	dagParams  string
	nodeParams map[int64]string
	include    map[int64]bool // nil: every node runs
	exclude    map[int64]bool
	version    string
	action     string
	// env is the project environment the run was created in, PROD or DEV
	// (2018-06-01 has none: PROD); name is the 2024-05-18 instance Name
	// (default the flow's name). Only the pushed events report them.
	env  string
	name string
}

// createDAG records a new DAG run. Flaky outcomes are drawn here, in node
// order, so a seed fixes them for the whole sequence of creates.
func (e *Emulator) createDAG(s createSpec, now time.Time) (*dagRun, *apiError) {
	flow, projectID, err := e.def.flow(s.project, s.flow)
	switch {
	case errors.Is(err, errProjectNotFound):
		return nil, newAPIError(http.StatusBadRequest, CodeProjectNotExist,
			fmt.Sprintf("The project %q does not exist; check ProjectName.", s.project))
	case errors.Is(err, errFlowNotFound):
		return nil, newAPIError(http.StatusBadRequest, CodeFlowNotExist,
			fmt.Sprintf("The manual flow %q does not exist in project %q; check FlowName.", s.flow, s.project))
	}
	order, err := flow.topoOrder()
	if err != nil { // Validate already refused cycles
		return nil, newAPIError(http.StatusInternalServerError, CodeInternalError, err.Error())
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	d := &dagRun{
		id:         e.nextDagID,
		project:    s.project,
		flow:       s.flow,
		apiVersion: s.version,
		action:     s.action,
		bizdate:    s.bizdate,
		createdAt:  now,
		dagParams:  s.dagParams,
		stopDelay:  e.stopDelay,
		projectID:  projectID,
		flowID:     e.def.flowID(s.project, s.flow),
		env:        s.env,
		name:       s.name,
	}
	if d.env == "" {
		d.env = envProd
	}
	if d.name == "" {
		d.name = s.flow
	}
	e.nextDagID++
	pos := make(map[int64]int, len(order))
	for k, idx := range order {
		node := flow.Nodes[idx].on(s.bizdate)
		nd := &node
		n := &nodeRun{
			nodeID:       nd.ID,
			name:         nd.Name,
			instanceID:   e.nextInstanceID,
			createdAt:    now.Add(time.Duration(k) * time.Millisecond),
			params:       joinParams(s.dagParams, s.nodeParams[nd.ID]),
			dryRun:       (s.include != nil && !s.include[nd.ID]) || s.exclude[nd.ID],
			errorMessage: nd.ErrorMessage,
			taskType:     nd.TaskType,
			condition:    nd.Condition,
			waitTime:     e.scaled(pick(nd.WaitTime, flow.WaitTime, defaultWaitTime)),
			waitResource: e.scaled(pick(nd.WaitResource, flow.WaitResource, defaultWaitResource)),
			running:      e.scaled(pick(nd.Duration, nil, defaultRunning)),
			checking:     e.scaled(pick(nd.Checking, flow.Checking, defaultChecking)),
		}
		e.nextInstanceID++
		if n.errorMessage == "" {
			n.errorMessage = defaultErrorMessage
		}
		if n.taskType == "" {
			n.taskType = defaultTaskType
		}
		switch nd.Outcome {
		case OutcomeFailure:
			n.failAttempts = 1
			if nd.FailAttempts != nil {
				n.failAttempts = *nd.FailAttempts
			}
		case OutcomeFlaky:
			if e.sim.Float64() < nd.Probability {
				n.failAttempts = 1
			}
		}
		for _, u := range nd.Upstream {
			n.upstream = append(n.upstream, pos[u])
		}
		pos[nd.ID] = len(d.nodes)
		d.nodes = append(d.nodes, n)
		e.instances[n.instanceID] = instanceRef{dag: d, index: len(d.nodes) - 1}
	}
	e.dags[d.id] = d
	e.dagOrder = append(e.dagOrder, d)
	return d, nil
}

func joinParams(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

// listInstances returns the node instances of DAG id visible at now: none
// during the empty window, the first half during the partial window.
func (e *Emulator) listInstances(id int64, project string, now time.Time) ([]instanceView, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, ok := e.dags[id]
	if !ok || (project != "" && d.project != project) {
		return nil, false
	}
	n := len(d.nodes)
	switch age := now.Sub(d.createdAt); {
	case age < e.emptyFor:
		n = 0
	case age < e.emptyFor+e.partFor:
		n = (n + 1) / 2
	}
	all := d.evaluate()
	views := make([]instanceView, n)
	for i := range views {
		views[i] = d.view(i, all[i], now)
	}
	return views, true
}

func errNoInstance(id int64) *apiError {
	return newAPIError(http.StatusBadRequest, CodeInstanceNotExist,
		fmt.Sprintf("The instance %d does not exist; check InstanceId.", id))
}

// stopInstance asks a run to stop. Stopping is asynchronous: the instance
// reaches FAILURE StopDelay later. A final instance is left alone and the
// call succeeds, as on the real service.
func (e *Emulator) stopInstance(id int64, now time.Time) *apiError {
	e.mu.Lock()
	defer e.mu.Unlock()
	ref, ok := e.instances[id]
	if !ok {
		return errNoInstance(id)
	}
	atts := ref.dag.evaluate()[ref.index]
	if atts[len(atts)-1].statusAt(now, false).Final() {
		return nil
	}
	n := ref.dag.nodes[ref.index]
	n.interventions = append(n.interventions, intervention{stopIntervention, now})
	ref.dag.events.done = false
	return nil
}

// restartInstance reruns a final instance; its downstream nodes that were
// waiting run once it succeeds.
func (e *Emulator) restartInstance(id int64, now time.Time) *apiError {
	e.mu.Lock()
	defer e.mu.Unlock()
	ref, ok := e.instances[id]
	if !ok {
		return errNoInstance(id)
	}
	atts := ref.dag.evaluate()[ref.index]
	if st := atts[len(atts)-1].statusAt(now, false); !st.Final() {
		return newAPIError(http.StatusBadRequest, CodeInstanceStatus,
			fmt.Sprintf("The instance %d is %s; only a FAILURE or SUCCESS instance can be rerun.", id, st))
	}
	n := ref.dag.nodes[ref.index]
	n.interventions = append(n.interventions, intervention{restartIntervention, now})
	ref.dag.events.done = false
	return nil
}

// maxLogLines bounds a log: the real service returns at most a few MB.
const maxLogLines = 20

// instanceLog renders a short log of one run (historyID 0: the latest).
func (e *Emulator) instanceLog(id, historyID int64, now time.Time) (string, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ref, ok := e.instances[id]
	if !ok {
		return "", errNoInstance(id)
	}
	d, n := ref.dag, ref.dag.nodes[ref.index]
	atts := d.evaluate()[ref.index]
	k := len(atts) - 1
	if historyID != 0 {
		k = int(historyID - historyID0(id))
		if k < 0 || k >= len(atts) {
			return "", newAPIError(http.StatusBadRequest, CodeInvalidParameter,
				fmt.Sprintf("The instance history %d does not belong to instance %d.", historyID, id))
		}
	}
	a := atts[k]
	st := a.statusAt(now, n.condition)
	var lines []string
	add := func(t time.Time, level, msg string) {
		if reached(t, now) && len(lines) < maxLogLines {
			lines = append(lines, t.In(chinaTime).Format(time.DateTime)+" "+level+" "+msg)
		}
	}
	head := n.createdAt
	if !a.restartedAt.IsZero() {
		head = a.restartedAt
	}
	add(head, "INFO", fmt.Sprintf("node %s (node id %d, instance %d, run %d of DAG %d), bizdate %s",
		n.name, n.nodeID, n.instanceID, k+1, d.id, d.bizdate.Format(time.DateOnly)))
	if n.params != "" {
		add(head, "INFO", "parameters: "+n.params)
	}
	add(a.start, "INFO", "waiting for the scheduled time")
	add(a.waitResAt, "INFO", "submitted, waiting for resources")
	add(a.runAt, "INFO", "running "+n.taskType+" task")
	add(a.stoppedAt, "WARN", "stop requested")
	add(a.checkAt, "INFO", "task finished, checking")
	switch st {
	case StatusFailure:
		add(a.finalAt, "ERROR", a.errorMessage)
		add(a.finalAt, "INFO", "status: FAILURE")
	case StatusSuccess:
		add(a.finalAt, "INFO", "status: SUCCESS")
	default:
		lines = append(lines, "status: "+st.String())
	}
	return strings.Join(lines, "\n") + "\n", nil
}

func historyID0(instanceID int64) int64 { return historyID(instanceID, 0) }
