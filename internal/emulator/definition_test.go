package emulator

import (
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSampleDefinition(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	def, err := LoadDefinition(filepath.Join(filepath.Dir(file), "sample-project.yaml"))
	require.NoError(t, err)
	assert.Equal(t, def, SampleDefinition(), "the embedded sample is the file")
	flow, projectID, err := def.flow("demo_project", "daily_sales")
	require.NoError(t, err)
	assert.Equal(t, int64(10021), projectID)
	assert.Len(t, flow.Nodes, 7)
	assert.Equal(t, 6*time.Minute, time.Duration(*flow.Nodes[1].Duration))
	_, _, err = def.flow("demo_project", "daily_sales_broken")
	require.NoError(t, err)
}

func TestParseDefinitionJSON(t *testing.T) {
	def, err := ParseDefinition([]byte(`{"projects":[{"name":"p","flows":[{"name":"f","nodes":[{"id":1,"name":"a","duration":"30s"}]}]}]}`))
	require.NoError(t, err)
	assert.Equal(t, 30*time.Second, time.Duration(*def.Projects[0].Flows[0].Nodes[0].Duration))
}

func TestParseDefinitionRejects(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"empty", `projects: []`, "no projects"},
		{"unknown field", `projects: [{name: p, flows: [{name: f, nodes: [{id: 1, name: a, duraton: 1m}]}]}]`, "duraton"},
		{"numeric duration", `projects: [{name: p, flows: [{name: f, nodes: [{id: 1, name: a, duration: 60}]}]}]`, "quoted Go duration"},
		{"bad outcome", `projects: [{name: p, flows: [{name: f, nodes: [{id: 1, name: a, outcome: maybe}]}]}]`, "outcome"},
		{"bad probability", `projects: [{name: p, flows: [{name: f, nodes: [{id: 1, name: a, outcome: flaky, probability: 2}]}]}]`, "probability"},
		{"duplicate id", `projects: [{name: p, flows: [{name: f, nodes: [{id: 1, name: a}, {id: 1, name: b}]}]}]`, "used twice"},
		{"missing upstream", `projects: [{name: p, flows: [{name: f, nodes: [{id: 1, name: a, upstream: [9]}]}]}]`, "upstream 9"},
		{"cycle", `projects: [{name: p, flows: [{name: f, nodes: [{id: 1, name: a, upstream: [2]}, {id: 2, name: b, upstream: [1]}]}]}]`, "cycle"},
		{"byBizdate not a date", `projects: [{name: p, flows: [{name: f, nodes: [{id: 1, name: a, byBizdate: {"June 1": {duration: 1m}}}]}]}]`, `byBizdate key "June 1" is not a yyyy-MM-dd date`},
		{"byBizdate flaky", `projects: [{name: p, flows: [{name: f, nodes: [{id: 1, name: a, byBizdate: {"2024-06-01": {outcome: flaky}}}]}]}]`, "is not success or failure"},
		{"duplicate flow", `projects: [{name: p, flows: [{name: f, nodes: [{id: 1, name: a}]}, {name: f, nodes: [{id: 1, name: a}]}]}]`, "twice"},
		{"duplicate key", "projects: []\nprojects: [{name: p}]", "already defined"},
		{"two documents", "projects: [{name: p, flows: [{name: f, nodes: [{id: 1, name: a}]}]}]\n---\nprojects: []", "more than one YAML document"},
		{"nothing", "", "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDefinition([]byte(tt.doc))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}
