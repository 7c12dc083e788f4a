package aliyun

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/manualdag/manualdag/dataworks"
)

// Decoders of the 2024-05-18 replies. A success carries no Success or code
// field, only RequestId and the data; an error comes as a non-2xx reply in
// the common shape {"RequestId","HttpStatusCode","Code","Message",
// "Recommend"} (decodeErrorReply), and a business error inside a 2xx, should
// one come, is caught by decodeEnvelope as for the other versions. The
// tolerance rules of decode.go apply: names match case-insensitively, ids
// may be numeric strings, times are epoch milliseconds.

// replyContext is what every 2024 decoder needs: the parsed object and a
// way to name a malformed reply.
type replyContext struct {
	o      jsonObject
	status int
	reqID  string
}

func open2024(status int, headerRequestID string, body []byte) (replyContext, error) {
	o, e := decodeEnvelope(status, headerRequestID, body)
	if e != nil {
		return replyContext{}, e
	}
	reqID := o.strOrEmpty("RequestId")
	if reqID == "" {
		reqID = headerRequestID
	}
	return replyContext{o: o, status: status, reqID: reqID}, nil
}

func (rc replyContext) fail(format string, args ...any) error {
	return replyError(rc.status, rc.reqID, fmt.Errorf(format, args...))
}

// object reads field name of o as an object; ok false when it is missing.
func (o jsonObject) object(name string) (jsonObject, bool, error) {
	v, ok := o.get(name)
	if !ok {
		return nil, false, nil
	}
	v = bytes.TrimSpace(v)
	if len(v) == 0 || v[0] != '{' {
		return nil, true, fmt.Errorf("field %s is not an object", name)
	}
	var out jsonObject
	if err := json.Unmarshal(v, &out); err != nil {
		return nil, true, fmt.Errorf("field %s: %w", name, err)
	}
	return out, true, nil
}

// list reads field name of o as an array of raw values; nil when missing.
func (o jsonObject) list(name string) ([]json.RawMessage, error) {
	v, ok := o.get(name)
	if !ok {
		return nil, nil
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(v, &raws); err != nil {
		return nil, fmt.Errorf("field %s is not an array: %w", name, err)
	}
	return raws, nil
}

// int reads an integer field; 0 when it is missing.
func (o jsonObject) int(name string) (int64, error) {
	v, ok := o.get(name)
	if !ok {
		return 0, nil
	}
	n, err := rawInt(v)
	if err != nil {
		return 0, fmt.Errorf("%s %w", name, err)
	}
	return n, nil
}

func (o jsonObject) time(name string) (time.Time, error) {
	v, ok := o.get(name)
	if !ok {
		return time.Time{}, nil
	}
	t, err := rawTime(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %w", name, err)
	}
	return t, nil
}

// decodeOperationID reads the OperationId of a CreateWorkflowInstances
// reply. A success without one cannot be followed: the create's outcome is
// then unknown (an InvalidResponse is never a refusal).
func decodeOperationID(status int, headerRequestID string, body []byte) (string, error) {
	rc, err := open2024(status, headerRequestID, body)
	if err != nil {
		return "", err
	}
	id, err := rc.o.str("OperationId")
	if err != nil {
		return "", rc.fail("%v", err)
	}
	if id = strings.TrimSpace(id); id == "" {
		return "", rc.fail("reply has no OperationId")
	}
	return id, nil
}

// decodeCreateResult reads a GetCreateWorkflowInstancesResult reply:
// {"Result":{"Status","WorkflowInstanceIds","FailureMessage"}}.
func decodeCreateResult(status int, headerRequestID string, body []byte) (dataworks.CreateResult, error) {
	var res dataworks.CreateResult
	rc, err := open2024(status, headerRequestID, body)
	if err != nil {
		return res, err
	}
	r, ok, err := rc.o.object("Result")
	switch {
	case err != nil:
		return res, rc.fail("%v", err)
	case !ok:
		return res, rc.fail("reply has no Result")
	}
	if res.Status, err = r.str("Status"); err != nil {
		return res, rc.fail("%v", err)
	}
	res.Status = canonicalCreateStatus(res.Status)
	res.FailureMessage = r.strOrEmpty("FailureMessage")
	raws, err := r.list("WorkflowInstanceIds")
	if err != nil {
		return res, rc.fail("%v", err)
	}
	for i, raw := range raws {
		id, err := rawInt(raw)
		if err != nil || id <= 0 {
			return res, rc.fail("WorkflowInstanceIds[%d] is not a positive id", i)
		}
		res.WorkflowInstanceIDs = append(res.WorkflowInstanceIDs, id)
	}
	switch res.Status {
	case dataworks.CreateStatusCreated:
		if len(res.WorkflowInstanceIDs) == 0 {
			return res, rc.fail("Status Created without WorkflowInstanceIds")
		}
	case dataworks.CreateStatusCreating, dataworks.CreateStatusFailure:
	default:
		return res, rc.fail("Status %.40q is not Creating, Created or CreateFailure", res.Status)
	}
	return res, nil
}

// canonicalCreateStatus reads the create status however cased.
func canonicalCreateStatus(s string) string {
	for _, v := range []string{dataworks.CreateStatusCreating, dataworks.CreateStatusCreated, dataworks.CreateStatusFailure} {
		if strings.EqualFold(strings.TrimSpace(s), v) {
			return v
		}
	}
	return s
}

// paging reads {"PagingInfo":{"TotalCount", name:[…]}}. A reply without
// PagingInfo or without the list holds nothing (a new run lists no task for
// a while).
func (rc replyContext) paging(name string) ([]json.RawMessage, int, error) {
	p, ok, err := rc.o.object("PagingInfo")
	if err != nil {
		return nil, 0, rc.fail("%v", err)
	}
	if !ok {
		return nil, 0, nil
	}
	total, err := p.int("TotalCount")
	if err != nil {
		return nil, 0, rc.fail("%v", err)
	}
	raws, err := p.list(name)
	if err != nil {
		return nil, 0, rc.fail("%v", err)
	}
	return raws, int(total), nil
}

// decodeTaskInstances reads one page of a ListTaskInstances reply for
// workflow instance dagID, and the TotalCount.
func decodeTaskInstances(status int, headerRequestID string, body []byte, dagID int64) ([]dataworks.NodeInstance, int, error) {
	rc, err := open2024(status, headerRequestID, body)
	if err != nil {
		return nil, 0, err
	}
	raws, total, err := rc.paging("TaskInstances")
	if err != nil {
		return nil, 0, err
	}
	out := make([]dataworks.NodeInstance, 0, len(raws))
	for i, raw := range raws {
		ni, err := decodeTaskInstance(raw, dagID)
		if err != nil {
			return nil, 0, rc.fail("task instance %d: %v", i, err)
		}
		out = append(out, ni)
	}
	return out, total, nil
}

func decodeTaskInstance(raw json.RawMessage, dagID int64) (dataworks.NodeInstance, error) {
	var ni dataworks.NodeInstance
	o, err := parseObject(raw)
	if err != nil {
		return ni, errors.New("is not an object")
	}
	if ni.InstanceID, err = o.int("Id"); err != nil {
		return ni, err
	}
	if ni.InstanceID <= 0 {
		return ni, fmt.Errorf("has no positive Id")
	}
	if ni.DagID, err = o.int("WorkflowInstanceId"); err != nil {
		return ni, err
	}
	switch {
	case ni.DagID < 0:
		return ni, fmt.Errorf("WorkflowInstanceId %d is negative", ni.DagID)
	case ni.DagID == 0:
		ni.DagID = dagID
	case dagID > 0 && ni.DagID != dagID:
		return ni, fmt.Errorf("belongs to workflow instance %d, not the one asked for (%d)", ni.DagID, dagID)
	}
	if ni.NodeID, err = o.int("TaskId"); err != nil {
		return ni, err
	}
	run, err := o.int("RunNumber")
	if err != nil {
		return ni, err
	}
	ni.RunNumber = int(run)
	if v, ok := o.get("Status"); ok {
		s, err := rawString(v)
		if err != nil {
			return ni, fmt.Errorf("field Status %w", err)
		}
		ni.Status = parseStatus(s)
	}
	if ni.NodeName, err = o.str("TaskName"); err != nil {
		return ni, err
	}
	if ni.ParaValue, err = o.str("ScriptParameters"); err != nil {
		return ni, err
	}
	times := []struct {
		name string
		dst  *time.Time
	}{
		{"Bizdate", &ni.Bizdate},
		{"CreateTime", &ni.CreateTime},
		{"ModifyTime", &ni.ModifyTime},
		{"StartedTime", &ni.BeginRunningTime},
		{"FinishedTime", &ni.FinishTime},
	}
	for _, f := range times {
		if *f.dst, err = o.time(f.name); err != nil {
			return ni, err
		}
	}
	return ni, nil
}

// decodeWorkflowInstances reads one page of a ListWorkflowInstances reply,
// and the TotalCount.
func decodeWorkflowInstances(status int, headerRequestID string, body []byte) ([]dataworks.WorkflowInstance, int, error) {
	rc, err := open2024(status, headerRequestID, body)
	if err != nil {
		return nil, 0, err
	}
	raws, total, err := rc.paging("WorkflowInstances")
	if err != nil {
		return nil, 0, err
	}
	out := make([]dataworks.WorkflowInstance, 0, len(raws))
	for i, raw := range raws {
		wi, err := decodeWorkflowInstance(raw)
		if err != nil {
			return nil, 0, rc.fail("workflow instance %d: %v", i, err)
		}
		out = append(out, wi)
	}
	return out, total, nil
}

func decodeWorkflowInstance(raw json.RawMessage) (dataworks.WorkflowInstance, error) {
	var wi dataworks.WorkflowInstance
	o, err := parseObject(raw)
	if err != nil {
		return wi, errors.New("is not an object")
	}
	if wi.ID, err = o.int("Id"); err != nil {
		return wi, err
	}
	if wi.ID <= 0 {
		return wi, errors.New("has no positive Id")
	}
	if wi.WorkflowID, err = o.int("WorkflowId"); err != nil {
		return wi, err
	}
	if wi.ProjectID, err = o.int("ProjectId"); err != nil {
		return wi, err
	}
	wi.Name = o.strOrEmpty("Name")
	wi.Type = o.strOrEmpty("Type")
	wi.Status = parseStatus(o.strOrEmpty("Status"))
	if wi.Bizdate, err = o.time("BizDate"); err != nil {
		return wi, err
	}
	if wi.CreateTime, err = o.time("CreateTime"); err != nil {
		return wi, err
	}
	tags, err := o.list("Tags")
	if err != nil {
		return wi, err
	}
	for i, raw := range tags {
		t, err := parseObject(raw)
		if err != nil {
			return wi, fmt.Errorf("tag %d is not an object", i)
		}
		if wi.Tags == nil {
			wi.Tags = map[string]string{}
		}
		wi.Tags[t.strOrEmpty("Key")] = t.strOrEmpty("Value")
	}
	return wi, nil
}

// decodeSuccessInfo reads a batch operation's reply,
// {"SuccessInfo":{"<id>":{"Success":true,"Message":""}}}, for instance id.
func decodeSuccessInfo(status int, headerRequestID string, body []byte, id int64) error {
	rc, err := open2024(status, headerRequestID, body)
	if err != nil {
		return err
	}
	info, ok, err := rc.o.object("SuccessInfo")
	switch {
	case err != nil:
		return rc.fail("%v", err)
	case !ok:
		return rc.fail("reply has no SuccessInfo")
	}
	entry, ok, err := info.object(strconv.FormatInt(id, 10))
	switch {
	case err != nil:
		return rc.fail("%v", err)
	case !ok:
		return rc.fail("SuccessInfo says nothing of instance %d", id)
	}
	v, _ := entry.get("Success")
	done, err := rawBool(v)
	if err != nil {
		return rc.fail("SuccessInfo of instance %d: Success %v", id, err)
	}
	if !done {
		msg := entry.strOrEmpty("Message")
		if msg == "" {
			msg = fmt.Sprintf("DataWorks answered Success=false for instance %d", id)
		}
		return &dataworks.Error{Phase: dataworks.PhaseReplied, HTTPStatus: status, Code: dataworks.CodeUnsuccessful, Message: msg, RequestID: rc.reqID}
	}
	return nil
}

// decodeTaskLog reads a GetTaskInstanceLog reply: {"TaskInstanceLog":"…"}.
func decodeTaskLog(status int, headerRequestID string, body []byte) (string, error) {
	rc, err := open2024(status, headerRequestID, body)
	if err != nil {
		return "", err
	}
	s, err := rc.o.str("TaskInstanceLog")
	if err != nil {
		return "", rc.fail("%v", err)
	}
	return s, nil
}
