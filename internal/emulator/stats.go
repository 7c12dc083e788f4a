package emulator

import (
	"maps"
	"sync"
	"time"
)

// Outcomes recorded in Stats besides error codes.
const (
	OutcomeOK      = "ok"
	OutcomeDropped = "dropped"
	// OutcomeEmpty is a search answered by the EmptyReplies fault.
	OutcomeEmpty = "empty"
	// OutcomeCreateFailure is a GetCreateWorkflowInstancesResult that
	// answered Status CreateFailure (the CreateFailures fault).
	OutcomeCreateFailure = "CreateFailure"
)

// Stats counts the calls the emulator answered since it started or since
// ResetStats.
type Stats struct {
	Total int `json:"total"`
	// Calls is keyed by action ("CreateManualDag"; "-" when the request had
	// none). Versions are not told apart.
	Calls map[string]ActionStats `json:"calls"`
	// PerSecond holds one bucket per clock second that saw calls, oldest
	// first, for the last hour.
	PerSecond []SecondBucket `json:"perSecond"`
	// PeakPerSecond is the most calls any one second saw.
	PeakPerSecond int        `json:"peakPerSecond"`
	Quota         QuotaStats `json:"quota"`
	// Events counts the pushed events; nil when events are off.
	Events *EventStats `json:"events,omitempty"`
}

// ActionStats counts one action's calls by outcome: "ok", "dropped" or the
// error code answered (a Code, or a 2018 ReturnCode/ErrCode such as
// "600011").
type ActionStats struct {
	Total    int            `json:"total"`
	Outcomes map[string]int `json:"outcomes"`
}

// SecondBucket counts the calls of one clock second.
type SecondBucket struct {
	Second  time.Time      `json:"second"`
	Calls   int            `json:"calls"`
	Actions map[string]int `json:"actions"`
}

// QuotaStats is the daily quota: Limit 0 means none.
type QuotaStats struct {
	Limit int `json:"limit"`
	Used  int `json:"used"`
}

const keptSeconds = 3600

type recorder struct {
	mu      sync.Mutex
	total   int
	peak    int
	actions map[string]ActionStats
	buckets []SecondBucket
}

func newRecorder() *recorder { return &recorder{actions: map[string]ActionStats{}} }

func (r *recorder) record(now time.Time, action, outcome string) {
	if action == "" {
		action = "-"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total++
	a := r.actions[action]
	if a.Outcomes == nil {
		a.Outcomes = map[string]int{}
	}
	a.Total++
	a.Outcomes[outcome]++
	r.actions[action] = a

	sec := now.UTC().Truncate(time.Second)
	if n := len(r.buckets); n == 0 || !r.buckets[n-1].Second.Equal(sec) {
		r.buckets = append(r.buckets, SecondBucket{Second: sec, Actions: map[string]int{}})
	}
	b := &r.buckets[len(r.buckets)-1]
	b.Calls++
	b.Actions[action]++
	r.peak = max(r.peak, b.Calls)
	cutoff := sec.Add(-keptSeconds * time.Second)
	i := 0
	for i < len(r.buckets) && r.buckets[i].Second.Before(cutoff) {
		i++
	}
	r.buckets = r.buckets[i:]
}

func (r *recorder) snapshot() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Stats{Total: r.total, PeakPerSecond: r.peak, Calls: make(map[string]ActionStats, len(r.actions))}
	for k, a := range r.actions {
		s.Calls[k] = ActionStats{Total: a.Total, Outcomes: maps.Clone(a.Outcomes)}
	}
	s.PerSecond = make([]SecondBucket, len(r.buckets))
	for i, b := range r.buckets {
		s.PerSecond[i] = SecondBucket{Second: b.Second, Calls: b.Calls, Actions: maps.Clone(b.Actions)}
	}
	return s
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total, r.peak = 0, 0
	r.actions = map[string]ActionStats{}
	r.buckets = nil
}
