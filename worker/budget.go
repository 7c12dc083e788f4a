package main

import (
	"sync/atomic"
	"time"
)

// budget spreads a daily budget of DataWorks calls over the DAG runs open
// on the task queue: with W runs open and B calls a day, each run may poll
// once every 24h·W/B. Every worker of the queue counts the same open runs
// from Temporal's visibility (reportWaiting), so the fleet as a whole stays
// within B without talking to each other; the workflows stretch their waits
// to the floor instead of failing, and a spent quota still pauses them
// (Throttling.Api.Risk, -quota-backoff).
type budget struct {
	perDay  int
	waiting atomic.Int64 // the last count of open runs; 0 before the first
}

// floor is the least wait between two polls of one DAG run.
func (b *budget) floor() time.Duration {
	if b == nil || b.perDay <= 0 {
		return 0
	}
	w := max(b.waiting.Load(), 1)
	return time.Duration(float64(24*time.Hour) * float64(w) / float64(b.perDay))
}
