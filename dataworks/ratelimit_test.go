package dataworks

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeClock is a clock that moves only when the limiter sleeps.
type fakeClock struct{ t time.Time }

func (c *fakeClock) use(l *limiter) {
	l.now = func() time.Time { return c.t }
	l.sleep = func(ctx context.Context, d time.Duration) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		c.t = c.t.Add(d)
		return nil
	}
}

// TestLimiterNeverExceedsItsWindow: at 3 a second, 10 requests asked for at
// once start 3 at a time, a window apart: no 4 within one second.
func TestLimiterNeverExceedsItsWindow(t *testing.T) {
	l := newLimiter(3)
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	clock.use(l)
	var starts []time.Time
	for range 10 {
		require.NoError(t, l.wait(context.Background()))
		starts = append(starts, clock.t)
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
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	clock.use(l)
	require.NoError(t, l.wait(context.Background()))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, l.wait(ctx), context.Canceled)
	require.Equal(t, time.Unix(1_700_000_000, 0), l.sent[0], "only the first start is counted")
	var none *limiter
	require.NoError(t, none.wait(context.Background()))
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
	require.Equal(t, PhaseNotSent, e.Phase)
	require.Equal(t, CodeQPSCap, e.Code)
	require.True(t, Transient(err), "retried by the activities, and a create that was not sent may be")
	require.True(t, NotSent(err))
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Len(t, f.got, 1, "one request reached DataWorks")
	require.Error(t, Config{Region: "cn-shanghai", MaxQPS: -1}.Validate())
}
