package workflows

import (
	"cmp"
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

// PredictivePolicy aims each run's end-detection delay at a goal: the DAG's
// end is to be seen within Prompt in all but Miss of runs. From the Profile
// and the nodes' progress it predicts when this run will end, as a mixture
// of predictions, one or two for each earlier run k (runModel): the
// remaining nodes take as long as they did in run k, shifted by how late
// this run is so far, or scaled by how fast it goes, each with a spread in
// proportion to the time it still has to cover. It finds the region where
// the end is most likely, leaving out at most Miss of the chance before its
// last moment (likelyRegion): inside it, it looks every Prompt (within the
// delay goal, so an end there is seen in time); before it and in its gaps,
// it waits until it resumes, and the failure watch looks in between
// (workflows.run.nextWait); past it, it polls every Prompt. The p95 goal is
// met by construction for runs like the profile; the mean is not what it
// minimises.
//
// Without a profile, for a node the profile does not know, once the run has
// outlived every prediction, or with nothing left to run (Decide's grace
// periods then decide), Fallback picks the wait: Prompt polling, which meets
// the goal for any end whatever.
type PredictivePolicy struct {
	// Prompt is the wait where the end is likely: the delay goal less a
	// margin for jitter and a search's own time.
	Prompt time.Duration
	// MaxWait bounds every wait, so that the prediction is refreshed with
	// the nodes' progress at least that often.
	MaxWait time.Duration
	// Miss is the chance of the end falling outside the region polled
	// every Prompt, where the failure watch sees it later.
	Miss float64
	// Jitter shortens each wait by up to Jitter of itself (never
	// lengthens: Prompt bounds the delay), so that runs started together
	// drift apart.
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
	m, ok := predictEnds(obs)
	if !ok {
		return p.Fallback.Next(obs)
	}
	now := float64(obs.Now.Unix())
	if m.survival(now) < 1e-3 {
		// Later than every earlier run by far: nothing left to predict.
		return p.Fallback.Next(obs)
	}
	start, ok := m.likelyRegion(p.Miss).next(now)
	if !ok {
		// Past the likely region: later than the profile says, so an end
		// may come at any moment.
		return p.Fallback.Next(obs)
	}
	wait := p.Prompt
	if start > now+p.Prompt.Seconds() {
		wait = time.Duration((start - now) * float64(time.Second)).Truncate(time.Second)
	}
	wait = min(wait, p.MaxWait)
	if p.Jitter > 0 {
		wait = time.Duration(float64(wait) * (1 - p.Jitter*unitFloat(obs.Seed, obs.Polls)))
	}
	return max(wait, MinPollInterval)
}

// LikelyEnd is the last moment of the region where the DAG run's end is
// likely (see Next), as of obs; false when the profile predicts nothing.
// It may lie before obs.Now: the run is later than its profile says.
func (p PredictivePolicy) LikelyEnd(obs Observation) (time.Time, bool) {
	m, ok := predictEnds(obs)
	if !ok {
		return time.Time{}, false
	}
	r := m.likelyRegion(p.Miss)
	if r.last < 0 {
		return time.Time{}, false
	}
	end := r.from + float64(r.last+1)*r.step
	return time.Unix(int64(math.Ceil(end)), 0), true
}

// endModel is the predicted end of the DAG run (unix seconds): a mixture of
// normal distributions.
type endModel struct {
	ends, spreads, weights []float64
}

func (m *endModel) add(end, spread, weight float64) {
	m.ends = append(m.ends, end)
	m.spreads = append(m.spreads, spread)
	m.weights = append(m.weights, weight)
}

// survival is the chance that the end comes after t.
func (m *endModel) survival(t float64) float64 {
	s, total := 0.0, 0.0
	for i, e := range m.ends {
		s += m.weights[i] * 0.5 * math.Erfc((t-e)/(m.spreads[i]*math.Sqrt2))
		total += m.weights[i]
	}
	return s / total
}

// density is the mixture's probability density at t (unnormalised).
func (m *endModel) density(t float64) float64 {
	d := 0.0
	for i, e := range m.ends {
		z := (t - e) / m.spreads[i]
		d += m.weights[i] * math.Exp(-z*z/2) / m.spreads[i]
	}
	return d
}

// regionGrid is how many points region weighs the density at.
const regionGrid = 1500

// region is where the end is likely: the grid's points whose density is at
// least threshold, from first to last. Only ends before last that fall
// outside it are seen late: past last the policy polls promptly anyway
// (Next), so the region gives up no chance on its right, only on its left
// and in gaps between modes.
type region struct {
	from, step, threshold float64
	dens                  []float64
	last                  int
}

// likelyRegion finds the region for a chance miss of the end falling outside
// it: over the whole prediction, not given that the DAG has not ended, so
// that moving through the region does not give up another miss at every
// poll (the run's end is seen late with chance miss in all, not per poll).
func (m *endModel) likelyRegion(miss float64) region {
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, e := range m.ends {
		lo, hi = min(lo, e-4*m.spreads[i]), max(hi, e+4*m.spreads[i])
	}
	r := region{from: lo, step: max((hi-lo)/regionGrid, 1)}
	n := int((hi-lo)/r.step) + 1
	r.dens = make([]float64, n)
	total := 0.0
	for i := range r.dens {
		r.dens[i] = m.density(lo + (float64(i)+0.5)*r.step)
		total += r.dens[i]
	}
	// The highest threshold whose region gives up at most miss.
	given := func(th float64) (float64, int) {
		last := -1
		for i, d := range r.dens {
			if d >= th {
				last = i
			}
		}
		out := 0.0
		for i := range last {
			if r.dens[i] < th {
				out += r.dens[i]
			}
		}
		return out, last
	}
	top := slices.Max(r.dens)
	low, high := 0.0, top
	for range 40 {
		mid := (low + high) / 2
		if out, _ := given(mid); out <= miss*total {
			low = mid
		} else {
			high = mid
		}
	}
	r.threshold = low
	_, r.last = given(low)
	return r
}

// next is the first moment from t on inside the region; ok is false when
// the region lies wholly before t.
func (r region) next(t float64) (float64, bool) {
	first := max(int((t-r.from)/r.step), 0)
	for i := first; i <= r.last; i++ {
		if r.dens[i] >= r.threshold {
			return max(t, r.from+float64(i)*r.step), true
		}
	}
	return 0, false
}

// predictEnds is the predicted end of this run (see PredictivePolicy),
// from each earlier run in the profile that has every pending node; an
// earlier run that lacks one is left out. It fails when the profile cannot
// say: no profile, no nodes, a node no earlier run had, no earlier run with
// every pending node, or nothing left that can still run.
func predictEnds(obs Observation) (endModel, bool) {
	var m endModel
	prof := obs.Profile
	if prof.Runs() == 0 || len(obs.Nodes) == 0 || !prof.WellFormed() {
		return m, false
	}
	index := make(map[string]int, len(prof.Names))
	for i, name := range prof.Names {
		index[name] = i
	}
	keys := dag.NodeKeys(obs.Nodes)
	rows := make([]int, len(obs.Nodes)) // profile row of each node, -1 if done or blocked
	failed := slices.ContainsFunc(obs.Nodes, func(n dag.Node) bool { return n.Status == dag.StatusFailure })
	pending := 0
	for j, n := range obs.Nodes {
		rows[j] = -1
		if n.Status.Terminal() || failed && !n.Status.Active() {
			continue // done, or waits behind a failure (Decide's business)
		}
		i, ok := index[keys[j]]
		if !ok {
			return m, false // no earlier run had this node
		}
		rows[j] = i
		pending++
	}
	if pending == 0 {
		return m, false
	}
	cv := variation(prof)
	weight := 1.0
	for k := range prof.Finish {
		rm := runModel{obs: obs, prof: prof, k: k, rows: rows, index: index, keys: keys}
		if !rm.complete() {
			continue
		}
		lag, scale, seen := rm.progress()
		// Shifted: late or early by as much as the latest nodes were.
		end, basis := rm.end(lag, 1)
		m.add(end, max(cv*basis, minSpread.Seconds()), weight)
		if seen && math.Abs(scale-1) > 0.02 {
			// Scaled: faster or slower throughout (a lighter day, a
			// drifting load). Both stay in the mixture: which one holds is
			// not known until the end.
			end, basis := rm.end(0, scale)
			m.add(end, max(cv*basis, minSpread.Seconds()), weight)
		}
		weight *= recency
	}
	return m, len(m.ends) > 0
}

// recency weighs an earlier run against the next more recent one: the
// latest runs say most about this one (a flow's load drifts).
const recency = 0.8

// runModel predicts this run from earlier run k.
type runModel struct {
	obs   Observation
	prof  *dag.Profile
	k     int
	rows  []int // each node's profile row; -1 when it is done or blocked
	index map[string]int
	keys  []string
}

// complete reports whether run k had every pending node.
func (rm runModel) complete() bool {
	for _, i := range rm.rows {
		if i >= 0 && rm.prof.Finish[rm.k][i] < 0 {
			return false
		}
	}
	return true
}

// progress compares this run with run k on the nodes that have finished:
// lag is how much later (seconds) and scale how much slower (a ratio) the
// latest of them finished after the trigger than in run k; seen is false
// when no node has finished that run k timed (then lag 0 and scale 1).
// The latest nodes say the most: the median over the three that finished
// latest in run k.
func (rm runModel) progress() (lag, scale float64, seen bool) {
	trigger := rm.obs.TriggeredAt.Unix()
	type mark struct{ then, now float64 }
	var marks []mark
	for j, n := range rm.obs.Nodes {
		if n.Finish == 0 || !n.Status.Terminal() {
			continue
		}
		if i, ok := rm.index[rm.keys[j]]; ok && rm.prof.Finish[rm.k][i] > 0 {
			marks = append(marks, mark{float64(rm.prof.Finish[rm.k][i]), float64(n.Finish - trigger)})
		}
	}
	if len(marks) == 0 {
		return 0, 1, false
	}
	slices.SortFunc(marks, func(a, b mark) int { return cmp.Compare(b.then, a.then) })
	marks = marks[:min(len(marks), 3)]
	lags, scales := make([]float64, len(marks)), make([]float64, len(marks))
	for i, mk := range marks {
		lags[i], scales[i] = mk.now-mk.then, mk.now/mk.then
	}
	return quantile(lags, 0.5), min(max(quantile(scales, 0.5), 0.25), 4), true
}

// end is when this run ends if its pending nodes behave as in run k,
// shifted by lag seconds and with run times scaled by scale, and basis, the
// time that prediction has to cover (what its uncertainty grows with).
func (rm runModel) end(lag, scale float64) (end, basis float64) {
	now := float64(rm.obs.Now.Unix())
	trigger := float64(rm.obs.TriggeredAt.Unix())
	end = math.Inf(-1)
	for j, i := range rm.rows {
		if i < 0 {
			continue
		}
		n := rm.obs.Nodes[j]
		b, f := rm.prof.Begin[rm.k][i], rm.prof.Finish[rm.k][i]
		runTime := -1.0
		if b >= 0 && f >= b {
			runTime = scale * float64(f-b)
		}
		var at, cover float64
		if (n.Status == dag.StatusRunning || n.Status == dag.StatusChecking || n.Status == dag.StatusCheckingCondition) && n.Begin > 0 && runTime >= 0 {
			// Running: as long as it ran then; its run time is uncertain.
			at, cover = float64(n.Begin)+runTime, runTime
		} else {
			// Not started: as late as the run is so far, and no sooner
			// than its own run time from now; the whole remaining time is
			// uncertain.
			at = trigger + scale*float64(f) + lag
			if runTime >= 0 {
				at = max(at, now+runTime)
			}
			cover = at - now
		}
		if at > end {
			end, basis = at, cover
		}
	}
	return end, basis
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
