package aliyun

import (
	"context"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/manualdag/manualdag/dataworks"
)

// limitClock is the limiter's clock in tests. In auto mode it jumps to each
// scheduled dispatch by itself, as if the limiter slept; otherwise it moves
// only when the test advances it, and the dispatches then due run on the
// test's goroutine, so that who gets a slot is decided before advance
// returns.
type limitClock struct {
	mu     sync.Mutex
	t      time.Time
	auto   bool
	timers []limitTimer
}

type limitTimer struct {
	at time.Time
	f  func()
}

func newLimitClock(l *limiter, auto bool) *limitClock {
	c := &limitClock{t: time.Unix(1_700_000_000, 0), auto: auto}
	l.now = c.now
	l.afterFunc = func(d time.Duration, f func()) {
		c.mu.Lock()
		defer c.mu.Unlock()
		at := c.t.Add(d)
		if c.auto {
			go func() {
				c.mu.Lock()
				if at.After(c.t) {
					c.t = at
				}
				c.mu.Unlock()
				f()
			}()
			return
		}
		c.timers = append(c.timers, limitTimer{at, f})
	}
	return c
}

func (c *limitClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// advance moves the clock and runs the dispatches that came due.
func (c *limitClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	var due []func()
	kept := c.timers[:0]
	for _, tm := range c.timers {
		if tm.at.After(c.t) {
			kept = append(kept, tm)
		} else {
			due = append(due, tm.f)
		}
	}
	c.timers = kept
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}

// queued is how many writes and reads wait in l.
func queued(l *limiter) (int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.writes), len(l.reads)
}

// granted returns what a waiting goroutine's wait returned. The slot was
// handed out (or not) before clock.advance returned; the bound only turns a
// limiter that handed it to someone else into a failure instead of a hang.
func granted(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("no slot was granted to this caller")
		return nil
	}
}

// TestLimiterNeverExceedsItsWindow: at 3 a second, 10 requests asked for at
// once start 3 at a time, a window apart: no 4 within one second.
func TestLimiterNeverExceedsItsWindow(t *testing.T) {
	l := newLimiter(3)
	clock := newLimitClock(l, true)
	var starts []time.Time
	for i := range 10 {
		require.NoError(t, l.wait(context.Background(), i%2 == 0))
		starts = append(starts, clock.now())
	}
	for i := 3; i < len(starts); i++ {
		require.GreaterOrEqual(t, starts[i].Sub(starts[i-3]), time.Second, "start %d is within a second of start %d", i, i-3)
	}
	require.Equal(t, starts[0], starts[2], "the first three go at once")
	require.Equal(t, 3*(time.Second+limitMargin), starts[9].Sub(starts[0]), "then three per window")
}

func TestLimiterShapes(t *testing.T) {
	require.Nil(t, newLimiter(0))
	require.Len(t, newLimiter(2.9).sent, 2, "a fraction is rounded down: never over the quota")
	half := newLimiter(0.5)
	require.Len(t, half.sent, 1)
	require.Equal(t, 2*time.Second+limitMargin, half.per)

	// A caller whose context ends while it waits is not counted.
	l := newLimiter(1)
	clock := newLimitClock(l, false)
	require.NoError(t, l.wait(context.Background(), false))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, l.wait(ctx, true), context.Canceled)
	require.Equal(t, clock.now(), l.sent[0], "only the first start is counted")

	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.wait(ctx, false) }()
	require.Eventually(t, func() bool { _, r := queued(l); return r == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	_, r := queued(l)
	require.Zero(t, r, "a cancelled caller leaves the queue")
	clock.advance(time.Hour)
	require.Equal(t, time.Unix(1_700_000_000, 0), l.sent[0], "and takes no slot")
	var none *limiter
	require.NoError(t, none.wait(context.Background(), true))
}

// TestLimiterWritesGoFirst: with five searches already queued for a cap of
// one a second, a create asked for after them gets the very next slot, one
// window later, and the searches follow one a window.
func TestLimiterWritesGoFirst(t *testing.T) {
	l := newLimiter(1)
	clock := newLimitClock(l, false)
	require.NoError(t, l.wait(context.Background(), false), "the first start is free")

	reads := make(chan error, 5)
	for i := range 5 {
		go func() { reads <- l.wait(context.Background(), false) }()
		// Queue them one by one, so the reads are the oldest waiters.
		require.Eventually(t, func() bool { _, r := queued(l); return r == i+1 }, 5*time.Second, time.Millisecond)
	}
	write := make(chan error, 1)
	go func() { write <- l.wait(context.Background(), true) }()
	require.Eventually(t, func() bool { w, _ := queued(l); return w == 1 }, 5*time.Second, time.Millisecond)

	clock.advance(l.per)
	require.NoError(t, granted(t, write), "the create took the first slot that freed")
	w, r := queued(l)
	require.Equal(t, [2]int{0, 5}, [2]int{w, r}, "no search went before it")

	for i := range 5 {
		clock.advance(l.per)
		require.NoError(t, granted(t, reads))
		_, r = queued(l)
		require.Equal(t, 4-i, r, "one search a window")
	}
}

// TestLimiterWriteUnderSustainedReads: eight goroutines keep asking for
// slots at 3 a second; every create, asked for at any moment, starts within
// one window, and the cap holds for all of them together.
func TestLimiterWriteUnderSustainedReads(t *testing.T) {
	l := newLimiter(3)
	clock := newLimitClock(l, false)
	var mu sync.Mutex
	var starts []time.Time
	started := func() {
		mu.Lock()
		defer mu.Unlock()
		starts = append(starts, clock.now())
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for l.wait(ctx, false) == nil {
				started()
			}
		})
	}
	defer func() { cancel(); wg.Wait() }()
	// All eight queue once the first three started and came back.
	require.Eventually(t, func() bool { _, r := queued(l); return r == 8 }, 5*time.Second, time.Millisecond)

	for range 4 {
		asked := clock.now()
		write := make(chan error, 1)
		go func() { write <- l.wait(ctx, true) }()
		require.Eventually(t, func() bool { w, _ := queued(l); return w == 1 }, 5*time.Second, time.Millisecond)
		clock.advance(l.per)
		require.NoError(t, granted(t, write))
		require.LessOrEqual(t, clock.now().Sub(asked), l.per, "the create waited more than one window")
		started()
		// The readers that started record it and queue again before the
		// clock moves on.
		require.Eventually(t, func() bool { _, r := queued(l); return r == 8 }, 5*time.Second, time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(starts, func(i, j int) bool { return starts[i].Before(starts[j]) })
	for i := 3; i < len(starts); i++ {
		require.GreaterOrEqual(t, starts[i].Sub(starts[i-3]), time.Second, "four starts within one second")
	}
}

// TestClientQPSCapSendsNothingOverIt: a client capped at one request per
// 1,000 s sends its first request, and refuses the second as not sent (a
// transient error: the caller retries) once RequestTimeout passes waiting.
func TestClientQPSCapSendsNothingOverIt(t *testing.T) {
	f := &fakeDataWorks{reply: jsonReply(200, liveCreateReply)}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg := testConfig(strings.TrimPrefix(srv.URL, "http://"))
	cfg.MaxQPS = 0.001
	cfg.RequestTimeout = 50 * time.Millisecond
	c, err := New(cfg)
	require.NoError(t, err)
	_, err = c.CreateManualDag(context.Background(), createReq())
	require.NoError(t, err)
	_, err = c.CreateManualDag(context.Background(), createReq())
	e := mustError(t, err)
	require.Equal(t, dataworks.PhaseNotSent, e.Phase)
	require.Equal(t, dataworks.CodeQPSCap, e.Code)
	require.True(t, retried(err), "retried by the activities, and a create that was not sent may be")
	require.True(t, dataworks.NotSent(err))
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Len(t, f.got, 1, "one request reached DataWorks")
	require.Error(t, Config{Region: "cn-shanghai", MaxQPS: -1}.Validate())
}
