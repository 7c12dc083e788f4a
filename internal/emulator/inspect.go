package emulator

import (
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"time"
)

// DAGInfo is what inspection tells about one created DAG: the truth a
// client's view can be checked against.
type DAGInfo struct {
	DagID      int64     `json:"dagId"`
	Project    string    `json:"project"`
	Flow       string    `json:"flow"`
	Bizdate    string    `json:"bizdate"` // yyyy-MM-dd
	APIVersion string    `json:"apiVersion"`
	Action     string    `json:"action"`
	CreatedAt  time.Time `json:"createdAt"`
	Status     DAGStatus `json:"status"`
	// FinishedAt is when the last node became final, which for a failed
	// DAG is also the moment the rest became blocked; zero while running.
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	// Blocked names the nodes that cannot run unless a failed upstream is
	// restarted.
	Blocked []string   `json:"blocked,omitempty"`
	Nodes   []NodeInfo `json:"nodes"`
	// For a 2024-05-18 workflow instance: the create's OperationId, its
	// Comment and Tags, and the ids it was created with.
	OperationID string            `json:"operationId,omitempty"`
	Comment     string            `json:"comment,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	ProjectID   int64             `json:"projectId,omitempty"`
	WorkflowID  int64             `json:"workflowId,omitempty"`
}

// NodeInfo is one node instance of a DAG, unaffected by the list windows.
type NodeInfo struct {
	InstanceID   int64     `json:"instanceId"`
	NodeID       int64     `json:"nodeId"`
	Name         string    `json:"name"`
	Status       Status    `json:"status"`
	Runs         int       `json:"runs"`
	ParaValue    string    `json:"paraValue,omitempty"`
	ErrorMessage string    `json:"errorMessage,omitempty"`
	FinishedAt   time.Time `json:"finishedAt,omitzero"`
}

// DAGs returns every DAG created, oldest first, as of now.
func (e *Emulator) DAGs() []DAGInfo {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]DAGInfo, len(e.dagOrder))
	for i, d := range e.dagOrder {
		out[i] = d.info(now)
	}
	return out
}

// DAG returns one DAG as of now.
func (e *Emulator) DAG(id int64) (DAGInfo, bool) {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	d, ok := e.dags[id]
	if !ok {
		return DAGInfo{}, false
	}
	return d.info(now), true
}

// CreatedDAGs returns the ids of the DAGs created for project, flow and
// bizdate (yyyy-MM-dd), oldest first: more than one means a duplicate run.
func (e *Emulator) CreatedDAGs(project, flow, bizdate string) []int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ids []int64
	for _, d := range e.dagOrder {
		if d.project == project && d.flow == flow && d.bizdate.Format(time.DateOnly) == bizdate {
			ids = append(ids, d.id)
		}
	}
	return ids
}

func (d *dagRun) info(now time.Time) DAGInfo {
	all := d.evaluate()
	status, finished, blocked := d.summary(all, now)
	info := DAGInfo{
		DagID: d.id, Project: d.project, Flow: d.flow, Bizdate: d.bizdate.Format(time.DateOnly),
		APIVersion: d.apiVersion, Action: d.action, CreatedAt: d.createdAt,
		Status: status, FinishedAt: finished, Blocked: blocked,
	}
	if w := d.wf; w != nil {
		info.OperationID, info.Comment, info.ProjectID, info.WorkflowID = w.operationID, w.comment, w.projectID, w.workflowID
		for _, t := range w.tags {
			if info.Tags == nil {
				info.Tags = map[string]string{}
			}
			info.Tags[t.Key] = t.Value
		}
	}
	for i := range d.nodes {
		v := d.view(i, all[i], now)
		info.Nodes = append(info.Nodes, NodeInfo{
			InstanceID: v.InstanceID, NodeID: v.NodeID, Name: v.NodeName, Status: v.Status,
			Runs: v.Attempts, ParaValue: v.ParaValue, ErrorMessage: v.ErrorMessage, FinishedAt: v.Finish,
		})
	}
	return info
}

// Stats returns the call counters, and the event counters when events
// are pushed.
func (e *Emulator) Stats() Stats {
	s := e.stats.snapshot()
	s.Quota = e.Quota()
	if es, ok := e.EventStats(); ok {
		s.Events = &es
	}
	return s
}

// ResetStats zeroes the call counters (not the quota).
func (e *Emulator) ResetStats() { e.stats.reset() }

// SetFaults replaces the faults of action (AllActions for the default),
// restarting their counts and the BusinessErrorFor window. Unlike the HTTP
// API and New it does not validate them: a negative count injects nothing.
func (e *Emulator) SetFaults(action string, f Faults) {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults[action] = f
	e.faultsSetAt[action] = now
}

// ClearFaults removes the faults of action.
func (e *Emulator) ClearFaults(action string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.faults, action)
	delete(e.faultsSetAt, action)
}

// Faults returns the faults in force, by action.
func (e *Emulator) Faults() map[string]Faults {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.faults)
}

// SetDailyQuota sets how many calls a day are answered; 0 removes the quota.
func (e *Emulator) SetDailyQuota(limit int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.quotaLimit = limit
}

// ResetQuota forgets the calls counted against today's quota.
func (e *Emulator) ResetQuota() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.quotaUsed = 0
}

// Quota returns the daily quota and today's use.
func (e *Emulator) Quota() QuotaStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return QuotaStats{Limit: e.quotaLimit, Used: e.quotaUsed}
}

func (e *Emulator) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/", e.serveRPC)
	mux.HandleFunc("GET /_emulator/stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, e.Stats())
	})
	mux.HandleFunc("GET /_emulator/dags", e.serveDAGs)
	mux.HandleFunc("GET /_emulator/events", func(w http.ResponseWriter, _ *http.Request) {
		s, ok := e.EventStats()
		if !ok {
			inspectError(w, http.StatusNotFound, errEventsOff.Error())
			return
		}
		writeJSON(w, http.StatusOK, s)
	})
	mux.HandleFunc("PUT /_emulator/events/faults", e.serveSetEventFaults)
	mux.HandleFunc("GET /_emulator/faults", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, e.Faults())
	})
	mux.HandleFunc("PUT /_emulator/faults/{action}", func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			inspectError(w, http.StatusBadRequest, "the body must be a Faults object: "+err.Error())
			return
		}
		e.SetFaults(r.PathValue("action"), f)
		writeJSON(w, http.StatusOK, e.Faults())
	})
	return mux
}

// serveDAGs lists DAGs, optionally filtered by ?project=&flow=&bizdate=.
func (e *Emulator) serveDAGs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	out := []DAGInfo{}
	for _, d := range e.DAGs() {
		if (q.Has("project") && d.Project != q.Get("project")) ||
			(q.Has("flow") && d.Flow != q.Get("flow")) ||
			(q.Has("bizdate") && d.Bizdate != q.Get("bizdate")) {
			continue
		}
		out = append(out, d)
	}
	writeJSON(w, http.StatusOK, out)
}

// serveSetEventFaults reads the compact form, e.g. "drop=0.3,dup=0.1".
func (e *Emulator) serveSetEventFaults(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		inspectError(w, http.StatusBadRequest, "read the body: "+err.Error())
		return
	}
	f, err := ParseEventFaults(string(b))
	if err == nil {
		err = e.SetEventFaults(f)
	}
	switch {
	case errors.Is(err, errEventsOff):
		inspectError(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		inspectError(w, http.StatusBadRequest, err.Error())
		return
	}
	s, _ := e.EventStats()
	writeJSON(w, http.StatusOK, s)
}

func inspectError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
