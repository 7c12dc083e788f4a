package logging

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestTemporalAdapterCarriesFields(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	l := NewTemporal(zap.New(core)).With("workflowId", "wf-1")

	l.Info("polled", "dagId", int64(700019657457), "nodes", 9)
	l.Warn("odd", "dangling")

	entries := logs.All()
	require.Len(t, entries, 2)
	assert.Equal(t, "polled", entries[0].Message)
	ctx := entries[0].ContextMap()
	assert.Equal(t, "wf-1", ctx["workflowId"])
	assert.Equal(t, int64(700019657457), ctx["dagId"])
	assert.EqualValues(t, 9, ctx["nodes"])
	assert.Equal(t, "dangling", entries[1].ContextMap()["!BADKEY"])
}

func TestNewRejectsUnknownSettings(t *testing.T) {
	_, err := New("xml", "info")
	assert.ErrorContains(t, err, `log format "xml"`)
	_, err = New("json", "loud")
	assert.ErrorContains(t, err, `log level "loud"`)
	l, err := New("console", "debug")
	require.NoError(t, err)
	assert.NotNil(t, l)
}
