package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/manualdag/manualdag/dag"
)

// troubleLimit bounds how long a run keeps looking while the searches give
// nothing to judge on (an empty or shrunken node list after nodes were
// listed, an unknown DAG id after it was known, a business error DataWorks
// does not document). A read has no side effect, so it is repeated with
// back-off; past the limit the watch ends with no verdict (WatchLost), and
// a new trigger for the bizdate is refused (activities.Judge) because the
// DAG run may still go on.
const troubleLimit = 30 * time.Minute

// Back-off between searches while in trouble.
const (
	troubleFirstWait = 10 * time.Second
	troubleMaxWait   = 2 * time.Minute
)

// trouble is the watch's state while its searches give nothing to judge on.
type trouble struct {
	Since time.Time `json:"since,omitzero"`
	What  string    `json:"what,omitempty"` // the last search's problem
	Polls int       `json:"polls,omitempty"`
}

func (t trouble) active() bool { return !t.Since.IsZero() }

func (t trouble) expired(now time.Time) bool {
	return t.active() && now.Sub(t.Since) >= troubleLimit
}

// wait is the back-off before the next search: troubleFirstWait doubled
// per search in trouble, up to troubleMaxWait.
func (t trouble) wait() time.Duration {
	d := troubleFirstWait
	for i := 1; i < t.Polls && d < troubleMaxWait; i++ {
		d *= 2
	}
	return min(d, troubleMaxWait)
}

func (t trouble) reason() string {
	return fmt.Sprintf("no verdict while DataWorks' replies are unusable (since %s, %d searches: %s); looking again",
		t.Since.UTC().Format(time.RFC3339), t.Polls, t.What)
}

func (t trouble) err(dagID int64) error {
	return temporal.NewApplicationError(fmt.Sprintf("DataWorks gave no usable node list of DAG %d for %v (%d searches; the last: %s)",
		dagID, troubleLimit, t.Polls, t.What), dag.ErrWatchLost)
}

// troubled records a search that gave nothing to judge on.
func (r *run) troubled(ctx workflow.Context, what string) {
	if !r.st.Trouble.active() {
		r.st.Trouble.Since = workflow.Now(ctx)
	}
	r.st.Trouble.What = what
	r.st.Trouble.Polls++
	r.st.Unchanged++
	r.logger.Warn("Search gave nothing to judge on; keeping the last snapshot", "problem", what, "since", r.st.Trouble.Since)
}
