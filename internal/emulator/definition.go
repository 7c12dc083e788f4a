package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.yaml.in/yaml/v3"
)

// Definition is what the emulator simulates: projects, their manual flows
// and the nodes of each flow. It is read from JSON or YAML (the YAML is
// turned into JSON first, so the field names are the JSON tags).
type Definition struct {
	Projects []Project `json:"projects"`
}

// Project is a DataWorks workspace.
type Project struct {
	Name string `json:"name"`
	// ID is reported as ProjectId by the 2020 API. Default 10000 + index.
	ID    int64  `json:"id,omitempty"`
	Flows []Flow `json:"flows"`
}

// Flow is a manual business flow. The phase durations set here apply to
// every node of the flow that does not set its own.
type Flow struct {
	Name string `json:"name"`
	// ID is the flow's WorkflowId under the 2024-05-18 API. Default the
	// project's id times 100 plus the flow's position (1-based).
	ID int64 `json:"id,omitempty"`
	// WaitTime, WaitResource and Checking are the phase durations in
	// DataWorks time (divided by Options.TimeScale). Defaults: 1s, 5s, 2s.
	WaitTime     *Duration `json:"waitTime,omitempty"`
	WaitResource *Duration `json:"waitResource,omitempty"`
	Checking     *Duration `json:"checking,omitempty"`
	Nodes        []Node    `json:"nodes"`
}

// Outcome says how a node's run ends.
type Outcome string

// Outcomes of a node.
const (
	// OutcomeSuccess always succeeds.
	OutcomeSuccess Outcome = "success"
	// OutcomeFailure fails its first FailAttempts runs (default 1), so a
	// restart succeeds unless FailAttempts says otherwise.
	OutcomeFailure Outcome = "failure"
	// OutcomeFlaky fails its first run with Probability, decided when the
	// DAG is created from the seeded random source.
	OutcomeFlaky Outcome = "flaky"
)

// Node is one node (task) of a flow.
type Node struct {
	ID       int64   `json:"id"`
	Name     string  `json:"name"`
	Upstream []int64 `json:"upstream,omitempty"`
	// Duration is the RUNNING phase in DataWorks time. Default 1m.
	Duration *Duration `json:"duration,omitempty"`
	// Outcome defaults to success.
	Outcome     Outcome `json:"outcome,omitempty"`
	Probability float64 `json:"probability,omitempty"`
	// FailAttempts is how many runs fail before one succeeds, for outcome
	// failure. Default 1; a large number means "fails on every restart too".
	FailAttempts *int `json:"failAttempts,omitempty"`
	// ErrorMessage is what a failed run reports. Default: an ODPS-like error.
	ErrorMessage string `json:"errorMessage,omitempty"`
	// Condition marks a branch node: its post-run check is
	// CHECKING_CONDITION (8) instead of CHECKING (7).
	Condition bool `json:"condition,omitempty"`
	// TaskType is reported by the 2020 API. Default ODPS_SQL.
	TaskType     string    `json:"taskType,omitempty"`
	WaitTime     *Duration `json:"waitTime,omitempty"`
	WaitResource *Duration `json:"waitResource,omitempty"`
	Checking     *Duration `json:"checking,omitempty"`
	// ByBizdate changes the node's run time or outcome in the DAG runs of
	// one bizdate (yyyy-MM-dd): a flow whose run differs from its earlier
	// runs, as a real one does on a lighter day or a bad one.
	ByBizdate map[string]NodeVariant `json:"byBizdate,omitempty"`
}

// NodeVariant is what a node does differently on one bizdate.
type NodeVariant struct {
	Duration *Duration `json:"duration,omitempty"`
	Outcome  Outcome   `json:"outcome,omitempty"`
}

// on is the node as it runs in a DAG run of bizdate.
func (n Node) on(bizdate time.Time) Node {
	v, ok := n.ByBizdate[bizdate.Format(time.DateOnly)]
	if !ok {
		return n
	}
	if v.Duration != nil {
		n.Duration = v.Duration
	}
	if v.Outcome != "" {
		n.Outcome = v.Outcome
	}
	return n
}

// Duration is a time.Duration written as a Go duration string ("90s", "5m")
// in definition files and inspection bodies.
type Duration time.Duration

// MarshalJSON writes the duration as a string such as "1m30s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration %s: write it as a quoted Go duration such as \"5m\"", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", s)
	}
	*d = Duration(v)
	return nil
}

// Phase defaults, in DataWorks time.
const (
	defaultWaitTime     = time.Second
	defaultWaitResource = 5 * time.Second
	defaultChecking     = 2 * time.Second
	defaultRunning      = time.Minute
	defaultTaskType     = "ODPS_SQL"
	defaultErrorMessage = "ODPS-0130071:[1,8] Semantic analysis exception - table or view not found"
)

// LoadDefinition reads and validates a definition file (JSON or YAML).
func LoadDefinition(path string) (*Definition, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read definition: %w", err)
	}
	def, err := ParseDefinition(b)
	if err != nil {
		return nil, fmt.Errorf("definition %s: %w", path, err)
	}
	return def, nil
}

// ParseDefinition decodes and validates a definition (JSON or YAML).
// Unknown fields are rejected so that a typo does not silently change the
// simulation.
func ParseDefinition(b []byte) (*Definition, error) {
	j, err := yamlToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	var def Definition
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&def); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if err := def.Validate(); err != nil {
		return nil, err
	}
	return &def, nil
}

// yamlToJSON turns one YAML document (JSON is YAML) into JSON, so that the
// JSON tags and Duration's UnmarshalJSON serve both formats. The YAML
// decoder refuses a key given twice.
func yamlToJSON(b []byte) ([]byte, error) {
	var v any
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the definition is empty")
		}
		return nil, err
	}
	if err := dec.Decode(new(any)); !errors.Is(err, io.EOF) {
		return nil, errors.New("the definition holds more than one YAML document: give one")
	}
	return json.Marshal(v)
}

// Validate checks names, ids, upstream references, outcomes and that every
// flow is acyclic.
func (d *Definition) Validate() error {
	if len(d.Projects) == 0 {
		return errors.New("no projects: add at least one under \"projects\"")
	}
	projects := map[string]bool{}
	for _, p := range d.Projects {
		if p.Name == "" {
			return errors.New("a project has no name")
		}
		if projects[p.Name] {
			return fmt.Errorf("project %q is defined twice", p.Name)
		}
		projects[p.Name] = true
		flows := map[string]bool{}
		for i := range p.Flows {
			f := &p.Flows[i]
			if f.Name == "" {
				return fmt.Errorf("project %q: a flow has no name", p.Name)
			}
			if flows[f.Name] {
				return fmt.Errorf("project %q: flow %q is defined twice", p.Name, f.Name)
			}
			flows[f.Name] = true
			if err := f.validate(); err != nil {
				return fmt.Errorf("project %q flow %q: %w", p.Name, f.Name, err)
			}
		}
	}
	return nil
}

func (f *Flow) validate() error {
	if len(f.Nodes) == 0 {
		return errors.New("no nodes")
	}
	ids := map[int64]bool{}
	names := map[string]bool{}
	for _, n := range f.Nodes {
		switch {
		case n.ID <= 0:
			return fmt.Errorf("node %q: id must be a positive number", n.Name)
		case n.Name == "":
			return fmt.Errorf("node %d has no name", n.ID)
		case ids[n.ID]:
			return fmt.Errorf("node id %d is used twice", n.ID)
		case names[n.Name]:
			return fmt.Errorf("node name %q is used twice", n.Name)
		}
		ids[n.ID], names[n.Name] = true, true
		switch n.Outcome {
		case "", OutcomeSuccess, OutcomeFailure:
		case OutcomeFlaky:
			if n.Probability < 0 || n.Probability > 1 {
				return fmt.Errorf("node %q: probability %v is not within 0..1", n.Name, n.Probability)
			}
		default:
			return fmt.Errorf("node %q: outcome %q is not one of success, failure, flaky", n.Name, n.Outcome)
		}
		for day, v := range n.ByBizdate {
			if _, err := time.Parse(time.DateOnly, day); err != nil {
				return fmt.Errorf("node %q: byBizdate key %q is not a yyyy-MM-dd date", n.Name, day)
			}
			if v.Outcome != "" && v.Outcome != OutcomeSuccess && v.Outcome != OutcomeFailure {
				return fmt.Errorf("node %q: byBizdate %s: outcome %q is not success or failure", n.Name, day, v.Outcome)
			}
		}
		if n.FailAttempts != nil && *n.FailAttempts < 0 {
			return fmt.Errorf("node %q: failAttempts is negative", n.Name)
		}
	}
	for _, n := range f.Nodes {
		for _, u := range n.Upstream {
			if !ids[u] {
				return fmt.Errorf("node %q: upstream %d is not a node of this flow", n.Name, u)
			}
		}
	}
	if _, err := f.topoOrder(); err != nil {
		return err
	}
	return nil
}

// topoOrder returns node indexes so that every node comes after its
// upstreams; ties keep definition order, so instance ids are stable.
func (f *Flow) topoOrder() ([]int, error) {
	index := make(map[int64]int, len(f.Nodes))
	for i, n := range f.Nodes {
		index[n.ID] = i
	}
	indegree := make([]int, len(f.Nodes))
	down := make([][]int, len(f.Nodes))
	for i, n := range f.Nodes {
		for _, u := range n.Upstream {
			indegree[i]++
			down[index[u]] = append(down[index[u]], i)
		}
	}
	order := make([]int, 0, len(f.Nodes))
	done := make([]bool, len(f.Nodes))
	for len(order) < len(f.Nodes) {
		progressed := false
		for i := range f.Nodes {
			if done[i] || indegree[i] > 0 {
				continue
			}
			done[i], progressed = true, true
			order = append(order, i)
			for _, d := range down[i] {
				indegree[d]--
			}
		}
		if !progressed {
			return nil, errors.New("the upstream links form a cycle")
		}
	}
	return order, nil
}

// flow finds a flow and its project's id.
func (d *Definition) flow(project, flow string) (*Flow, int64, error) {
	for i := range d.Projects {
		p := &d.Projects[i]
		if p.Name != project {
			continue
		}
		id := p.ID
		if id == 0 {
			id = 10000 + int64(i)
		}
		for j := range p.Flows {
			if p.Flows[j].Name == flow {
				return &p.Flows[j], id, nil
			}
		}
		return nil, id, errFlowNotFound
	}
	return nil, 0, errProjectNotFound
}

// flowByID finds a flow by its 2024-05-18 ids and returns it with its
// project's and its own name.
func (d *Definition) flowByID(projectID, workflowID int64) (*Flow, string, string, error) {
	for i := range d.Projects {
		p := &d.Projects[i]
		if projectIDOf(p, i) != projectID {
			continue
		}
		for j := range p.Flows {
			if flowIDOf(p, i, j) == workflowID {
				return &p.Flows[j], p.Name, p.Flows[j].Name, nil
			}
		}
		return nil, p.Name, "", errFlowNotFound
	}
	return nil, "", "", errProjectNotFound
}

// flowID is the 2024-05-18 WorkflowId of a flow, 0 when there is none.
func (d *Definition) flowID(project, flow string) int64 {
	for i := range d.Projects {
		p := &d.Projects[i]
		for j := range p.Flows {
			if p.Name == project && p.Flows[j].Name == flow {
				return flowIDOf(p, i, j)
			}
		}
	}
	return 0
}

func projectIDOf(p *Project, i int) int64 {
	if p.ID != 0 {
		return p.ID
	}
	return 10000 + int64(i)
}

func flowIDOf(p *Project, i, j int) int64 {
	if id := p.Flows[j].ID; id != 0 {
		return id
	}
	return projectIDOf(p, i)*100 + int64(j) + 1
}

var (
	errProjectNotFound = errors.New("project not found")
	errFlowNotFound    = errors.New("flow not found")
)

func pick(node, flow *Duration, def time.Duration) time.Duration {
	switch {
	case node != nil:
		return time.Duration(*node)
	case flow != nil:
		return time.Duration(*flow)
	}
	return def
}
