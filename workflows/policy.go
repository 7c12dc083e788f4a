package workflows

import (
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/manualdag/manualdag/dag"
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

	// Now is the workflow time of the choice, TriggeredAt when the DAG run
	// was triggered, and Nodes the last snapshot (read only): what
	// PredictivePolicy compares with the Profile. BackoffPolicy ignores them.
	Now, TriggeredAt time.Time
	Nodes            []dag.Node
	// Profile holds earlier runs of the same flow; nil when there are none.
	Profile *dag.Profile
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

// PredictivePolicy polls rarely while the flow's earlier runs say the DAG
// cannot end, and every MinWait where it likely will. From the Profile and
// the nodes' progress it predicts, for each earlier run k, when this run
// would end if its remaining nodes took as long as they did in run k
// (shifted by how late or early this run is so far), each prediction with a
// spread in proportion to the time it still has to cover. It then waits as
// long as the delay it risks stays small: the chance that the DAG ends
// within a wait, times the wait, must stay within DelayBudget. A long wait
// is only taken where an end is very unlikely.
//
// Without a profile, for a node the profile does not know, once the run has
// outlived every prediction, or with nothing left to run (Decide's grace
// periods then decide), Fallback picks the wait.
type PredictivePolicy struct {
	// MinWait is the shortest wait and MaxWait the longest: MaxWait bounds
	// how late a failure the profile cannot foresee is seen (plus Jitter).
	MinWait, MaxWait time.Duration
	// DelayBudget bounds the chance of the DAG ending within a wait times
	// the wait: the detection delay a wait may risk on average.
	DelayBudget time.Duration
	// Jitter spreads each wait by up to ±Jitter of itself (see BackoffPolicy).
	Jitter float64
	// Fallback picks the wait when the profile cannot.
	Fallback PollPolicy
}

var _ PollPolicy = PredictivePolicy{}

// minSpread is the least uncertainty of a predicted end: DataWorks reports
// times to the second, and runs of the same flow are never identical.
const minSpread = 15 * time.Second

// Next implements PollPolicy.
func (p PredictivePolicy) Next(obs Observation) time.Duration {
	ends, spreads, ok := predictEnds(obs)
	if !ok {
		return p.Fallback.Next(obs)
	}
	now := float64(obs.Now.Unix())
	alive := survival(ends, spreads, now)
	if alive < 1e-3 {
		// Later than every earlier run by far: nothing left to predict.
		return p.Fallback.Next(obs)
	}
	budget := p.DelayBudget.Seconds()
	risk := func(w float64) float64 { return (alive - survival(ends, spreads, now+w)) / alive * w }
	// The longest wait whose risk stays within the budget (risk grows
	// with the wait).
	lo, hi := p.MinWait.Seconds(), p.MaxWait.Seconds()
	if risk(hi) <= budget {
		lo = hi
	}
	for hi-lo >= 0.5 {
		mid := (lo + hi) / 2
		if risk(mid) <= budget {
			lo = mid
		} else {
			hi = mid
		}
	}
	wait := time.Duration(lo * float64(time.Second))
	if p.Jitter > 0 {
		wait = time.Duration(float64(wait) * (1 + p.Jitter*(2*unitFloat(obs.Seed, obs.Polls)-1)))
	}
	return max(min(wait, p.MaxWait), p.MinWait, MinPollInterval)
}

// predictEnds returns, for each earlier run in the profile, when this run
// would end (unix seconds) if its unfinished nodes behaved as they did then,
// and how uncertain that is (seconds); an earlier run that lacks a node still
// pending is left out. It fails when the profile cannot say: no profile, no
// nodes, a node no earlier run had, no earlier run with every pending node,
// or nothing left that can still run.
func predictEnds(obs Observation) (ends, spreads []float64, ok bool) {
	prof := obs.Profile
	if prof.Runs() == 0 || len(obs.Nodes) == 0 || !prof.WellFormed() {
		return nil, nil, false
	}
	index := make(map[string]int, len(prof.Names))
	for i, name := range prof.Names {
		index[name] = i
	}
	failed := false
	for _, n := range obs.Nodes {
		failed = failed || n.Status == dag.StatusFailure
	}
	cv := variation(prof)
	now := float64(obs.Now.Unix())
	trigger := obs.TriggeredAt.Unix()
	keys := dag.NodeKeys(obs.Nodes)
runs:
	for k := range prof.Finish {
		lag := runLag(obs.Nodes, keys, index, prof.Finish[k], trigger)
		end, spread, pending := math.Inf(-1), 0.0, 0
		for j, n := range obs.Nodes {
			if n.Status.Terminal() || failed && !n.Status.Active() {
				continue // done, or waits behind a failure (Decide's business)
			}
			i, ok := index[keys[j]]
			if !ok {
				return nil, nil, false // no earlier run had this node
			}
			if prof.Finish[k][i] < 0 {
				continue runs // this run lacks it: predict from the others
			}
			pending++
			// Not started: as late as the run is so far; the whole
			// remaining time is uncertain.
			f := float64(trigger+int64(prof.Finish[k][i])) + lag
			basis := f - now
			if n.Status == dag.StatusRunning || n.Status == dag.StatusChecking {
				if b := prof.Begin[k][i]; n.Begin > 0 && b >= 0 {
					// Running: as long as it ran then; its run time is
					// what is uncertain.
					d := float64(prof.Finish[k][i] - b)
					f, basis = float64(n.Begin)+d, d
				}
			}
			if f > end {
				end, spread = f, basis
			}
		}
		if pending == 0 {
			return nil, nil, false
		}
		ends = append(ends, end)
		spreads = append(spreads, max(cv*spread, minSpread.Seconds()))
	}
	return ends, spreads, len(ends) > 0
}

// variation is the typical relative spread of a node's run time from one
// run to the next (the median over nodes of their coefficient of variation),
// at least 5%; 10% until three runs show it.
func variation(p *dag.Profile) float64 {
	if p.Runs() < 3 {
		return 0.10
	}
	var cvs []float64
	for i := range p.Names {
		var ds []float64
		for k := range p.Finish {
			if b, f := p.Begin[k][i], p.Finish[k][i]; b >= 0 && f > b {
				ds = append(ds, float64(f-b))
			}
		}
		if len(ds) < 3 {
			continue
		}
		mean := 0.0
		for _, d := range ds {
			mean += d
		}
		mean /= float64(len(ds))
		if mean >= 60 { // shorter run times vary by whole seconds
			cvs = append(cvs, stddev(ds)/mean)
		}
	}
	if len(cvs) == 0 {
		return 0.10
	}
	return max(quantile(cvs, 0.5), 0.05)
}

// runLag is how much later this run's finished nodes finished than they did
// in an earlier run (the median over nodes, seconds; 0 when none finished).
func runLag(nodes []dag.Node, keys []string, index map[string]int, finish []int32, trigger int64) float64 {
	var lags []float64
	for j, n := range nodes {
		if n.Finish == 0 || !n.Status.Terminal() {
			continue
		}
		if i, ok := index[keys[j]]; ok && finish[i] >= 0 {
			lags = append(lags, float64(n.Finish-trigger-int64(finish[i])))
		}
	}
	if len(lags) == 0 {
		return 0
	}
	return quantile(lags, 0.5)
}

// survival is the chance that the end comes after t, each predicted end
// smoothed by a normal kernel of its spread.
func survival(ends, spreads []float64, t float64) float64 {
	s := 0.0
	for i, e := range ends {
		s += 0.5 * math.Erfc((t-e)/(spreads[i]*math.Sqrt2))
	}
	return s / float64(len(ends))
}

func quantile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1)+0.5)]
}

func stddev(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	mean := 0.0
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	v := 0.0
	for _, x := range xs {
		v += (x - mean) * (x - mean)
	}
	return math.Sqrt(v / float64(len(xs)-1))
}
