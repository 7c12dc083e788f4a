package emulator

import (
	"time"
)

// A dagRun is one triggered manual DAG. What the API shows is derived from
// its immutable plan plus the recorded interventions (stops, restarts):
// evaluate computes every node's whole trajectory, and a view picks the
// state at a moment. There are no goroutines or timers, so the injected
// clock alone decides what a caller sees, and tests need no sleeps.
type dagRun struct {
	id         int64
	project    string
	flow       string
	apiVersion string
	action     string
	bizdate    time.Time // midnight, China time
	createdAt  time.Time
	dagParams  string
	stopDelay  time.Duration // scaled
	nodes      []*nodeRun    // upstreams before downstreams

	// What the pushed events report besides the above.
	projectID int64
	flowID    int64
	env       string // PROD or DEV
	name      string

	// events is what the event scan has pushed so far (guarded by
	// Emulator.mu, like the rest).
	events dagEvents

	// wf is set for a 2024-05-18 workflow instance.
	wf *workflowRun
}

// workflowRun is what a 2024-05-18 CreateWorkflowInstances adds to a DAG
// run: the create is asynchronous, and the instance exists for the API
// (ListWorkflowInstances, GetCreateWorkflowInstancesResult, its task
// instances) only from readyAt on.
type workflowRun struct {
	operationID string
	projectID   int64
	workflowID  int64
	name        string
	envType     string
	comment     string
	tags        []tag
	params      string // WorkflowParameters as sent
	readyAt     time.Time
}

type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// nodeRun is one node instance of a dagRun. Durations are already scaled
// to clock time.
type nodeRun struct {
	nodeID       int64
	name         string
	instanceID   int64
	createdAt    time.Time
	params       string
	upstream     []int // indexes into dagRun.nodes
	dryRun       bool  // excluded from the run: succeeds at once when ready
	failAttempts int   // runs that fail before one succeeds, fixed at create time
	errorMessage string
	taskType     string
	condition    bool
	waitTime     time.Duration
	waitResource time.Duration
	running      time.Duration
	checking     time.Duration

	interventions []intervention // in time order: they are appended at "now"
}

type interventionKind int

const (
	stopIntervention interventionKind = iota + 1
	restartIntervention
)

type intervention struct {
	kind interventionKind
	at   time.Time
}

// attempt is one run of a node instance. A zero start means the run waits
// for upstreams that will never all succeed; a zero finalAt means it never
// ends (it is blocked).
type attempt struct {
	start, waitResAt, runAt, checkAt, finalAt time.Time
	final                                     Status
	errorMessage                              string
	stoppedAt                                 time.Time
	restartedAt                               time.Time
}

const stoppedMessage = "the instance was stopped by the user"

func (n *nodeRun) attempt(index int, start time.Time) attempt {
	a := attempt{start: start}
	if start.IsZero() {
		return a
	}
	if n.dryRun {
		a.waitResAt, a.runAt, a.finalAt, a.final = start, start, start, StatusSuccess
		return a
	}
	a.waitResAt = start.Add(n.waitTime)
	a.runAt = a.waitResAt.Add(n.waitResource)
	end := a.runAt.Add(n.running)
	if index < n.failAttempts {
		a.finalAt, a.final, a.errorMessage = end, StatusFailure, n.errorMessage
		return a
	}
	a.checkAt = end
	a.finalAt, a.final = end.Add(n.checking), StatusSuccess
	return a
}

// stop ends the attempt in FAILURE delay after t, unless it ends on its own
// before that; phases not begun by t never begin.
func (a *attempt) stop(t time.Time, delay time.Duration) {
	if !a.stoppedAt.IsZero() || (!a.finalAt.IsZero() && !a.finalAt.After(t)) {
		return
	}
	a.stoppedAt = t
	for _, p := range []*time.Time{&a.start, &a.waitResAt, &a.runAt, &a.checkAt} {
		if p.After(t) {
			*p = time.Time{}
		}
	}
	end := t.Add(delay)
	if a.finalAt.IsZero() || a.finalAt.After(end) {
		a.finalAt, a.final, a.errorMessage = end, StatusFailure, stoppedMessage
	}
}

func reached(at, t time.Time) bool { return !at.IsZero() && !t.Before(at) }

func (a *attempt) statusAt(t time.Time, condition bool) Status {
	switch {
	case reached(a.finalAt, t):
		return a.final
	case !reached(a.start, t):
		return StatusNotRun
	case reached(a.checkAt, t):
		if condition {
			return StatusCheckingCondition
		}
		return StatusChecking
	case reached(a.runAt, t):
		return StatusRunning
	case reached(a.waitResAt, t):
		return StatusWaitResource
	}
	return StatusWaitTime
}

// blocked reports an attempt that can never start nor end.
func (a *attempt) blocked() bool { return a.start.IsZero() && a.finalAt.IsZero() }

// trajectory folds the interventions into the node's runs, given the moment
// its upstreams are all successful (zero: never).
func (n *nodeRun) trajectory(ready time.Time, stopDelay time.Duration) []attempt {
	atts := []attempt{n.attempt(0, ready)}
	for _, iv := range n.interventions {
		switch iv.kind {
		case stopIntervention:
			atts[len(atts)-1].stop(iv.at, stopDelay)
		case restartIntervention:
			var start time.Time
			if !ready.IsZero() {
				start = later(iv.at, ready)
			}
			a := n.attempt(len(atts), start)
			a.restartedAt = iv.at
			atts = append(atts, a)
		}
	}
	return atts
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// evaluate returns every node's attempts. A node becomes ready when each
// upstream has first succeeded; a later rerun of an upstream does not
// rerun it, as in DataWorks.
func (d *dagRun) evaluate() [][]attempt {
	out := make([][]attempt, len(d.nodes))
	firstSuccess := make([]time.Time, len(d.nodes))
	for i, n := range d.nodes {
		ready := n.createdAt
		for _, u := range n.upstream {
			if firstSuccess[u].IsZero() {
				ready = time.Time{}
				break
			}
			ready = later(ready, firstSuccess[u])
		}
		out[i] = n.trajectory(ready, d.stopDelay)
		for _, a := range out[i] {
			if a.final == StatusSuccess && !a.finalAt.IsZero() {
				firstSuccess[i] = a.finalAt
				break
			}
		}
	}
	return out
}

// instanceView is a node instance as seen at one moment; zero times are
// "no value" and are left out on the wire.
type instanceView struct {
	InstanceID   int64
	HistoryID    int64
	DagID        int64
	NodeID       int64
	NodeName     string
	Status       Status
	ParaValue    string
	TaskType     string
	ErrorMessage string
	Attempts     int
	Bizdate      time.Time
	CreateTime   time.Time
	ModifyTime   time.Time
	BeginWait    time.Time
	BeginWaitRes time.Time
	BeginRunning time.Time
	Finish       time.Time
}

func (d *dagRun) view(i int, atts []attempt, now time.Time) instanceView {
	n := d.nodes[i]
	a := atts[len(atts)-1]
	v := instanceView{
		InstanceID: n.instanceID,
		HistoryID:  historyID(n.instanceID, len(atts)-1),
		DagID:      d.id,
		NodeID:     n.nodeID,
		NodeName:   n.name,
		Status:     a.statusAt(now, n.condition),
		ParaValue:  n.params,
		TaskType:   n.taskType,
		Attempts:   len(atts),
		Bizdate:    d.bizdate,
		CreateTime: n.createdAt,
		ModifyTime: n.createdAt,
	}
	seen := func(t time.Time) time.Time {
		if !reached(t, now) {
			return time.Time{}
		}
		v.ModifyTime = later(v.ModifyTime, t)
		return t
	}
	seen(a.restartedAt)
	seen(a.stoppedAt)
	v.BeginWait = seen(a.start)
	v.BeginWaitRes = seen(a.waitResAt)
	v.BeginRunning = seen(a.runAt)
	seen(a.checkAt)
	v.Finish = seen(a.finalAt)
	if v.Status == StatusFailure {
		v.ErrorMessage = a.errorMessage
	}
	return v
}

// historyID gives every run of an instance its own id, derived so that it
// needs no state.
func historyID(instanceID int64, attempt int) int64 { return instanceID*100 + int64(attempt) + 1 }

// DAGStatus is a DAG's overall state in inspection answers.
type DAGStatus string

// DAG states.
const (
	DAGRunning DAGStatus = "RUNNING"
	DAGSuccess DAGStatus = "SUCCESS"
	// DAGFailure: some node failed; the others are final or blocked.
	DAGFailure DAGStatus = "FAILURE"
)

// summary says whether the DAG is over at now: every node final, or the
// rest blocked behind a failure. finishedAt is then the moment the last
// node became final, which is also the moment the DAG became blocked.
func (d *dagRun) summary(all [][]attempt, now time.Time) (status DAGStatus, finishedAt time.Time, blocked []string) {
	running, failed := false, false
	for i, atts := range all {
		a := atts[len(atts)-1]
		st := a.statusAt(now, false)
		switch {
		case st.Final():
			finishedAt = later(finishedAt, a.finalAt)
			failed = failed || st == StatusFailure
		case a.blocked():
			blocked = append(blocked, d.nodes[i].name)
		default:
			running = true
		}
	}
	switch {
	case running:
		return DAGRunning, time.Time{}, blocked
	case failed || len(blocked) > 0:
		return DAGFailure, finishedAt, blocked
	}
	return DAGSuccess, finishedAt, blocked
}
