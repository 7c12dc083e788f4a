package workflows

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzParseInput feeds arbitrary JSON to the workflow's input decoder and
// validation, the path every client's input takes. Its seeds run in every
// `go test`; the corpus is under testdata/fuzz. Run it with
//
//	go test -run '^$' -fuzz '^FuzzParseInput$' -fuzztime 5m ./workflows/
func FuzzParseInput(f *testing.F) {
	for _, s := range []string{
		`{"projectName":"demo_project","flowName":"daily_sales","bizdate":"2024-06-01"}`,
		`{"projectName":"p","flowName":"f","bizdate":"2024-06-01 00:00:00","dagParameters":"a=1 b=2","nodeParameters":{"103180025":{"k":"v","n":1,"b":true}}}`,
		`{"projectName":"p","flowName":"f","timezone":"UTC","timeout":"2h","poll":{"initialInterval":"1s","maxInterval":"3s","multiplier":2,"jitter":0.5}}`,
		`{"projectName":"p","flowName":"f","blockedGrace":"5s","emptyListGrace":"1m","failOnDagFailure":false,"listSettle":"30s"}`,
		`{"projectName":"p","flowName":"f","apiVersion":"2020-05-18","projectEnv":"DEV","onDeadline":"leave","failurePolicy":{"waitForRecovery":"30m"},"dagId":700019657457}`,
		`{"projectName":"p","flowName":"f","accessKeySecret":"x"}`,
		`{"projectName":"p","flowName":"f","timeout":7200}`,
		`{"projectName":"p","flowName":"f","continued":{"dagId":7,"triggeredAt":"2024-06-01T00:00:00Z","deadline":"2024-06-02T00:00:00Z","polls":3,"stableSince":"2024-06-01T00:00:00Z","runs":1}}`,
		`[]`, `null`, `{"projectName":"p","flowName":"f","bizdate":"2024-13-01"}`, `{`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2024, 6, 2, 1, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := ParseInput(b)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error message")
			}
			if _, serr := in.settings(now); serr == nil {
				t.Fatalf("ParseInput refused %q (%v) but the workflow would accept it", b, err)
			}
			return
		}
		s, err := in.settings(now)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error message")
			}
			return
		}
		var fields map[string]json.RawMessage
		if json.Unmarshal(b, &fields) == nil {
			for name := range fields {
				n := strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(name))
				for _, w := range credentialWords {
					if strings.Contains(n, w) {
						t.Fatalf("accepted a credential-like field %q", name)
					}
				}
			}
		}
		switch {
		case s.policy.Initial < MinPollInterval, s.policy.Max > MaxPollInterval, s.policy.Initial > s.policy.Max:
			t.Fatalf("poll interval %v..%v out of range", s.policy.Initial, s.policy.Max)
		case s.timeout <= 0 || s.timeout > MaxTimeout:
			t.Fatalf("timeout %v out of range", s.timeout)
		}
		if err := s.create.Validate(); err != nil {
			t.Fatalf("accepted input makes an invalid create: %v", err)
		}
		// What a continued run receives is the accepted input, re-encoded:
		// it must be accepted again, with the same settings.
		again, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		in2, err := ParseInput(again)
		if err != nil {
			t.Fatalf("re-encoded input %s refused: %v", again, err)
		}
		s2, err := in2.settings(now)
		if err != nil {
			t.Fatalf("re-encoded input %s invalid: %v", again, err)
		}
		if s2.create.Bizdate != s.create.Bizdate || s2.timeout != s.timeout || s2.policy != s.policy {
			t.Fatalf("round trip changed the settings: %+v -> %+v", s, s2)
		}
	})
}
