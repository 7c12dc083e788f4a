package aliyun

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
)

// The decoders here are tolerant exactly where the service is known to be
// inconsistent (see the fact sheet) and strict elsewhere:
//
//   - field names match case-insensitively (InstanceId or instanceId); an
//     exact match wins, then the first matching name in byte order;
//   - SearchManualDagNodeInstance's Data is a bare array or
//     {"NodeInsInfo":[…]}, under Data or data; 2020-05-18 sends Instances;
//   - ids and codes may be JSON numbers or numeric strings; a status is a
//     2018 integer (or numeric string) or a 2020 name;
//   - times are epoch milliseconds (number or numeric string) or
//     "yyyy-MM-dd HH:mm:ss" / "yyyy-MM-dd", read in China Standard Time, the
//     zone the service writes its date strings in; a missing, null, empty
//     or zero time is the zero time;
//   - a field that is missing or null reads as its zero value, except the
//     ids below.
//
// Strict: a reply that is not a JSON object, a DAG id or instance id that is
// missing, zero, negative or not an integer, a time in no known format, and a
// node instance that belongs to another DAG are errors (dataworks.CodeInvalidResponse).
// A node instance listed twice is kept once: the record with the later
// ModifyTime, the later one in the list on a tie, at the position of its
// first appearance.

// serviceZone is the time zone of DataWorks' date strings: China Standard
// Time. China has kept UTC+8 without daylight saving since 1991, so a fixed
// zone is exact for every date DataWorks can hold, and the binary needs no
// tzdata. Decoded times are returned in it, so that
// Bizdate.Format("2006-01-02") is the business date.
var serviceZone = time.FixedZone("CST", 8*60*60)

// jsonObject is one decoded JSON object, values left raw.
type jsonObject map[string]json.RawMessage

func parseObject(b []byte) (jsonObject, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, errors.New("reply is not a JSON object")
	}
	var o jsonObject
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, fmt.Errorf("reply is not valid JSON: %w", err)
	}
	return o, nil
}

// get returns the value of the first of names present and not null.
func (o jsonObject) get(names ...string) (json.RawMessage, bool) {
	for _, name := range names {
		if v, ok := o[name]; ok {
			if isNull(v) {
				continue
			}
			return v, true
		}
		var keys []string
		for k := range o {
			if strings.EqualFold(k, name) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !isNull(o[k]) {
				return o[k], true
			}
		}
	}
	return nil, false
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

func (o jsonObject) str(names ...string) (string, error) {
	v, ok := o.get(names...)
	if !ok {
		return "", nil
	}
	s, err := rawString(v)
	if err != nil {
		return "", fmt.Errorf("%s: %w", names[0], err)
	}
	return s, nil
}

// strOrEmpty is str for fields that only decorate an error.
func (o jsonObject) strOrEmpty(names ...string) string {
	s, _ := o.str(names...)
	return s
}

var integerLiteral = regexp.MustCompile(`^-?[0-9]+$`)

// rawString reads a string, or a number or boolean as its literal text.
func rawString(v json.RawMessage) (string, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "", nil
	}
	switch v[0] {
	case '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", err
		}
		return s, nil
	case '{', '[':
		return "", errors.New("is an object or array, want a string")
	}
	return string(v), nil // number, true, false
}

// rawInt reads an integer given as a JSON number or a numeric string.
func rawInt(v json.RawMessage) (int64, error) {
	s, err := rawString(v)
	if err != nil {
		return 0, err
	}
	s = strings.TrimSpace(s)
	if !integerLiteral.MatchString(s) {
		return 0, fmt.Errorf("%.40q is not an integer", s)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%.40q is out of range", s)
	}
	return n, nil
}

func rawBool(v json.RawMessage) (bool, error) {
	s, err := rawString(v)
	if err != nil {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%.40q is not a boolean", s)
}

// rawTime reads a time: epoch milliseconds as a number or numeric string,
// "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd" (China time) or RFC 3339.
func rawTime(v json.RawMessage) (time.Time, error) {
	s, err := rawString(v)
	if err != nil {
		return time.Time{}, err
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if integerLiteral.MatchString(s) {
		ms, err := strconv.ParseInt(s, 10, 64)
		switch {
		case err != nil || ms < 0:
			return time.Time{}, fmt.Errorf("%.40q is not an epoch-millisecond time", s)
		case ms == 0:
			return time.Time{}, nil
		}
		return time.UnixMilli(ms).In(serviceZone), nil
	}
	for _, layout := range []string{wireBizdateLayout, dag.BizdateLayout} {
		if t, err := time.ParseInLocation(layout, s, serviceZone); err == nil {
			return t, nil
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.In(serviceZone), nil
	}
	return time.Time{}, fmt.Errorf("%.40q is not a time (want epoch milliseconds or yyyy-MM-dd HH:mm:ss)", s)
}

// replyError is the *dataworks.Error for a reply that is not what the API documents.
func replyError(status int, requestID string, err error) *dataworks.Error {
	return &dataworks.Error{
		Phase:      dataworks.PhaseReplied,
		HTTPStatus: status,
		Code:       dataworks.CodeInvalidResponse,
		Message:    err.Error(),
		RequestID:  requestID,
		Err:        err,
	}
}

// codeForStatus names a reply that carries no error code of its own (an HTML
// page from a gateway, say) after its HTTP status, so that the predicates
// still classify it: 429 is throttling, 500 and 503 the service's own codes.
func codeForStatus(status int) string {
	switch status {
	case http.StatusTooManyRequests:
		return dataworks.CodeThrottlingPrefix
	case http.StatusServiceUnavailable:
		return dataworks.CodeServiceUnavailable
	case http.StatusInternalServerError:
		return dataworks.CodeInternalError
	}
	return "HTTP" + strconv.Itoa(status)
}

// decodeErrorReply reads a non-2xx reply: the documented
// {"Code","Message","RequestId","Recommend"}, or any envelope code, or
// something that is not JSON at all. Unlike the SDK it accepts a numeric Code.
func decodeErrorReply(status int, headerRequestID string, body []byte) *dataworks.Error {
	e := &dataworks.Error{Phase: dataworks.PhaseReplied, HTTPStatus: status, RequestID: headerRequestID}
	o, err := parseObject(body)
	if err != nil {
		e.Code = codeForStatus(status)
		e.Message = fmt.Sprintf("HTTP %d reply is not JSON: %s", status, snippet(body))
		e.Err = err
		return e
	}
	e.Code = errorCode(o, status)
	e.Message = o.strOrEmpty("Message", "ErrorMessage", "ErrMsg", "ReturnMessage")
	if id := o.strOrEmpty("RequestId"); id != "" {
		e.RequestID = id
	}
	e.Recommend = o.strOrEmpty("Recommend", "ReturnErrorSolution")
	return e
}

// errorCode picks the code of an error body. A textual code wins over a
// numeric one (2020-05-18 bodies carry both Code and ErrorCode), and a
// numeric code that merely repeats the HTTP status is named after the status
// (codeForStatus), so that 429 and 503 still classify.
func errorCode(o jsonObject, status int) string {
	var first string
	for _, name := range []string{"Code", "ErrorCode", "ErrCode", "ReturnCode"} {
		c := strings.TrimSpace(o.strOrEmpty(name))
		switch {
		case c == "":
			continue
		case !integerLiteral.MatchString(c):
			return c
		case first == "":
			first = c
		}
	}
	if first == "" || first == strconv.Itoa(status) {
		return codeForStatus(status)
	}
	return first
}

// successCodes are values of a generic "Code" field that mean success.
var successCodes = map[string]bool{"": true, "0": true, "200": true, "OK": true, "Success": true}

// checkBusiness finds a business error inside a 2xx reply: Success:false, or
// a ReturnCode / ErrCode / ErrorCode other than "0" or "". A generic Code
// counts only when Success is not true.
func checkBusiness(status int, o jsonObject) *dataworks.Error {
	success, hasSuccess := true, false
	if v, ok := o.get("Success"); ok {
		b, err := rawBool(v)
		if err != nil {
			return replyError(status, o.strOrEmpty("RequestId"), fmt.Errorf("field Success %w", err))
		}
		success, hasSuccess = b, true
	}
	code := o.strOrEmpty("ReturnCode", "ErrCode", "ErrorCode")
	failed := code != "" && code != "0"
	if !failed && !(hasSuccess && success) {
		if c := o.strOrEmpty("Code"); !successCodes[c] {
			code, failed = c, true
		}
	}
	if !failed && success {
		return nil
	}
	if code == "" || code == "0" {
		code = dataworks.CodeUnsuccessful
	}
	e := &dataworks.Error{
		Phase:      dataworks.PhaseReplied,
		HTTPStatus: status,
		Code:       code,
		Message:    o.strOrEmpty("ReturnMessage", "ErrMsg", "ErrorMessage", "Message"),
		RequestID:  o.strOrEmpty("RequestId"),
		Recommend:  o.strOrEmpty("ReturnErrorSolution", "Recommend"),
	}
	// A 2020 envelope says which status the service meant: a 500 inside a
	// 200 is a server error, not a refusal. A value that is not a status
	// is ignored rather than trusted.
	if v, ok := o.get("HttpStatusCode"); ok {
		if n, err := rawInt(v); err == nil && n >= 100 && n <= 599 {
			e.EnvelopeStatus = int(n)
		}
	}
	return e
}

// decodeEnvelope parses a 2xx reply and checks it for a business error.
func decodeEnvelope(status int, headerRequestID string, body []byte) (jsonObject, *dataworks.Error) {
	o, err := parseObject(body)
	if err != nil {
		e := replyError(status, headerRequestID, fmt.Errorf("%w: %s", err, snippet(body)))
		e.Err = err
		return nil, e
	}
	if e := checkBusiness(status, o); e != nil {
		if e.RequestID == "" {
			e.RequestID = headerRequestID
		}
		return nil, e
	}
	return o, nil
}

// decodeCreate reads the DAG id of a CreateManualDag reply: ReturnValue
// (2018-06-01) or DagId, top level or under Data (2020-05-18).
func decodeCreate(status int, headerRequestID string, body []byte) (int64, error) {
	o, e := decodeEnvelope(status, headerRequestID, body)
	if e != nil {
		return 0, e
	}
	reqID := o.strOrEmpty("RequestId")
	if reqID == "" {
		reqID = headerRequestID
	}
	v, ok := o.get("ReturnValue", "DagId")
	if !ok {
		if d, isData := o.get("Data"); isData {
			v, ok = d, true
			if bytes.HasPrefix(bytes.TrimSpace(d), []byte("{")) {
				var data jsonObject
				if err := json.Unmarshal(d, &data); err != nil {
					return 0, replyError(status, reqID, fmt.Errorf("field Data: %w", err))
				}
				v, ok = data.get("DagId", "ReturnValue")
			}
		}
	}
	if !ok {
		return 0, replyError(status, reqID, errors.New("reply has no DAG id (no ReturnValue or DagId)"))
	}
	id, err := rawInt(v)
	if err != nil {
		return 0, replyError(status, reqID, fmt.Errorf("DAG id %w", err))
	}
	if id <= 0 {
		return 0, replyError(status, reqID, fmt.Errorf("DAG id %d is not positive", id))
	}
	return id, nil
}

// decodeSearch reads the node instances of a SearchManualDagNodeInstance
// (2018-06-01) or GetManualDagInstances (2020-05-18) reply for dagID.
func decodeSearch(status int, headerRequestID string, body []byte, dagID int64) ([]dataworks.NodeInstance, error) {
	o, e := decodeEnvelope(status, headerRequestID, body)
	if e != nil {
		return nil, e
	}
	reqID := o.strOrEmpty("RequestId")
	if reqID == "" {
		reqID = headerRequestID
	}
	fail := func(format string, args ...any) error {
		return replyError(status, reqID, fmt.Errorf(format, args...))
	}
	list, ok := o.get("Data", "Instances")
	if ok && bytes.HasPrefix(bytes.TrimSpace(list), []byte("{")) {
		var data jsonObject
		if err := json.Unmarshal(list, &data); err != nil {
			return nil, fail("field Data: %v", err)
		}
		list, ok = data.get("NodeInsInfo", "Instances")
	}
	if !ok {
		return nil, nil // no instances yet: normal right after CreateManualDag
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(list, &raws); err != nil {
		return nil, fail("node instance list is not an array: %v", err)
	}
	out := make([]dataworks.NodeInstance, 0, len(raws))
	index := make(map[int64]int, len(raws))
	for i, raw := range raws {
		ni, err := decodeInstance(raw, dagID)
		if err != nil {
			return nil, fail("node instance %d: %v", i, err)
		}
		if j, dup := index[ni.InstanceID]; dup {
			if !ni.ModifyTime.Before(out[j].ModifyTime) {
				out[j] = ni
			}
			continue
		}
		index[ni.InstanceID] = len(out)
		out = append(out, ni)
	}
	return out, nil
}

func decodeInstance(raw json.RawMessage, dagID int64) (dataworks.NodeInstance, error) {
	var ni dataworks.NodeInstance
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return ni, errors.New("is not an object")
	}
	var o jsonObject
	if err := json.Unmarshal(raw, &o); err != nil {
		return ni, err
	}
	ids := []struct {
		name     string
		dst      *int64
		required bool
	}{
		{"InstanceId", &ni.InstanceID, true},
		{"DagId", &ni.DagID, false},
		{"NodeId", &ni.NodeID, false},
	}
	for _, id := range ids {
		v, ok := o.get(id.name)
		if !ok {
			if id.required {
				return ni, fmt.Errorf("has no %s", id.name)
			}
			continue
		}
		n, err := rawInt(v)
		if err != nil {
			return ni, fmt.Errorf("%s %w", id.name, err)
		}
		if n < 0 || (n == 0 && id.required) {
			return ni, fmt.Errorf("%s %d is not positive", id.name, n)
		}
		*id.dst = n
	}
	switch {
	case ni.DagID == 0:
		ni.DagID = dagID
	case dagID > 0 && ni.DagID != dagID:
		return ni, fmt.Errorf("belongs to DAG %d, not the DAG %d asked for", ni.DagID, dagID)
	}

	const statusField = "Status"
	if v, ok := o.get(statusField); ok {
		s, err := rawString(v)
		if err != nil {
			return ni, fmt.Errorf("%s %w", statusField, err)
		}
		ni.Status = parseStatus(s)
	}
	var err error
	strs := []struct {
		dst   *string
		names []string
	}{
		{&ni.NodeName, []string{"NodeName"}},
		{&ni.ParaValue, []string{"ParaValue", "ParamValues"}},
		{&ni.ErrorMessage, []string{"ErrorMessage"}},
	}
	for _, f := range strs {
		if *f.dst, err = o.str(f.names...); err != nil {
			return ni, err
		}
	}
	times := []struct {
		name string
		dst  *time.Time
	}{
		{"Bizdate", &ni.Bizdate},
		{"CreateTime", &ni.CreateTime},
		{"ModifyTime", &ni.ModifyTime},
		{"BeginWaitTimeTime", &ni.BeginWaitTimeTime},
		{"BeginWaitResTime", &ni.BeginWaitResTime},
		{"BeginRunningTime", &ni.BeginRunningTime},
		{"FinishTime", &ni.FinishTime},
	}
	for _, f := range times {
		v, ok := o.get(f.name)
		if !ok {
			continue
		}
		if *f.dst, err = rawTime(v); err != nil {
			return ni, fmt.Errorf("%s %w", f.name, err)
		}
	}
	return ni, nil
}

// decodeData reads the Data of a 2020-05-18 envelope (StopInstance,
// RestartInstance, GetInstanceLog) into a string.
func decodeData(status int, headerRequestID string, body []byte) (string, string, error) {
	o, e := decodeEnvelope(status, headerRequestID, body)
	if e != nil {
		return "", "", e
	}
	reqID := o.strOrEmpty("RequestId")
	if reqID == "" {
		reqID = headerRequestID
	}
	v, ok := o.get("Data")
	if !ok {
		return "", reqID, nil
	}
	s, err := rawString(v)
	if err != nil {
		return "", reqID, replyError(status, reqID, fmt.Errorf("field Data %w", err))
	}
	return s, reqID, nil
}

// snippet is the start of a reply, printable, for an error message.
func snippet(b []byte) string {
	const max = 120
	s := strings.ToValidUTF8(string(b[:min(len(b), 4*max)]), "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		if !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	if s == "" {
		return "(empty)"
	}
	return strconv.Quote(s)
}

// parseStatus reads a 2020-05-18 string status (case-insensitive, trimmed).
// A purely numeric string is read as a 2018 code; anything else undocumented
// is kept verbatim (upper-cased).
func parseStatus(s string) dag.Status {
	s = strings.ToUpper(strings.TrimSpace(s))
	if n, err := strconv.Atoi(s); err == nil {
		return dag.StatusFromCode(n)
	}
	// The documented names, however written: NOT_RUN, not_run, NotRun (the
	// spelling of newer API versions) are one status.
	bare := strings.ReplaceAll(s, "_", "")
	for code := 1; code <= 8; code++ {
		if st := dag.StatusFromCode(code); strings.ReplaceAll(string(st), "_", "") == bare {
			return st
		}
	}
	return dag.Status(s)
}
