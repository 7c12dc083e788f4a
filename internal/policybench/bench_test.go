package policybench

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// BenchmarkPolicies replays the default workload with every policy once per
// iteration, and once more with the default policy and the workflow's
// default listSettle and blockedGrace, and prints the report once (make
// bench-policy). With MANUALDAG_BENCH_OUT set it also writes the report to
// that file.
func BenchmarkPolicies(b *testing.B) {
	var res, product *Result
	for b.Loop() {
		var err error
		if res, err = Bench(DefaultConfig()); err != nil {
			b.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.ListSettle, cfg.BlockedGrace = 0, 0
		if product, err = Replay(cfg, res.Runs, []Policy{{Name: Default}}); err != nil {
			b.Fatal(err)
		}
	}
	def := res.policyIndex(Default)
	s := res.Stats(def, Segments[0])
	b.ReportMetric(s.CallsMean, "calls/DAG")
	b.ReportMetric(s.DelayP95.Seconds(), "p95-delay-s")
	printOnce.Do(func() {
		report := res.Markdown() + "\n" + product.PolicyMarkdown(Default)
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
