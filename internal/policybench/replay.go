package policybench

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/workflows"
)

// Policy is a named poll policy: the poll options of RunManualDagInput,
// and the events delivered to the run (none by default).
type Policy struct {
	Name   string
	Poll   workflows.PollOptions
	Events Delivery
}

// Names of the policies Policies returns; Baseline is the one the others
// are compared with, Default the product's default.
const (
	Baseline = "fixed 5 s"
	Fixed20  = "fixed 20 s"
	Fixed30  = "fixed 30 s"
	Fixed60  = "fixed 60 s"
	Backoff  = "backoff (old default)"
	Default  = "predictive (default)"
	// The default policy with DataWorks' pushed events (issue 16): all
	// delivered, 30 % lost, and with forged and replayed ones besides.
	WithEvents    = "predictive + events"
	EventsDropped = "predictive + events, 30 % lost"
	EventsForged  = "predictive + events, forged and replayed"
	// DropRate is the share of events EventsDropped loses.
	DropRate = 0.3
)

// Fixed polls every d, whatever it sees: the backoff mode with a constant
// interval and no jitter.
func Fixed(d time.Duration) workflows.PollOptions {
	return workflows.PollOptions{
		Mode:            workflows.PollBackoff,
		InitialInterval: dag.Duration(d),
		MaxInterval:     dag.Duration(d),
		Multiplier:      1,
		Jitter:          -1, // none
	}
}

// Policies are the fixed baselines, the product's two modes with every
// other poll option at its default, and the default with events.
func Policies() []Policy {
	return []Policy{
		{Baseline, Fixed(5 * time.Second), Delivery{}},
		{Fixed20, Fixed(20 * time.Second), Delivery{}},
		{Fixed30, Fixed(30 * time.Second), Delivery{}},
		{Fixed60, Fixed(60 * time.Second), Delivery{}},
		{Backoff, workflows.PollOptions{Mode: workflows.PollBackoff}, Delivery{}},
		{Default, workflows.PollOptions{}, Delivery{}},
		{WithEvents, workflows.PollOptions{}, Events},
		{EventsDropped, workflows.PollOptions{}, dropped},
		{EventsForged, workflows.PollOptions{}, forged},
	}
}

var (
	dropped = Delivery{On: true, Delay: Events.Delay, Drop: DropRate}
	forged  = Delivery{On: true, Delay: Events.Delay, Forged: true}
)

// Result is a replay: each policy's outcome for each run.
type Result struct {
	Config   Config
	Runs     []Run
	Policies []string
	Outcomes [][]Outcome // [policy][run]
	// Elapsed is the wall time of the replay, Workers how many runs it
	// followed at once.
	Elapsed time.Duration
	Workers int
}

// Replay follows every run with every policy, GOMAXPROCS runs at once.
func Replay(cfg Config, runs []Run, policies []Policy) (*Result, error) {
	if err := warmUp(); err != nil {
		return nil, err
	}
	begin := time.Now()
	res := &Result{Config: cfg, Runs: runs, Outcomes: make([][]Outcome, len(policies)), Workers: runtime.GOMAXPROCS(0)}
	for p, pol := range policies {
		res.Policies = append(res.Policies, pol.Name)
		res.Outcomes[p] = make([]Outcome, len(runs))
	}
	type job struct{ p, i int }
	jobs := make(chan job)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var wg sync.WaitGroup
	for range res.Workers {
		wg.Go(func() {
			for j := range jobs {
				out, err := FollowEvents(&runs[j.i], cfg.Input(&runs[j.i], policies[j.p].Poll), policies[j.p].Events)
				if err != nil {
					cancel(fmt.Errorf("%s: %w", policies[j.p].Name, err))
				}
				res.Outcomes[j.p][j.i] = out
			}
		})
	}
feed:
	for p := range policies {
		for i := range runs {
			if !runs[i].Measured {
				continue // it only made the profile of later runs
			}
			select {
			case jobs <- job{p, i}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	res.Elapsed = time.Since(begin)
	return res, nil
}

// warmUp makes the SDK compute its binary checksum (a hash of the whole
// binary, once per process) in an activity environment: done lazily inside
// the first workflow's coroutine it can outlast the deadlock detector's
// second on a loaded machine (workflows/main_test.go).
func warmUp() error {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	noop := func(context.Context) error { return nil }
	env.RegisterActivity(noop)
	if _, err := env.ExecuteActivity(noop); err != nil {
		return fmt.Errorf("warm-up activity: %w", err)
	}
	return nil
}

// Bench generates cfg's workload and replays it with Policies.
func Bench(cfg Config) (*Result, error) {
	return Replay(cfg, Generate(cfg), Policies())
}
