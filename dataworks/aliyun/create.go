package aliyun

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	dwpub "github.com/aliyun/alibaba-cloud-sdk-go/services/dataworks-public"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
)

const actionCreateManualDag = "CreateManualDag"

// CreateManualDag triggers one run of a manual business flow and returns its
// DAG id. It is not idempotent: DataWorks takes no token, so sending it twice
// starts two runs. On error, only dataworks.NotSent(err) makes a resend safe;
// a PhaseUnknown error means a run may have started.
func (c *Client) CreateManualDag(ctx context.Context, req dataworks.CreateManualDagRequest) (int64, error) {
	send, e := c.buildCreate(req)
	if e != nil {
		return 0, c.finish(actionCreateManualDag, e)
	}
	r, err := c.doWith(ctx, actionCreateManualDag, callOptions{write: true, beforeSend: req.BeforeSend}, send)
	if err != nil {
		return 0, err
	}
	id, err := decodeCreate(r.status, r.requestID, r.body)
	if err != nil {
		return 0, c.finish(actionCreateManualDag, err)
	}
	return id, nil
}

// buildCreate validates req and prepares the SDK call for its API version.
func (c *Client) buildCreate(req dataworks.CreateManualDagRequest) (func(*dwpub.Client) error, *dataworks.Error) {
	version, e := c.resolveVersion(req.APIVersion)
	if e != nil {
		return nil, e
	}
	if version == dag.APIVersion2024 {
		return nil, &dataworks.Error{Phase: dataworks.PhaseNotSent, Code: dataworks.CodeUnsupported,
			Message: fmt.Sprintf("the %s API has no %s call: a manual workflow starts with CreateWorkflowInstances", version, actionCreateManualDag)}
	}
	if e := checkName("ProjectName", req.ProjectName); e != nil {
		return nil, e
	}
	if e := checkName("FlowName", req.FlowName); e != nil {
		return nil, e
	}
	bizdate, err := wireBizdate(req.Bizdate)
	if err != nil {
		return nil, invalid("%v", err)
	}
	if err := req.DagParameters.Validate(); err != nil {
		return nil, invalid("DagParameters: %v", err)
	}
	nodePara, e := encodeNodeParameters(req.NodeParameters)
	if e != nil {
		return nil, e
	}
	env, e := projectEnv(req.ProjectEnv, version)
	if e != nil {
		return nil, e
	}

	if version == dag.APIVersion2018 {
		r := c.commonRequest(actionCreateManualDag, version)
		q := r.QueryParams
		q["ProjectName"] = req.ProjectName
		q["FlowName"] = req.FlowName
		q["Bizdate"] = bizdate
		if len(req.DagParameters) > 0 {
			q["DagPara"] = req.DagParameters.String()
		}
		if nodePara != "" {
			q["NodePara"] = nodePara
		}
		return func(cl *dwpub.Client) error {
			_, err := cl.ProcessCommonRequest(r)
			return err
		}, nil
	}

	r := dwpub.CreateCreateManualDagRequest()
	c.rpc(r.RpcRequest)
	r.ProjectEnv = env
	r.ProjectName = req.ProjectName
	r.FlowName = req.FlowName
	r.BizDate = bizdate
	if len(req.DagParameters) > 0 {
		// 2020-05-18 documents DagParameters as a JSON object, unlike
		// 2018-06-01's "k=v k=v".
		r.DagParameters = jsonString(map[string]string(req.DagParameters))
	}
	r.NodeParameters = nodePara
	return func(cl *dwpub.Client) error {
		_, err := cl.CreateManualDag(r)
		return err
	}, nil
}

// encodeNodeParameters is the JSON object node-id → "k=v k=v" both versions
// take, keys in numeric order; "" when there are none.
func encodeNodeParameters(np map[int64]dag.Params) (string, *dataworks.Error) {
	if len(np) == 0 {
		return "", nil
	}
	ids := make([]int64, 0, len(np))
	for id, p := range np {
		if e := checkID("NodeParameters node id", id); e != nil {
			return "", e
		}
		if err := p.Validate(); err != nil {
			return "", invalid("NodeParameters of node %d: %v", id, err)
		}
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var b bytes.Buffer
	b.WriteByte('{')
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(strconv.FormatInt(id, 10)))
		b.WriteByte(':')
		b.WriteString(jsonString(np[id].String()))
	}
	b.WriteByte('}')
	if b.Len() > 4*dag.MaxParamsLen {
		return "", invalid("NodeParameters are %d bytes long once encoded; at most %d are accepted", b.Len(), 4*dag.MaxParamsLen)
	}
	return b.String(), nil
}

// jsonString encodes v without HTML escaping (parameter values such as
// $[yyyy-mm-dd] or a&b travel verbatim).
func jsonString(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // strings and string maps always encode
	return string(bytes.TrimRight(b.Bytes(), "\n"))
}
