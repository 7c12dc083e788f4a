package emulator

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// EventFaults are injected into the pushed events, as EventBridge and the
// network inflict them: it promises neither order nor exactly-once
// delivery. Rates are fractions of events (0..1), drawn from a source
// seeded from Options.Seed, so a given sequence of events meets the same
// faults on every run. Delays are real time, not scaled: they model the
// network, not DataWorks.
//
// The compact form (ParseEventFaults, String, the command's -events-faults)
// is "drop=0.3,dup=0.1,reorder=0.2,delay=2s,badsig=0.05,stale=0.05,dagtype=5,notrun=0".
type EventFaults struct {
	// DropRate: the event is never sent (spec drop).
	DropRate float64
	// DuplicateRate: the event is sent twice, the same id and body, the
	// copy up to a second after the original (spec dup).
	DuplicateRate float64
	// ReorderRate: the event is held back a further ReorderBy/2..ReorderBy,
	// so that events after it overtake it (spec reorder).
	ReorderRate float64
	// ReorderBy bounds that extra delay. Default 3s (spec reorderby).
	ReorderBy time.Duration
	// Delay holds every event back this long before its first try (spec
	// delay=2s).
	Delay time.Duration
	// DelayMax, when above Delay, makes the delay random between the two
	// (spec delay=1s..3s).
	DelayMax time.Duration
	// BadSignatureRate: the request is signed, then its body is forged (the
	// status flipped to a different final one) and a bearer token altered,
	// so that the signature no longer matches what arrives (spec badsig).
	BadSignatureRate float64
	// StaleRate: the event is published and signed StaleBy in the past, as a
	// replay would be: a receiver must refuse it (spec stale).
	StaleRate float64
	// StaleBy is how far back. Default 2m, twice EventBridge's 60 s
	// freshness window (spec staleby).
	StaleBy time.Duration
	// DagType is the dagType sent for a manual workflow run, where the
	// documentation gives both 4 and 5: "5" (default), "4" or "random", a
	// draw per event (spec dagtype).
	DagType string
	// NotRun is the status a not-run node instance is sent with, where one
	// page says 0: "1" (default), "0" or "random" (spec notrun).
	NotRun string
}

// Defaults of EventFaults.
const (
	DefaultReorderBy = 3 * time.Second
	DefaultStaleBy   = 2 * time.Minute
)

// ChoiceRandom draws EventFaults.DagType or NotRun per event.
const ChoiceRandom = "random"

// eventFaultKeys are the spec keys, in the order String writes them.
var eventFaultKeys = []string{"drop", "dup", "reorder", "reorderby", "delay", "badsig", "stale", "staleby", "dagtype", "notrun"}

// ParseEventFaults reads the compact form: comma-separated key=value
// pairs, rates from 0 to 1, Go durations; "" or "none" injects none.
func ParseEventFaults(spec string) (EventFaults, error) {
	var f EventFaults
	spec = strings.TrimSpace(spec)
	if spec == "" || spec == "none" {
		return f, nil
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(spec, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		key, value = strings.ToLower(strings.TrimSpace(key)), strings.TrimSpace(value)
		if !ok || value == "" {
			return EventFaults{}, fmt.Errorf("event faults: %q is not key=value; write e.g. drop=0.3,dup=0.1,delay=2s", part)
		}
		if seen[key] {
			return EventFaults{}, fmt.Errorf("event faults: %s is given twice", key)
		}
		seen[key] = true
		if err := f.set(key, value); err != nil {
			return EventFaults{}, fmt.Errorf("event faults: %s=%s: %w", key, value, err)
		}
	}
	return f, f.validate()
}

func (f *EventFaults) set(key, value string) error {
	rate := func(dst *float64) error {
		v, err := strconv.ParseFloat(value, 64)
		if err != nil || v < 0 || v > 1 {
			return errors.New("a rate is a number from 0 to 1")
		}
		*dst = v
		return nil
	}
	duration := func(dst *time.Duration) error {
		v, err := time.ParseDuration(value)
		if err != nil || v < 0 {
			return errors.New(`a duration is a Go duration such as "2s" or "500ms", not negative`)
		}
		*dst = v
		return nil
	}
	switch key {
	case "drop":
		return rate(&f.DropRate)
	case "dup":
		return rate(&f.DuplicateRate)
	case "reorder":
		return rate(&f.ReorderRate)
	case "badsig":
		return rate(&f.BadSignatureRate)
	case "stale":
		return rate(&f.StaleRate)
	case "reorderby":
		return duration(&f.ReorderBy)
	case "staleby":
		return duration(&f.StaleBy)
	case "delay":
		low, high, ranged := strings.Cut(value, "..")
		value = low
		if err := duration(&f.Delay); err != nil {
			return err
		}
		if ranged {
			value = high
			return duration(&f.DelayMax)
		}
		return nil
	case "dagtype":
		f.DagType = value
		return nil
	case "notrun":
		f.NotRun = value
		return nil
	}
	return fmt.Errorf("unknown key; use %s", strings.Join(eventFaultKeys, ", "))
}

// validate refuses values that would silently inject something else.
func (f EventFaults) validate() error {
	for _, r := range []struct {
		name string
		v    float64
	}{{"drop", f.DropRate}, {"dup", f.DuplicateRate}, {"reorder", f.ReorderRate}, {"badsig", f.BadSignatureRate}, {"stale", f.StaleRate}} {
		if r.v < 0 || r.v > 1 {
			return fmt.Errorf("event faults: %s=%v is not a rate from 0 to 1", r.name, r.v)
		}
	}
	switch {
	case f.Delay < 0 || f.DelayMax < 0 || f.ReorderBy < 0 || f.StaleBy < 0:
		return errors.New("event faults: delays must not be negative")
	case f.DelayMax != 0 && f.DelayMax < f.Delay:
		return fmt.Errorf("event faults: delay=%v..%v: the range must go from low to high", f.Delay, f.DelayMax)
	}
	switch f.DagType {
	case "", "4", "5", ChoiceRandom:
	default:
		return fmt.Errorf("event faults: dagtype=%s: use 4, 5 or random (the documentation gives both 4 and 5 for a manual workflow)", f.DagType)
	}
	switch f.NotRun {
	case "", "0", "1", ChoiceRandom:
	default:
		return fmt.Errorf("event faults: notrun=%s: use 1, 0 or random (the status a not-run instance is sent with)", f.NotRun)
	}
	return nil
}

// String writes f in the compact form ParseEventFaults reads; "none" when
// it injects nothing.
func (f EventFaults) String() string {
	var parts []string
	add := func(key, value string) { parts = append(parts, key+"="+value) }
	rate := func(key string, v float64) {
		if v != 0 {
			add(key, strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	rate("drop", f.DropRate)
	rate("dup", f.DuplicateRate)
	rate("reorder", f.ReorderRate)
	if f.ReorderBy != 0 {
		add("reorderby", f.ReorderBy.String())
	}
	switch {
	case f.DelayMax > f.Delay:
		add("delay", f.Delay.String()+".."+f.DelayMax.String())
	case f.Delay != 0:
		add("delay", f.Delay.String())
	}
	rate("badsig", f.BadSignatureRate)
	rate("stale", f.StaleRate)
	if f.StaleBy != 0 {
		add("staleby", f.StaleBy.String())
	}
	if f.DagType != "" {
		add("dagtype", f.DagType)
	}
	if f.NotRun != "" {
		add("notrun", f.NotRun)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

func (f EventFaults) reorderBy() time.Duration {
	if f.ReorderBy == 0 {
		return DefaultReorderBy
	}
	return f.ReorderBy
}

func (f EventFaults) staleBy() time.Duration {
	if f.StaleBy == 0 {
		return DefaultStaleBy
	}
	return f.StaleBy
}

// pushPlan is what the faults decided for one event.
type pushPlan struct {
	drop, duplicate, reorder, badSignature, stale bool
	// delays are the waits before the first try of the original and of
	// its copy.
	delays  [2]time.Duration
	dagType int
	notRun  int
}

// newEventRand is the source of the event faults, apart from the API
// faults' so that pushing events changes none of their draws.
func newEventRand(seed int64) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte("openevent"))
	return rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
}

// plan draws the faults of one event. It always draws the same number of
// values, so that changing one rate does not shift the others' decisions.
func (f EventFaults) plan(rng *rand.Rand) pushPlan {
	var u [10]float64
	for i := range u {
		u[i] = rng.Float64()
	}
	p := pushPlan{
		drop: u[0] < f.DropRate, duplicate: u[1] < f.DuplicateRate, reorder: u[2] < f.ReorderRate,
		badSignature: u[6] < f.BadSignatureRate, stale: u[7] < f.StaleRate,
		dagType: choose(f.DagType, dagTypeManual, 4, u[8]), notRun: choose(f.NotRun, int(StatusNotRun), 0, u[9]),
	}
	delay := f.Delay
	if f.DelayMax > f.Delay {
		delay += time.Duration(u[4] * float64(f.DelayMax-f.Delay))
	}
	if p.reorder {
		by := f.reorderBy()
		delay += by/2 + time.Duration(u[3]*float64(by/2))
	}
	p.delays = [2]time.Duration{delay, delay + time.Duration(u[5]*float64(time.Second))}
	return p
}

// choose resolves a disputed code: def when unset, def or alt at random
// for ChoiceRandom, else the number given.
func choose(choice string, def, alt int, u float64) int {
	switch choice {
	case "":
		return def
	case ChoiceRandom:
		if u < 0.5 {
			return alt
		}
		return def
	}
	n, _ := strconv.Atoi(choice) // validate let only numbers through
	return n
}
