package policybench

import (
	"fmt"
	"time"

	"github.com/manualdag/manualdag/workflows"
)

// Policy is a named poll policy.
type Policy struct {
	Name   string
	Policy workflows.PollPolicy
}

// Names of the policies Policies returns; Baseline is the one the others
// are compared with, Default the product's default.
const (
	Baseline = "fixed 5 s"
	Fixed30  = "fixed 30 s"
	Fixed60  = "fixed 60 s"
	Backoff  = "backoff (old default)"
	Default  = "predictive (default)"
)

// Fixed polls every d, whatever it sees.
func Fixed(d time.Duration) workflows.PollPolicy {
	return workflows.BackoffPolicy{Initial: d, Max: d, Multiplier: 1, Jitter: 0}
}

// ProductInput is the input whose policies the benchmark measures: every
// poll option left at its default but the mode.
func ProductInput(mode string) workflows.RunManualDagInput {
	return workflows.RunManualDagInput{
		ProjectName: "p",
		FlowName:    "f",
		Bizdate:     "2024-06-01",
		Poll:        workflows.PollOptions{Mode: mode},
	}
}

// Policies are the fixed baselines and the product's two modes, built by
// RunManualDagInput.PollPolicy exactly as a run would get them.
func Policies() ([]Policy, error) {
	backoff, err := ProductInput(workflows.PollBackoff).PollPolicy(origin)
	if err != nil {
		return nil, fmt.Errorf("backoff policy: %w", err)
	}
	predictive, err := ProductInput("").PollPolicy(origin)
	if err != nil {
		return nil, fmt.Errorf("default policy: %w", err)
	}
	return []Policy{
		{Baseline, Fixed(5 * time.Second)},
		{Fixed30, Fixed(30 * time.Second)},
		{Fixed60, Fixed(60 * time.Second)},
		{Backoff, backoff},
		{Default, predictive},
	}, nil
}

// Result is a replay: each policy's outcome for each run.
type Result struct {
	Config   Config
	Runs     []Run
	Policies []string
	Outcomes [][]Outcome // [policy][run]
}

// Replay follows every run with every policy.
func Replay(cfg Config, runs []Run, policies []Policy) (*Result, error) {
	res := &Result{Config: cfg, Runs: runs, Outcomes: make([][]Outcome, len(policies))}
	for p, pol := range policies {
		res.Policies = append(res.Policies, pol.Name)
		res.Outcomes[p] = make([]Outcome, len(runs))
		for i := range runs {
			out, err := Simulate(&runs[i], pol.Policy)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", pol.Name, err)
			}
			res.Outcomes[p][i] = out
		}
	}
	return res, nil
}

// Bench generates cfg's workload and replays it with Policies.
func Bench(cfg Config) (*Result, error) {
	policies, err := Policies()
	if err != nil {
		return nil, err
	}
	return Replay(cfg, Generate(cfg), policies)
}
