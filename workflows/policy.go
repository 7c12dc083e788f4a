package workflows

import (
	"hash/fnv"
	"math"
	"strconv"
	"time"
)

// Observation is what the poll loop knows when it picks the next wait.
type Observation struct {
	// Polls is the number of polls so far, over every continued run.
	Polls int
	// SinceTrigger is the time since the DAG run was triggered.
	SinceTrigger time.Duration
	// Changed reports whether the last poll saw any node change.
	Changed bool
	// Unchanged counts the polls in a row that saw no change.
	Unchanged int
	// Active is the number of nodes waiting, running or being checked;
	// Total the number of nodes listed.
	Active, Total int
	// Seed makes the jitter of one workflow differ from another's and stay
	// the same on replay (see JitterSeed).
	Seed uint64
}

// PollPolicy picks the wait before the next poll. Next must be a pure
// function of its argument: the workflow calls it, and replays call it again.
type PollPolicy interface {
	Next(obs Observation) time.Duration
}

// BackoffPolicy waits Initial after a poll that saw a change, and
// Multiplier times longer after each poll that saw none, up to Max. Each wait
// is spread by up to ±Jitter of itself, from a hash of the seed and the poll
// number, so that workflows started together drift apart and a replay
// computes the same waits. A Backoff never waits less than MinPollInterval.
type BackoffPolicy struct {
	Initial    time.Duration
	Max        time.Duration
	Multiplier float64
	Jitter     float64
}

var _ PollPolicy = BackoffPolicy{}

// Next implements PollPolicy.
func (p BackoffPolicy) Next(obs Observation) time.Duration {
	d := float64(p.Initial)
	if !obs.Changed && obs.Unchanged > 0 {
		d *= math.Pow(p.Multiplier, float64(obs.Unchanged))
	}
	d = math.Min(d, float64(p.Max))
	if p.Jitter > 0 {
		d *= 1 + p.Jitter*(2*unitFloat(obs.Seed, obs.Polls)-1)
	}
	return max(time.Duration(d), MinPollInterval)
}

// JitterSeed derives a policy seed from the workflow id, which survives
// continue-as-new and replay.
func JitterSeed(workflowID string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(workflowID))
	return h.Sum64()
}

// unitFloat is a deterministic number in [0,1) for (seed, n).
func unitFloat(seed uint64, n int) float64 {
	h := fnv.New64a()
	h.Write([]byte(strconv.FormatUint(seed, 16) + "/" + strconv.Itoa(n)))
	return float64(h.Sum64()>>11) / (1 << 53)
}
