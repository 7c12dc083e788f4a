package openevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/manualdag/manualdag/dag"
)

// The CloudEvent source and types manualdag reads. The docs name each type
// both by its EventBridge type and by an eventCode; either is accepted
// (case-insensitively).
const (
	SourceDataWorks = "acs.dataworks"

	TypeDagStatusChanges      = "dataworks:DagStatusChanges:DagStatusChanges"
	TypeInstanceStatusChanges = "dataworks:InstanceStatusChanges:InstanceStatusChanges"

	EventCodeDagStatusChanges      = "dag-status-changes"
	EventCodeInstanceStatusChanges = "instance-status-changes"
)

// MaxIDLength bounds a CloudEvent id: the de-duplication keeps a hash of it,
// but an id this long is no DataWorks id.
const MaxIDLength = 256

// Errors of Parse. The receiver answers ErrIgnored with 200 (EventBridge
// must not retry an event that will never be used) and ErrMalformed with
// 400.
var (
	// ErrMalformed: the body is not a CloudEvent, or an event of a type
	// manualdag uses without the fields it needs (dagId).
	ErrMalformed = errors.New("malformed")
	// ErrIgnored: a well-formed CloudEvent that manualdag has no use for
	// (another type or source, or an instance of a scheduled node).
	ErrIgnored = errors.New("ignored")
)

// CloudEvent is the CloudEvents 1.0 structured-mode JSON envelope in which
// EventBridge delivers a DataWorks event. Unmarshalling is lenient: a string
// attribute sent as a number keeps the number's text, and an attribute of
// the wrong shape is left empty rather than refusing the event.
type CloudEvent struct {
	ID                 string          `json:"id"`
	Source             string          `json:"source"`
	Type               string          `json:"type"`
	Subject            string          `json:"subject,omitempty"`
	Time               string          `json:"time,omitempty"`
	SpecVersion        string          `json:"specversion"`
	DataContentType    string          `json:"datacontenttype,omitempty"`
	AliyunAccountID    string          `json:"aliyunaccountid,omitempty"`
	AliyunPublishTime  string          `json:"aliyunpublishtime,omitempty"`
	AliyunEventBusName string          `json:"aliyuneventbusname,omitempty"`
	AliyunRegionID     string          `json:"aliyunregionid,omitempty"`
	Data               json.RawMessage `json:"data,omitempty"`
}

// UnmarshalJSON reads the envelope leniently (see CloudEvent).
func (e *CloudEvent) UnmarshalJSON(b []byte) error {
	return decodeFields(b, map[string]func(json.RawMessage) error{
		"id":                 textField(&e.ID),
		"source":             textField(&e.Source),
		"type":               textField(&e.Type),
		"subject":            textField(&e.Subject),
		"time":               textField(&e.Time),
		"specversion":        textField(&e.SpecVersion),
		"datacontenttype":    textField(&e.DataContentType),
		"aliyunaccountid":    textField(&e.AliyunAccountID),
		"aliyunpublishtime":  textField(&e.AliyunPublishTime),
		"aliyuneventbusname": textField(&e.AliyunEventBusName),
		"aliyunregionid":     textField(&e.AliyunRegionID),
		"data": func(v json.RawMessage) error {
			e.Data = append(json.RawMessage(nil), v...)
			return nil
		},
	})
}

// DagStatusData is the data of dataworks:DagStatusChanges: a manually
// triggered workflow run (or a backfill) changed state. Status is 1 not
// run, 4 running, 5 failed, 6 succeeded; nil when absent or unreadable.
// BizDate and CreateTime are "yyyy-mm-dd hh24:mi:ss" text as documented
// (a number is kept as its digits).
type DagStatusData struct {
	DagID      int64  `json:"dagId"`
	DagName    string `json:"dagName,omitempty"`
	DagType    *int64 `json:"dagType,omitempty"`
	FlowID     int64  `json:"flowId,omitempty"`
	FlowName   string `json:"flowName,omitempty"`
	ProjectID  int64  `json:"projectId,omitempty"`
	ProjectEnv string `json:"projectEnv,omitempty"`
	BizDate    string `json:"bizDate,omitempty"`
	CreateTime string `json:"createTime,omitempty"`
	Operator   string `json:"operator,omitempty"`
	TenantID   int64  `json:"tenantId,omitempty"`
	Status     *int64 `json:"status,omitempty"`
}

// UnmarshalJSON reads the data leniently: numbers as JSON numbers or
// strings, a field of the wrong shape left unset.
func (d *DagStatusData) UnmarshalJSON(b []byte) error {
	return decodeFields(b, map[string]func(json.RawMessage) error{
		"dagid":      intField(&d.DagID),
		"dagname":    textField(&d.DagName),
		"dagtype":    optionalIntField(&d.DagType),
		"flowid":     intField(&d.FlowID),
		"flowname":   textField(&d.FlowName),
		"projectid":  intField(&d.ProjectID),
		"projectenv": textField(&d.ProjectEnv),
		"bizdate":    textField(&d.BizDate),
		"createtime": textField(&d.CreateTime),
		"operator":   textField(&d.Operator),
		"tenantid":   intField(&d.TenantID),
		"status":     statusField(&d.Status),
	})
}

// InstanceStatusData is the data of dataworks:InstanceStatusChanges: one
// node instance changed state. TaskID is the instance id, AppID the
// workspace. DagType: 0 scheduled, 1 manual task, 2 smoke test, 3 backfill,
// 4 and 5 manual or temporary workflow (pages swap these two). Status is
// the SearchManualDagNodeInstance integer (1..8; one page uses 0 for not
// run); nil when absent or unreadable. The times are epoch milliseconds.
type InstanceStatusData struct {
	TaskID            int64  `json:"taskId"`
	NodeID            int64  `json:"nodeId"`
	DagID             int64  `json:"dagId"`
	DagType           *int64 `json:"dagType,omitempty"`
	FlowID            int64  `json:"flowId,omitempty"`
	AppID             int64  `json:"appId,omitempty"`
	TenantID          int64  `json:"tenantId,omitempty"`
	Status            *int64 `json:"status,omitempty"`
	BeginWaitTimeTime int64  `json:"beginWaitTimeTime,omitempty"`
	BeginWaitResTime  int64  `json:"beginWaitResTime,omitempty"`
	BeginRunningTime  int64  `json:"beginRunningTime,omitempty"`
	FinishTime        int64  `json:"finishTime,omitempty"`
	CreateTime        int64  `json:"createTime,omitempty"`
	ModifyTime        int64  `json:"modifyTime,omitempty"`
}

// UnmarshalJSON reads the data leniently (see DagStatusData).
func (d *InstanceStatusData) UnmarshalJSON(b []byte) error {
	return decodeFields(b, map[string]func(json.RawMessage) error{
		"taskid":            intField(&d.TaskID),
		"nodeid":            intField(&d.NodeID),
		"dagid":             intField(&d.DagID),
		"dagtype":           optionalIntField(&d.DagType),
		"flowid":            intField(&d.FlowID),
		"appid":             intField(&d.AppID),
		"tenantid":          intField(&d.TenantID),
		"status":            statusField(&d.Status),
		"beginwaittimetime": intField(&d.BeginWaitTimeTime),
		"beginwaitrestime":  intField(&d.BeginWaitResTime),
		"beginrunningtime":  intField(&d.BeginRunningTime),
		"finishtime":        intField(&d.FinishTime),
		"createtime":        intField(&d.CreateTime),
		"modifytime":        intField(&d.ModifyTime),
	})
}

// Parse reads one pushed CloudEvent into the hint a run receives. It
// returns an error wrapping ErrMalformed when body is not a CloudEvent or
// lacks what routing needs (id, type, data.dagId), and one wrapping
// ErrIgnored for an event manualdag has no use for: another source or type,
// or an instance event of a node that is not in a manual workflow (dagType
// 0..3: the flood of scheduled instances would otherwise cost a visibility
// query each). A DAG event is never filtered on dagType: it fires only for
// manual workflows and backfills, and its dagType values are not documented.
func Parse(body []byte) (dag.Event, error) {
	if b := bytes.TrimSpace(body); len(b) > 0 && b[0] == '[' {
		return dag.Event{}, fmt.Errorf("%w: a batch (JSON array) of events: set the EventBridge target to push one event per request", ErrMalformed)
	}
	var e CloudEvent
	if err := json.Unmarshal(body, &e); err != nil {
		return dag.Event{}, fmt.Errorf("%w: not a CloudEvent (a JSON object with id, type and data): %v", ErrMalformed, err)
	}
	if e.ID == "" || e.Type == "" {
		return dag.Event{}, fmt.Errorf("%w: a CloudEvent needs an id and a type", ErrMalformed)
	}
	if len(e.ID) > MaxIDLength {
		return dag.Event{}, fmt.Errorf("%w: id longer than %d bytes", ErrMalformed, MaxIDLength)
	}
	kind := kindOf(e.Type)
	if kind == "" || (e.Source != "" && e.Source != SourceDataWorks) {
		return dag.Event{}, fmt.Errorf("%w: not an event manualdag uses", ErrIgnored)
	}
	data, err := e.dataObject()
	if err != nil {
		return dag.Event{}, err
	}
	ev := dag.Event{ID: e.ID, Kind: kind, Time: e.eventTime()}
	var code *int64
	switch kind {
	case dag.EventDag:
		var d DagStatusData
		if err := json.Unmarshal(data, &d); err != nil {
			return dag.Event{}, fmt.Errorf("%w: data: %v", ErrMalformed, err)
		}
		ev.DagID, code = d.DagID, d.Status
	default:
		var d InstanceStatusData
		if err := json.Unmarshal(data, &d); err != nil {
			return dag.Event{}, fmt.Errorf("%w: data: %v", ErrMalformed, err)
		}
		if d.DagType != nil && *d.DagType >= 0 && *d.DagType <= 3 {
			return dag.Event{}, fmt.Errorf("%w: an instance of dagType %d is not in a manual workflow", ErrIgnored, *d.DagType)
		}
		ev.DagID, ev.NodeID, ev.InstanceID, code = d.DagID, d.NodeID, d.TaskID, d.Status
	}
	if ev.DagID <= 0 {
		return dag.Event{}, fmt.Errorf("%w: data.dagId missing or not a positive integer", ErrMalformed)
	}
	ev.Status, ev.Final = statusOf(code)
	return ev, nil
}

func kindOf(typ string) string {
	switch {
	case strings.EqualFold(typ, TypeDagStatusChanges), strings.EqualFold(typ, EventCodeDagStatusChanges):
		return dag.EventDag
	case strings.EqualFold(typ, TypeInstanceStatusChanges), strings.EqualFold(typ, EventCodeInstanceStatusChanges):
		return dag.EventInstance
	}
	return ""
}

// dataObject is data as a JSON object; some senders put the object in a
// JSON string.
func (e *CloudEvent) dataObject() (json.RawMessage, error) {
	d := bytes.TrimSpace(e.Data)
	if len(d) > 0 && d[0] == '"' {
		var s string
		if err := json.Unmarshal(d, &s); err == nil {
			d = bytes.TrimSpace([]byte(s))
		}
	}
	if len(d) == 0 || d[0] != '{' {
		return nil, fmt.Errorf("%w: data is not a JSON object", ErrMalformed)
	}
	return d, nil
}

// eventTime is the CloudEvent time, else aliyunpublishtime; zero when
// neither reads as a time.
func (e *CloudEvent) eventTime() time.Time {
	for _, s := range []string{e.Time, e.AliyunPublishTime} {
		if t, ok := parseTime(s); ok {
			return t
		}
	}
	return time.Time{}
}

// parseTime reads RFC 3339 (the CloudEvents format) or epoch milliseconds.
func parseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), true
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms > 0 {
		return time.UnixMilli(ms).UTC(), true
	}
	return time.Time{}, false
}

// statusOf maps a DAG or instance status integer onto dag.Status: 0 (one
// page's not-run) is NOT_RUN, 1..8 as SearchManualDagNodeInstance, anything
// else "" (unknown to the receiver). 5 and 6 are final.
func statusOf(code *int64) (dag.Status, bool) {
	if code == nil {
		return "", false
	}
	switch c := *code; {
	case c == 0:
		return dag.StatusNotRun, false
	case c >= 1 && c <= 8:
		s := dag.StatusFromCode(int(c))
		return s, s.Terminal()
	}
	return "", false
}

// decodeFields decodes a JSON object field by field: keys match
// case-insensitively (as encoding/json does), unknown keys are skipped, and
// so is a field whose setter refuses its value, so that one odd field
// never loses the whole event. Only a body that is not a JSON object is an
// error.
func decodeFields(b []byte, setters map[string]func(json.RawMessage) error) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	if fields == nil {
		return errors.New("null is not an object")
	}
	for k, v := range fields {
		if set, ok := setters[strings.ToLower(k)]; ok {
			_ = set(v) // lenient by design: the field stays unset
		}
	}
	return nil
}

// textField accepts a string, or a number or boolean (kept as its text).
func textField(dst *string) func(json.RawMessage) error {
	return func(v json.RawMessage) error {
		v = bytes.TrimSpace(v)
		switch {
		case len(v) == 0 || string(v) == "null":
			return nil
		case v[0] == '"':
			return json.Unmarshal(v, dst)
		case v[0] == '{' || v[0] == '[':
			return errors.New("not a string")
		}
		*dst = string(v)
		return nil
	}
}

// intField accepts an integer as a JSON number (also 1.6e12 or 4.0) or a
// string holding one.
func intField(dst *int64) func(json.RawMessage) error {
	return func(v json.RawMessage) error {
		n, ok, err := readInt(v)
		if ok {
			*dst = n
		}
		return err
	}
}

// optionalIntField is intField for a field whose absence differs from 0.
func optionalIntField(dst **int64) func(json.RawMessage) error {
	return func(v json.RawMessage) error {
		n, ok, err := readInt(v)
		if ok {
			*dst = &n
		}
		return err
	}
}

// statusField is optionalIntField that also takes a status name
// ("RUNNING", as the 2020 API spells them) for its code.
func statusField(dst **int64) func(json.RawMessage) error {
	return func(v json.RawMessage) error {
		n, ok, err := readInt(v)
		if !ok {
			var name string
			if json.Unmarshal(v, &name) != nil {
				return err
			}
			s := dag.Status(strings.ToUpper(strings.TrimSpace(name)))
			if !s.Known() {
				return fmt.Errorf("unknown status %q", name)
			}
			n, ok = int64(s.Code()), true
		}
		if ok {
			*dst = &n
		}
		return nil
	}
}

// readInt reads a JSON integer or a string holding one; ok is false for
// null and for what is not an integer (then err says why).
func readInt(v json.RawMessage) (n int64, ok bool, err error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return 0, false, nil
	}
	s := string(v)
	if v[0] == '"' {
		if err := json.Unmarshal(v, &s); err != nil {
			return 0, false, err
		}
		s = strings.TrimSpace(s)
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false, fmt.Errorf("%q is not an integer", s)
	}
	return int64(f), true, nil
}
