package dag

import (
	"math"
	"strconv"
	"time"
)

// RunTimings is one successful run's node timings: the seconds from the
// trigger to each node's start (Begin) and finish (Finish), -1 when unknown.
// Names are the nodes' names, a repeated name suffixed with #2, #3… in
// instance id order (the 2018-06-01 API has no node id to match runs by).
//
// Events and EventMiss say how DataWorks' pushed events (OpenEvent, see
// SignalEvent) served the run: how many events about its DAG it received,
// and how many DAG events it missed (the DAG started or ended, and its
// event had not come). Both are 0 (absent) for a run that received no event,
// such as one from before events existed: that run says nothing either way.
type RunTimings struct {
	Names     []string `json:"names"`
	Begin     []int32  `json:"begin"`
	Finish    []int32  `json:"finish"`
	Events    int32    `json:"events,omitempty"`
	EventMiss int32    `json:"eventMiss,omitempty"`
}

// MaxTimingRuns bounds how many runs FlowTimings returns, and so how many a
// workflow's profile holds (and the size it adds to the history): a week of
// a daily flow.
const MaxTimingRuns = 7

// Profile holds the node timings of earlier successful runs of the same flow,
// the most recent first: Begin[k][i] and Finish[k][i] are the seconds from
// run k's trigger to node Names[i] starting and finishing, -1 when unknown.
// The FlowTimings activity reads it from the memos of those runs (see
// RunTimings), so that the workflow sees it deterministically.
//
// EventMiss[k] is how many DAG events run k missed, -1 when it received no
// event; nil when no run received any.
type Profile struct {
	Names     []string  `json:"names"`
	Begin     [][]int32 `json:"begin"`
	Finish    [][]int32 `json:"finish"`
	EventMiss []int32   `json:"eventMiss,omitempty"`
}

// Runs is the number of earlier runs in the profile.
func (p *Profile) Runs() int {
	if p == nil {
		return 0
	}
	return len(p.Finish)
}

// MinNodes is the fewest nodes any earlier run in the profile had (0 for
// none): a run listing fewer may be seeing a partial list (workflows.Decide).
func (p *Profile) MinNodes() int {
	if p == nil || !p.WellFormed() {
		return 0
	}
	least := 0
	for k := range p.Finish {
		n := 0
		for i := range p.Names {
			if p.Finish[k][i] != -1 || p.Begin[k][i] != -1 {
				n++
			}
		}
		if k == 0 || n < least {
			least = n
		}
	}
	return least
}

// EventMissed reports whether an earlier run in the profile missed a DAG
// event: then events are not trusted to lead a run of the flow
// (workflows.EventSafetyNet).
func (p *Profile) EventMissed() bool {
	if p == nil {
		return false
	}
	for _, m := range p.EventMiss {
		if m > 0 {
			return true
		}
	}
	return false
}

// EventRuns is how many earlier runs in the profile received DataWorks
// events (missed or not); the flow's events are trusted to lead a run only
// after enough of them (workflows.EventTrustRuns).
func (p *Profile) EventRuns() int {
	if p == nil {
		return 0
	}
	n := 0
	for _, m := range p.EventMiss {
		if m >= 0 {
			n++
		}
	}
	return n
}

// WellFormed reports whether every row has a column per name (a profile
// handed over by hand in Continued might not).
func (p *Profile) WellFormed() bool {
	if len(p.Begin) != len(p.Finish) {
		return false
	}
	for k := range p.Finish {
		if len(p.Begin[k]) != len(p.Names) || len(p.Finish[k]) != len(p.Names) {
			return false
		}
	}
	return true
}

// NodeKeys names each node as profiles do: its name, a repeated name
// suffixed with #2, #3… in the order given (instance id order).
func NodeKeys(nodes []Node) []string {
	keys := make([]string, len(nodes))
	seen := make(map[string]int, len(nodes))
	for i, n := range nodes {
		seen[n.Name]++
		keys[i] = n.Name
		if c := seen[n.Name]; c > 1 {
			keys[i] = n.Name + "#" + strconv.Itoa(c)
		}
	}
	return keys
}

// TimingsOf records a finished run's node timings for later runs to learn
// from (see Profile): seconds after triggeredAt, 0 for a time before it, -1
// for none.
func TimingsOf(nodes []Node, triggeredAt time.Time) RunTimings {
	t := RunTimings{
		Names:  NodeKeys(nodes),
		Begin:  make([]int32, len(nodes)),
		Finish: make([]int32, len(nodes)),
	}
	offset := func(unix int64) int32 {
		if unix == 0 {
			return -1
		}
		// The workflow learns of the trigger when the create's reply is
		// processed, a little after DataWorks started the run: a time
		// before it is at the trigger.
		return int32(min(max(unix-triggeredAt.Unix(), 0), math.MaxInt32))
	}
	for i, n := range nodes {
		t.Begin[i], t.Finish[i] = offset(n.Begin), offset(n.Finish)
	}
	return t
}

// ProfileOf aligns earlier runs' timings (the most recent first) by node
// name; a node some runs lack is -1 in those. At most MaxTimingRuns are
// kept, and none that are malformed.
func ProfileOf(runs []RunTimings) *Profile {
	p := &Profile{}
	index := map[string]int{}
	for _, r := range runs {
		if len(p.Finish) == MaxTimingRuns {
			break
		}
		if len(r.Begin) != len(r.Names) || len(r.Finish) != len(r.Names) || len(r.Names) == 0 {
			continue
		}
		for _, name := range r.Names {
			if _, ok := index[name]; !ok {
				index[name] = len(p.Names)
				p.Names = append(p.Names, name)
			}
		}
		p.Begin = append(p.Begin, nil)
		p.Finish = append(p.Finish, nil)
	}
	k := 0
	for _, r := range runs {
		if k == len(p.Finish) {
			break
		}
		if len(r.Begin) != len(r.Names) || len(r.Finish) != len(r.Names) || len(r.Names) == 0 {
			continue
		}
		if r.Events > 0 && p.EventMiss == nil {
			p.EventMiss = make([]int32, len(p.Finish))
			for i := range k {
				p.EventMiss[i] = -1
			}
		}
		if p.EventMiss != nil {
			p.EventMiss[k] = -1
			if r.Events > 0 {
				p.EventMiss[k] = r.EventMiss
			}
		}
		b, f := make([]int32, len(p.Names)), make([]int32, len(p.Names))
		for i := range b {
			b[i], f[i] = -1, -1
		}
		for j, name := range r.Names {
			b[index[name]], f[index[name]] = r.Begin[j], r.Finish[j]
		}
		p.Begin[k], p.Finish[k] = b, f
		k++
	}
	if len(p.Finish) == 0 {
		return nil
	}
	return p
}
