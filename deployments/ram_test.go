package deployments

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/manualdag/manualdag/dataworks/aliyun"
)

// ramPolicy is a RAM policy document as the worker's policies use it.
type ramPolicy struct {
	Version   string `json:"Version"`
	Statement []struct {
		Effect   string   `json:"Effect"`
		Action   []string `json:"Action"`
		Resource string   `json:"Resource"`
	} `json:"Statement"`
}

func ramPolicyFile(version string) string {
	return filepath.Join("ram", "dataworks-"+version+".json")
}

// Each API version the client speaks has a policy allowing exactly the
// actions the client can send under it: what the worker needs, nothing more.
func TestRAMPolicies(t *testing.T) {
	versions := aliyun.APIVersions()
	require.NotEmpty(t, versions)
	want := map[string]bool{"README.md": true}
	for _, v := range versions {
		want[filepath.Base(ramPolicyFile(v))] = true
		t.Run(v, func(t *testing.T) {
			b, err := os.ReadFile(ramPolicyFile(v))
			require.NoError(t, err, "API version %s has no RAM policy: add %s with the actions of aliyun.Actions(%q)", v, ramPolicyFile(v), v)
			var p ramPolicy
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			require.NoError(t, dec.Decode(&p), "%s is not a policy of the expected shape", ramPolicyFile(v))
			assert.Equal(t, "1", p.Version, "RAM policy documents are Version 1")
			require.Len(t, p.Statement, 1, "one Allow statement")
			s := p.Statement[0]
			assert.Equal(t, "Allow", s.Effect)
			assert.Equal(t, "*", s.Resource, "DataWorks has no resource-level authorization for these actions")
			var actions []string
			for _, a := range aliyun.Actions(v) {
				actions = append(actions, aliyun.RAMCode+":"+a)
			}
			assert.Equal(t, actions, s.Action, "%s allows exactly dataworks: + aliyun.Actions(%q), sorted", ramPolicyFile(v), v)
			for _, a := range s.Action {
				assert.NotContains(t, a, "*", "no wildcard action")
			}
		})
	}
	entries, err := os.ReadDir("ram")
	require.NoError(t, err)
	for _, e := range entries {
		assert.True(t, want[e.Name()], "ram/%s is for no API version the client speaks (%s)", e.Name(), strings.Join(versions, ", "))
	}
	readme, err := os.ReadFile(filepath.Join("ram", "README.md"))
	require.NoError(t, err)
	for _, v := range versions {
		assert.True(t, slices.Contains(strings.Fields(string(readme)), "[`dataworks-"+v+".json`](dataworks-"+v+".json)"), "ram/README.md lists the %s policy", v)
	}
}
