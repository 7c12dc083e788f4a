package dag

import (
	"fmt"
	"strings"
	"time"
)

// DagReport is the workflow's result, the details of its DagFailed and
// DagTimedOut errors, and the answer to the status query.
type DagReport struct {
	DagID       int64     `json:"dagId,omitempty"`
	ProjectName string    `json:"projectName"`
	FlowName    string    `json:"flowName"`
	Bizdate     string    `json:"bizdate"`
	Outcome     Outcome   `json:"outcome"`
	TriggeredAt time.Time `json:"triggeredAt,omitzero"`
	FinishedAt  time.Time `json:"finishedAt,omitzero"`
	// Polls counts the searches over every continued run.
	Polls int          `json:"polls"`
	Nodes []NodeReport `json:"nodes"`
	// FailedNodes, BlockedNodes (NOT_RUN while a node has failed) and
	// UnfinishedNodes (every other node not final) are node names.
	FailedNodes     []string       `json:"failedNodes,omitempty"`
	BlockedNodes    []string       `json:"blockedNodes,omitempty"`
	UnfinishedNodes []string       `json:"unfinishedNodes,omitempty"`
	CountsByStatus  map[string]int `json:"countsByStatus,omitempty"`
	Message         string         `json:"message"`
	// StoppedNodes are the unfinished nodes manualdag had DataWorks stop
	// (on cancel, or at the deadline with onDeadline "stop"); StopFailures
	// the ones it could not stop, or that were not final StopWait later,
	// each with the reason.
	StoppedNodes []string `json:"stoppedNodes,omitempty"`
	StopFailures []string `json:"stopFailures,omitempty"`
	// Operations are what was done to the DAG run from the workflow (stop,
	// rerun, extendDeadline), oldest first, the last 50.
	Operations []Operation `json:"operations,omitempty"`
	// Notes say what could not be done (the 2018-06-01 API has no stop,
	// rerun or log calls, a log that could not be fetched) and what to do
	// in DataWorks instead.
	Notes []string `json:"notes,omitempty"`
	// Truncated says what the report leaves out to stay within Temporal's
	// payload limit (error messages of some nodes, shown as "…"); counts
	// and node lists are complete.
	Truncated string `json:"truncated,omitempty"`
}

// Operation is one thing done to the DAG run from the workflow.
type Operation struct {
	At time.Time `json:"at"`
	// Op is "stop", "rerun" or "extendDeadline".
	Op     string   `json:"op"`
	Nodes  []string `json:"nodes,omitempty"`
	Detail string   `json:"detail,omitempty"`
}

// NodeReport is one node instance.
type NodeReport struct {
	ID           int64     `json:"id"`
	Name         string    `json:"name"`
	Status       Status    `json:"status"`
	BeginTime    time.Time `json:"beginTime,omitzero"`
	FinishTime   time.Time `json:"finishTime,omitzero"`
	Duration     Duration  `json:"duration,omitzero"`
	ErrorMessage string    `json:"errorMessage,omitempty"`
	// LogTail is the end of a failed node's run log, fetched when the
	// failure was first seen (2020-05-18 only; bounded by logTail).
	LogTail string `json:"logTail,omitempty"`
}

// SetNodes fills the node sections of the report from a snapshot.
func (r *DagReport) SetNodes(nodes []Node) {
	r.Nodes = make([]NodeReport, 0, len(nodes))
	r.FailedNodes, r.BlockedNodes, r.UnfinishedNodes = nil, nil, nil
	r.CountsByStatus = map[string]int{}
	r.Truncated = ""
	omitted := 0
	failed := false
	for _, n := range nodes {
		failed = failed || n.Status == StatusFailure
	}
	for _, n := range nodes {
		nr := NodeReport{ID: n.ID, Name: n.Name, Status: n.Status, ErrorMessage: n.ErrorMessage}
		if n.Begin > 0 {
			nr.BeginTime = time.Unix(n.Begin, 0).UTC()
		}
		if n.Finish > 0 {
			nr.FinishTime = time.Unix(n.Finish, 0).UTC()
			if n.Begin > 0 && n.Finish >= n.Begin {
				nr.Duration = Duration(time.Duration(n.Finish-n.Begin) * time.Second)
			}
		}
		if n.ErrorMessage == ErrorOmitted {
			omitted++
		}
		r.Nodes = append(r.Nodes, nr)
		r.CountsByStatus[string(n.Status)]++
		switch {
		case n.Status == StatusFailure:
			r.FailedNodes = append(r.FailedNodes, n.Label())
		case n.Status == StatusSuccess:
		case n.Status == StatusNotRun && failed:
			r.BlockedNodes = append(r.BlockedNodes, n.Label())
		default:
			r.UnfinishedNodes = append(r.UnfinishedNodes, n.Label())
		}
	}
	if omitted > 0 {
		r.Truncated = fmt.Sprintf("the error messages of %d nodes are left out (shown as %q) to keep the report within Temporal's payload limit: see them in DataWorks Operation Center", omitted, ErrorOmitted)
	}
	r.fit()
}

// reportBudget bounds the estimated size of a report's node sections, well
// inside Temporal's 2 MiB payload limit: the report is the workflow's
// result, its error's details and the status query's answer.
const reportBudget = 3 << 19 // 1.5 MiB

// fit keeps the report within reportBudget for very large DAGs: first the
// succeeded nodes leave the per-node table, then the table goes; the
// failed, blocked and unfinished lists and the counts always stay.
func (r *DagReport) fit() {
	if r.nodeBytes() <= reportBudget {
		return
	}
	kept := r.Nodes[:0:0]
	for _, n := range r.Nodes {
		if n.Status != StatusSuccess {
			kept = append(kept, n)
		}
	}
	dropped := len(r.Nodes) - len(kept)
	r.Nodes = kept
	what := fmt.Sprintf("the %d succeeded nodes are left out of the node table", dropped)
	if r.nodeBytes() > reportBudget {
		what = fmt.Sprintf("the node table (%d nodes) is left out", dropped+len(r.Nodes))
		r.Nodes = nil
	}
	r.Truncated = strings.TrimPrefix(r.Truncated+"; "+what+" to keep the report within Temporal's payload limit (the counts and the failed, blocked and unfinished lists are complete)", "; ")
}

// nodeBytes estimates the JSON size of the report's node sections: about
// 160 bytes of fields per node row, and each name again in its list.
func (r *DagReport) nodeBytes() int {
	n := 0
	for _, nr := range r.Nodes {
		n += 160 + len(nr.Name) + len(nr.ErrorMessage) + len(nr.LogTail)
	}
	for _, list := range [][]string{r.FailedNodes, r.BlockedNodes, r.UnfinishedNodes} {
		for _, name := range list {
			n += 3 + len(name)
		}
	}
	return n
}

// Summary is the report's one-line message, e.g.
// "DataWorks DAG 700019657457 (demo/daily, bizdate 2024-06-01) failed: 2 of 9 nodes failed (load_ods, dwd_merge), 3 blocked (a, b, c)".
func (r *DagReport) Summary(reason string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "DataWorks DAG %d (%s/%s, bizdate %s) ", r.DagID, r.ProjectName, r.FlowName, r.Bizdate)
	total := r.Total()
	switch r.Outcome {
	case OutcomeSucceeded:
		fmt.Fprintf(&b, "succeeded: %d of %d nodes succeeded", total, total)
		if !r.TriggeredAt.IsZero() && !r.FinishedAt.IsZero() {
			fmt.Fprintf(&b, " in %v", r.FinishedAt.Sub(r.TriggeredAt).Round(time.Second))
		}
		return b.String()
	case OutcomeFailed:
		b.WriteString("failed: ")
	case OutcomeTimedOut:
		b.WriteString("timed out: ")
	case OutcomeCanceled:
		if len(r.StoppedNodes) > 0 || len(r.StopFailures) > 0 {
			b.WriteString("canceled: ")
		} else {
			b.WriteString("watch canceled (the run goes on in DataWorks unless stopped there): ")
		}
	default:
		b.WriteString("running: ")
	}
	if total == 0 {
		b.WriteString("no node instances listed")
	} else {
		parts := []string{}
		if n := len(r.FailedNodes); n > 0 {
			parts = append(parts, fmt.Sprintf("%d of %d nodes failed (%s)", n, total, JoinNames(r.FailedNodes)))
		}
		if n := len(r.BlockedNodes); n > 0 {
			parts = append(parts, fmt.Sprintf("%d blocked (%s)", n, JoinNames(r.BlockedNodes)))
		}
		if n := len(r.UnfinishedNodes); n > 0 {
			parts = append(parts, fmt.Sprintf("%d of %d unfinished (%s)", n, total, JoinNames(r.UnfinishedNodes)))
		}
		if n := r.CountsByStatus[string(StatusSuccess)]; n > 0 || len(parts) == 0 {
			parts = append(parts, fmt.Sprintf("%d of %d succeeded", n, total))
		}
		b.WriteString(strings.Join(parts, ", "))
	}
	if reason != "" && r.Outcome != OutcomeFailed || total == 0 && reason != "" {
		b.WriteString("; ")
		b.WriteString(reason)
	}
	if n := len(r.StoppedNodes); n > 0 {
		fmt.Fprintf(&b, "; stopped in DataWorks: %s", JoinNames(r.StoppedNodes))
	}
	if n := len(r.StopFailures); n > 0 {
		fmt.Fprintf(&b, "; %d not stopped (see stopFailures)", n)
	}
	return b.String()
}

// Total is the number of nodes: the counts, which fit never trims.
func (r *DagReport) Total() int {
	n := 0
	for _, c := range r.CountsByStatus {
		n += c
	}
	return max(n, len(r.Nodes))
}

// JoinNames lists up to five names, and how many more there are.
func JoinNames(list []string) string {
	const show = 5
	if len(list) <= show {
		return strings.Join(list, ", ")
	}
	return strings.Join(list[:show], ", ") + fmt.Sprintf(" and %d more", len(list)-show)
}
