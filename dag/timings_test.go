package dag

import (
	"encoding/json"
	"slices"
	"testing"
)

// A memo from before events existed decodes as a run without events; the
// profile keeps each run's missed events, -1 for a run without events, and
// none at all when no run had events (so that such profiles are unchanged).
func TestProfileKeepsEventMisses(t *testing.T) {
	var old RunTimings
	if err := json.Unmarshal([]byte(`{"names":["a"],"begin":[0],"finish":[60]}`), &old); err != nil {
		t.Fatal(err)
	}
	if old.Events != 0 || old.EventMiss != 0 {
		t.Fatalf("an old memo decodes as %+v, want no events", old)
	}
	if p := ProfileOf([]RunTimings{old, old}); p.EventMiss != nil || p.EventMissed() {
		t.Fatalf("no run had events: EventMiss %v", p.EventMiss)
	}
	clean, missed := old, old
	clean.Events = 2
	missed.Events, missed.EventMiss = 1, 1
	p := ProfileOf([]RunTimings{old, clean, missed})
	if want := []int32{-1, 0, 1}; !slices.Equal(p.EventMiss, want) {
		t.Fatalf("EventMiss %v, want %v", p.EventMiss, want)
	}
	if !p.EventMissed() {
		t.Fatal("a run missed an event")
	}
	if p := ProfileOf([]RunTimings{clean, old}); p.EventMissed() || !slices.Equal(p.EventMiss, []int32{0, -1}) {
		t.Fatalf("EventMiss %v: no run missed one", p.EventMiss)
	}
	b, err := json.Marshal(ProfileOf([]RunTimings{old}))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"names":["a"],"begin":[[0]],"finish":[[60]]}` {
		t.Fatalf("a profile without events encodes as %s", b)
	}
}
