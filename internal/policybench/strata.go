package policybench

import (
	"time"
)

// Variant hardens the workload one way at a time (issue 14): the main
// workload's spread (log-sd 0.10 per node, 0.05 per run), its waits
// (≤ 30 s), its failures (8 % of runs, 20–100 % into a node) and its
// steady days are the predictive policy's own assumptions, so each stratum
// breaks one of them. The zero value changes nothing.
type Variant struct {
	// SpreadScale multiplies NodeSpread and RunSpread (0 = 1).
	SpreadScale float64
	// DriftPerDay scales a day's run times by (1+DriftPerDay)^day.
	DriftPerDay float64
	// Weekend scales the run times of Saturdays and Sundays (0 = 1).
	Weekend float64
	// Stragglers is the share of node instances that take 3× their time.
	Stragglers float64
	// QueueShare is the share of node instances whose wait for resources
	// grows by an exponential time of mean QueueMean.
	QueueShare float64
	QueueMean  time.Duration
	// FailureRate replaces the workload's 8 % (0 = keep it); FailEarly makes
	// the failing node fail 0–5 % into its run time instead of 20–100 %.
	FailureRate float64
	FailEarly   bool
	// Nodes fixes every flow's node count (0 = log-uniform to MaxNodes).
	Nodes int
	// MinDuration and MaxDuration bound the critical path (0 = the
	// workload's 1 min to 6 h).
	MinDuration, MaxDuration time.Duration
	// Burst starts every flow in the same minute of the day.
	Burst bool
}

func (v Variant) spread() float64 {
	if v.SpreadScale == 0 {
		return 1
	}
	return v.SpreadScale
}

func (v Variant) failureRate() float64 {
	if v.FailureRate == 0 {
		return FailureRate
	}
	return v.FailureRate
}

// dayFactor scales the run times of a day: drift since the workload's first
// day, and the weekend's lighter load.
func (v Variant) dayFactor(day time.Time) float64 {
	f := 1.0
	if v.DriftPerDay != 0 {
		days := int(day.Sub(origin).Hours() / 24)
		for range days {
			f *= 1 + v.DriftPerDay
		}
	}
	if wd := day.Weekday(); v.Weekend > 0 && (wd == time.Saturday || wd == time.Sunday) {
		f *= v.Weekend
	}
	return f
}

// The strata's shape: StrataFlows daily flows over StrataDays days, the
// first StrataMeasureFrom of which only build the profile (every measured
// run has at least three earlier days, two of them or more succeeded).
// The workload starts on a Saturday, so days 3–9 are Tuesday to the
// next Monday, a weekend among them.
const (
	StrataFlows       = 10
	StrataDays        = 10
	StrataMeasureFrom = 3
)

// Strata are the hardened workloads of the benchmark, each seeded on its
// own: named, in the order the report lists them.
func Strata(seed uint64) []Config {
	daily := func(i int, name string, v Variant) Config {
		return Config{Seed: seed + uint64(i) + 1, DailyFlows: StrataFlows, Days: StrataDays, MeasureFrom: StrataMeasureFrom,
			ListSettle: BenchListSettle, BlockedGrace: BenchBlockedGrace, Variant: v, Stratum: name}
	}
	strata := []Config{
		daily(0, "steady (as the main workload)", Variant{}),
		daily(1, "spread ×2", Variant{SpreadScale: 2}),
		daily(2, "spread ×3", Variant{SpreadScale: 3}),
		daily(3, "drift −5 %/day", Variant{DriftPerDay: -0.05}),
		daily(4, "drift +5 %/day", Variant{DriftPerDay: 0.05}),
		daily(5, "weekends at 0.6×", Variant{Weekend: 0.6}),
		daily(6, "5 % straggler nodes ×3", Variant{Stragglers: 0.05}),
		daily(7, "queue waits +Exp(5 min) on 20 % of nodes", Variant{QueueShare: 0.2, QueueMean: 5 * time.Minute}),
		daily(8, "20 % failures 0–5 % into a node", Variant{FailureRate: 0.2, FailEarly: true}),
		daily(9, "200-node DAGs", Variant{Nodes: 200}),
		daily(10, "10–60 s DAGs", Variant{MinDuration: 10 * time.Second, MaxDuration: time.Minute}),
		daily(11, "10–14 h DAGs", Variant{MinDuration: 10 * time.Hour, MaxDuration: 14 * time.Hour}),
		daily(12, "bursts of starts (every flow at 02:00)", Variant{Burst: true}),
	}
	// Long DAGs cost fixed 5 s some 10,000 polls a run: fewer of them.
	strata[11].DailyFlows = StrataFlows / 2
	twoDays := daily(13, "only 2 earlier days", Variant{})
	twoDays.DailyFlows, twoDays.Days, twoDays.MeasureFrom = 4*StrataFlows, 3, 2
	firstTime := daily(14, "first-time flows", Variant{})
	firstTime.DailyFlows, firstTime.OneOffs = 0, 4*StrataFlows
	return append(strata, twoDays, firstTime)
}

// GenerateStrata is every stratum's workload, in Strata's order.
func GenerateStrata(seed uint64) []Run {
	var runs []Run
	for _, cfg := range Strata(seed) {
		runs = append(runs, Generate(cfg)...)
	}
	return runs
}
