package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"time"
)

// Faults are injected into the calls of one action. Rates are fractions
// of calls (0..1), decided by a random source seeded from Options.Seed and
// the action name, so a given sequence of calls of one action meets the
// same faults on every run whatever other actions do in between.
type Faults struct {
	// ThrottleRate answers Throttling.User (HTTP 400) without processing.
	ThrottleRate float64 `json:"throttleRate,omitempty"`
	// ServerErrorRate answers ServiceUnavailable (503) or
	// InternalError.System (500), half each, without processing.
	ServerErrorRate float64 `json:"serverErrorRate,omitempty"`
	// DropRate processes the call (a create is recorded), then closes the
	// connection without answering: the caller cannot tell what happened.
	DropRate float64 `json:"dropRate,omitempty"`
	// Latency is added before answering (real time, not scaled).
	Latency time.Duration `json:"-"`
	// NumericCode sends error bodies with a JSON number as Code, which the
	// Alibaba SDK cannot decode (it panics): for hostile-response tests.
	NumericCode bool `json:"numericCode,omitempty"`
}

// faultsJSON writes Latency as a duration string.
type faultsJSON struct {
	faultsAlias
	Latency Duration `json:"latency,omitempty"`
}

type faultsAlias Faults

// MarshalJSON writes Latency as a Go duration string.
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{faultsAlias(f), Duration(f.Latency)})
}

// UnmarshalJSON reads Latency as a Go duration string ("250ms"). Unknown
// fields are refused: a misspelt rate would silently inject nothing.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var v faultsJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("faults: %w", err)
	}
	*f = Faults(v.faultsAlias)
	f.Latency = time.Duration(v.Latency)
	return nil
}

// AllActions is the Faults key that applies to actions without their own.
const AllActions = "*"

type faultKind int

const (
	faultNone faultKind = iota
	faultThrottle
	faultUnavailable
	faultInternal
)

// decision is what the fault injector decided for one call.
type decision struct {
	before faultKind // answer with an error instead of processing
	drop   bool      // process, then drop the connection
}

// faultSource draws decisions for one action. It always draws the same
// number of values per call, so changing one rate does not shift the
// decisions of the others.
type faultSource struct{ rng *rand.Rand }

func newFaultSource(seed int64, action string) *faultSource {
	h := fnv.New64a()
	h.Write([]byte(action))
	return &faultSource{rng: rand.New(rand.NewPCG(uint64(seed), h.Sum64()))}
}

func (s *faultSource) decide(f Faults) decision {
	u, which, drop := s.rng.Float64(), s.rng.Float64(), s.rng.Float64()
	var d decision
	switch {
	case u < f.ThrottleRate:
		d.before = faultThrottle
	case u < f.ThrottleRate+f.ServerErrorRate:
		d.before = faultUnavailable
		if which < 0.5 {
			d.before = faultInternal
		}
	}
	d.drop = d.before == faultNone && drop < f.DropRate
	return d
}
