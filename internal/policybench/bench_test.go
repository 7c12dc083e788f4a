package policybench

import (
	"fmt"
	"os"
	"regexp"
	"sync"
	"testing"
)

// BenchmarkPolicies replays the default workload with every policy once per
// iteration, once more with the default policy and the workflow's default
// listSettle and blockedGrace, and the strata (strata.go) with every policy,
// and prints the report once (make bench-policy). With MANUALDAG_BENCH_OUT
// set it also writes the report to that file; MANUALDAG_BENCH_STRATA=REGEXP
// follows only the strata whose names match, and skips the main workload.
func BenchmarkPolicies(b *testing.B) {
	only := os.Getenv("MANUALDAG_BENCH_STRATA")
	var res, product, strata *Result
	for b.Loop() {
		var err error
		if only == "" {
			if res, err = Bench(DefaultConfig()); err != nil {
				b.Fatal(err)
			}
			cfg := DefaultConfig()
			cfg.ListSettle, cfg.BlockedGrace = 0, 0
			if product, err = Replay(cfg, res.Runs, []Policy{{Name: Default}}); err != nil {
				b.Fatal(err)
			}
		}
		runs := GenerateStrata(DefaultSeed)
		if only != "" {
			re, err := regexp.Compile(only)
			if err != nil {
				b.Fatalf("MANUALDAG_BENCH_STRATA: %v", err)
			}
			for i := range runs {
				runs[i].Measured = runs[i].Measured && re.MatchString(runs[i].Stratum)
			}
		}
		if strata, err = Replay(DefaultConfig(), runs, Policies()); err != nil {
			b.Fatal(err)
		}
	}
	report := ""
	if res != nil {
		def := res.policyIndex(Default)
		s := res.Stats(def, Segments[0])
		b.ReportMetric(s.CallsMean, "calls/DAG")
		b.ReportMetric(s.DelayP95.Seconds(), "p95-delay-s")
		report = res.Markdown() + "\n" + res.EventsMarkdown() + "\n" + product.PolicyMarkdown(Default) + "\n"
	}
	report += strata.StrataMarkdown() + "\n" + strata.EventsMarkdown() + fmt.Sprintf("\nWall time of the strata: %s for the followed runs of %d policies, %d at once.\n",
		strata.Elapsed.Round(100_000_000), len(strata.Policies), strata.Workers)
	printOnce.Do(func() {
		fmt.Print("\n" + report)
		if path := os.Getenv("MANUALDAG_BENCH_OUT"); path != "" {
			if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// printOnce keeps the report to one copy when the benchmark function runs
// more than once (-count, or the runner's probing runs).
var printOnce sync.Once
