package policybench

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// Each stratum is what its name says, and its measured runs have the
// earlier runs the targets speak of.
func TestStrataAreWhatTheySay(t *testing.T) {
	saturday, monday := origin, origin.AddDate(0, 0, 2)
	if f := (Variant{Weekend: 0.6}).dayFactor(saturday); f != 0.6 {
		t.Errorf("weekend factor on a Saturday %v", f)
	}
	if f := (Variant{Weekend: 0.6}).dayFactor(monday); f != 1 {
		t.Errorf("weekend factor on a Monday %v", f)
	}
	if f := (Variant{DriftPerDay: -0.05}).dayFactor(monday); f < 0.9024 || f > 0.9026 {
		t.Errorf("drift after two days %v, want 0.9025", f)
	}
	runs := GenerateStrata(DefaultSeed)
	by := map[string][]*Run{}
	var names []string
	for i := range runs {
		r := &runs[i]
		if !slices.Contains(names, r.Stratum) {
			names = append(names, r.Stratum)
		}
		if r.Measured {
			by[r.Stratum] = append(by[r.Stratum], r)
		}
	}
	if len(names) != len(Strata(DefaultSeed)) {
		t.Fatalf("strata %q", names)
	}
	for _, name := range names {
		measured := by[name]
		if len(measured) < 35 {
			t.Errorf("%s: %d measured runs", name, len(measured))
		}
		for _, r := range measured {
			earlier := r.Profile.Runs()
			switch {
			case strings.HasPrefix(name, "first-time"):
				if r.Profile != nil {
					t.Fatalf("%s: a first-time run has a profile", name)
				}
			case strings.HasPrefix(name, "only 2"):
				if earlier > 2 {
					t.Fatalf("%s: %d earlier runs", name, earlier)
				}
			case earlier < 1:
				t.Fatalf("%s: %s has no earlier run", name, r.WorkflowID)
			}
		}
	}
	for _, r := range by["200-node DAGs"] {
		if len(r.Timeline.Nodes) != 200 {
			t.Fatalf("200-node DAG with %d nodes", len(r.Timeline.Nodes))
		}
	}
	for _, r := range by["10–14 h DAGs"] {
		if d := time.Duration(r.Timeline.Final()-r.Timeline.Trigger) * time.Second; !r.Timeline.Failed() && d < 9*time.Hour {
			t.Fatalf("a 10–14 h DAG lasts %v", d)
		}
	}
	queued := 0
	for _, r := range by["queue waits +Exp(5 min) on 20 % of nodes"] {
		for _, n := range r.Timeline.Nodes {
			if n.Ready != 0 && n.Start-n.Ready > int64(MaxWait/time.Second) {
				queued++
			}
		}
	}
	if queued == 0 {
		t.Error("no node waits longer than the main workload allows")
	}
	early, failed := 0, 0
	for _, r := range by["20 % failures 0–5 % into a node"] {
		if r.Timeline.Failed() {
			failed++
		}
		for _, n := range r.Timeline.Nodes {
			if n.Failed && n.Finish-n.Start <= 60 {
				early++
			}
		}
	}
	if failed < 7 || early == 0 {
		t.Errorf("%d failed runs, %d failing early", failed, early)
	}
}

// The strata report tabulates every stratum, every band and the targets,
// with the bound, over a replay of a few short runs.
func TestStrataReport(t *testing.T) {
	runs := GenerateStrata(DefaultSeed)
	picked := map[string]int{}
	for i := range runs {
		r := &runs[i]
		keep := r.Measured && (r.Stratum == "10–60 s DAGs" || strings.HasPrefix(r.Stratum, "first-time")) &&
			r.Timeline.Final()-r.Timeline.Trigger < 300 && picked[r.Stratum] < 6
		if keep {
			picked[r.Stratum]++
		}
		r.Measured = keep
	}
	res, err := Replay(DefaultConfig(), runs, Policies())
	if err != nil {
		t.Fatal(err)
	}
	md := res.StrataMarkdown()
	for _, want := range []string{"### 10–60 s DAGs", "### first-time flows", "#### < 5 min", "bound (clairvoyant)",
		"### Targets of issue 14", "(blind bound)", "Pooled over every stratum", "| " + Default + " |"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	def := res.policyIndex(Default)
	if f := res.figures(def, func(r *Run) bool { return r.Stratum != "" }); f.Runs != 12 || f.EndP95 > 20*time.Second {
		t.Errorf("default policy over the picked runs: %+v", f)
	}
	if f := res.figures(-1, func(*Run) bool { return true }); f.RatioOfMeans <= 0 || f.RatioOfMeans >= 1 {
		t.Errorf("bound %+v", f)
	}
}
