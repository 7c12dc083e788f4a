package activities

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.temporal.io/sdk/temporal"
)

// asStored turns an error into what a client reads back from the server:
// a failure whose details are payloads.
func asStored(err error) error {
	fc := temporal.GetDefaultFailureConverter()
	return fc.FailureToError(fc.ErrorToFailure(err))
}

func TestJudgeEndedMirrorsTheStarter(t *testing.T) {
	const id = "manualdag/p/f/2024-06-01"
	report := func(outcome string, dagID int64) reportFields {
		return reportFields{DagID: dagID, Outcome: outcome, Message: "the report's message"}
	}
	for name, tc := range map[string]struct {
		err       error
		refused   string
		outcome   string
		errorType string
	}{
		"trigger outcome unknown": {
			err:     temporal.NewNonRetryableApplicationError("may or may not have started", ErrTriggerOutcomeUnknown, nil, report("FAILED", 0)),
			refused: "could not tell whether it triggered", outcome: "FAILED", errorType: ErrTriggerOutcomeUnknown,
		},
		"timed out with a DAG": {
			err:     temporal.NewNonRetryableApplicationError("timed out", ErrDagTimedOut, nil, report("TIMED_OUT", 42)),
			refused: "ended TIMED_OUT while DAG 42 may still be running", outcome: "TIMED_OUT", errorType: ErrDagTimedOut,
		},
		"cancelled with a DAG": {
			err:     temporal.NewCanceledError(report("CANCELED", 43)),
			refused: "ended CANCELED while DAG 43", outcome: "CANCELED",
		},
		"cancelled before the trigger": {
			err:     temporal.NewCanceledError(report("CANCELED", 0)),
			outcome: "CANCELED",
		},
		"failed DAG": {
			err:     temporal.NewNonRetryableApplicationError("failed", ErrDagFailed, nil, report("FAILED", 44)),
			outcome: "FAILED", errorType: ErrDagFailed,
		},
		"not triggered": {
			err:       temporal.NewNonRetryableApplicationError("not triggered", ErrNotTriggered, nil, report("FAILED", 0)),
			outcome:   "FAILED",
			errorType: ErrNotTriggered,
		},
		"no report": {err: errors.New("workflow timed out")},
	} {
		t.Run(name, func(t *testing.T) {
			res := judgeEnded(id, LookUpRunResult{Status: RunFailed}, asStored(tc.err))
			if tc.refused == "" {
				assert.Empty(t, res.Refusal)
			} else {
				assert.Contains(t, res.Refusal, tc.refused)
				assert.Contains(t, res.Refusal, "--allow-duplicate")
			}
			assert.Equal(t, tc.outcome, res.Outcome)
			assert.Equal(t, tc.errorType, res.ErrorType)
		})
	}
}
