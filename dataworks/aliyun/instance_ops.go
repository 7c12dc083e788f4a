package aliyun

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	dwpub "github.com/aliyun/alibaba-cloud-sdk-go/services/dataworks-public"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
)

// Operations on one node instance. DataWorks has them in 2020-05-18 and,
// as batch calls on task instances, in 2024-05-18 (StopTaskInstances,
// RerunTaskInstances, GetTaskInstanceLog); under 2018-06-01 they fail
// before any I/O with dataworks.CodeUnsupported.

// StopInstance asks DataWorks to stop a node instance. Stopping is
// asynchronous: poll until the instance is final.
func (c *Client) StopInstance(ctx context.Context, req dataworks.InstanceRequest) error {
	return c.instanceOp(ctx, actionStopInstance, req, func(id requests.Integer, env string) func(*dwpub.Client) error {
		r := dwpub.CreateStopInstanceRequest()
		c.rpc(r.RpcRequest)
		r.InstanceId, r.ProjectEnv = id, env
		return func(cl *dwpub.Client) error { _, err := cl.StopInstance(r); return err }
	})
}

// RestartInstance reruns a node instance (a failed one, typically, so that
// the nodes blocked behind it can run).
func (c *Client) RestartInstance(ctx context.Context, req dataworks.InstanceRequest) error {
	return c.instanceOp(ctx, actionRestartInstance, req, func(id requests.Integer, env string) func(*dwpub.Client) error {
		r := dwpub.CreateRestartInstanceRequest()
		c.rpc(r.RpcRequest)
		r.InstanceId, r.ProjectEnv = id, env
		return func(cl *dwpub.Client) error { _, err := cl.RestartInstance(r); return err }
	})
}

func (c *Client) instanceOp(ctx context.Context, action string, req dataworks.InstanceRequest,
	build func(requests.Integer, string) func(*dwpub.Client) error) error {
	version, env, e := c.checkInstanceOp(action, req.APIVersion, req.ProjectEnv, req.InstanceID)
	if e != nil {
		return c.finish(action, e)
	}
	if version == dag.APIVersion2024 {
		batch := actionStop2024
		if action == actionRestartInstance {
			batch = actionRerun2024
		}
		return c.taskInstancesOp(ctx, batch, req.InstanceID)
	}
	rep, err := c.do(ctx, action, build(requests.NewInteger64(req.InstanceID), env))
	if err != nil {
		return err
	}
	data, reqID, err := decodeData(rep.status, rep.requestID, rep.body)
	if err != nil {
		return c.finish(action, err)
	}
	if ok, _ := strconv.ParseBool(data); !ok {
		return c.finish(action, &dataworks.Error{Phase: dataworks.PhaseReplied, HTTPStatus: rep.status, Code: dataworks.CodeUnsuccessful,
			Message: fmt.Sprintf("DataWorks answered Data=%q for instance %d", data, req.InstanceID), RequestID: reqID})
	}
	return nil
}

// GetInstanceLog returns the run log of a node instance.
func (c *Client) GetInstanceLog(ctx context.Context, req dataworks.InstanceLogRequest) (string, error) {
	const action = actionGetInstanceLog
	version, env, e := c.checkInstanceOp(action, req.APIVersion, req.ProjectEnv, req.InstanceID)
	if e != nil {
		return "", c.finish(action, e)
	}
	if version == dag.APIVersion2024 {
		return c.taskInstanceLog(ctx, req.InstanceID)
	}
	r := dwpub.CreateGetInstanceLogRequest()
	c.rpc(r.RpcRequest)
	r.InstanceId = requests.NewInteger64(req.InstanceID)
	r.ProjectEnv = env
	rep, err := c.do(ctx, action, func(cl *dwpub.Client) error { _, err := cl.GetInstanceLog(r); return err })
	if err != nil {
		return "", err
	}
	data, _, err := decodeData(rep.status, rep.requestID, rep.body)
	if err != nil {
		return "", c.finish(action, err)
	}
	return data, nil
}

func (c *Client) checkInstanceOp(action, override, env string, id int64) (string, string, *dataworks.Error) {
	version, e := c.resolveVersion(override)
	if e != nil {
		return "", "", e
	}
	if !dag.HasOperations(version) {
		return "", "", &dataworks.Error{Phase: dataworks.PhaseNotSent, Code: dataworks.CodeUnsupported,
			Message: fmt.Sprintf("the %s API has no %s call: set APIVersion to %s or %s", version, action, dag.APIVersion2020, dag.APIVersion2024)}
	}
	if e := checkID("InstanceID", id); e != nil {
		return "", "", e
	}
	env, e = projectEnv(env, version)
	return version, env, e
}
