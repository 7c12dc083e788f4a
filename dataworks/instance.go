package dataworks

import (
	"time"

	"github.com/manualdag/manualdag/dag"
)

// NodeInstance is one node's run inside a triggered manual DAG, as either API
// version reports it. Times are zero when the service left them out (a node
// that has not finished has no FinishTime).
type NodeInstance struct {
	InstanceID int64
	DagID      int64
	NodeID     int64 // only the 2020-05-18 API reports it; 0 otherwise
	NodeName   string
	Status     dag.Status
	ParaValue  string
	// ErrorMessage is set by the 2020-05-18 API for failed nodes.
	ErrorMessage string
	// RunNumber is the 2024-05-18 run of the task instance (1, then one
	// more per rerun); 0 otherwise.
	RunNumber int

	Bizdate           time.Time
	CreateTime        time.Time
	ModifyTime        time.Time
	BeginWaitTimeTime time.Time
	BeginWaitResTime  time.Time
	BeginRunningTime  time.Time
	FinishTime        time.Time
}
