package aliyun

import (
	"context"
	"strconv"

	dwpub "github.com/aliyun/alibaba-cloud-sdk-go/services/dataworks-public"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
)

const (
	actionSearch2018 = "SearchManualDagNodeInstance"
	actionSearch2020 = "GetManualDagInstances"
)

// SearchManualDagNodeInstance lists the node instances of one triggered DAG
// (GetManualDagInstances under 2020-05-18, ListTaskInstances of workflow
// instance DagID under 2024-05-18). Right after CreateManualDag the
// list may be empty or partial for a while. It only reads: any error may be
// retried.
func (c *Client) SearchManualDagNodeInstance(ctx context.Context, req dataworks.SearchManualDagNodeInstanceRequest) ([]dataworks.NodeInstance, error) {
	version, e := c.resolveVersion(req.APIVersion)
	action := actionSearch2018
	switch version {
	case dag.APIVersion2020:
		action = actionSearch2020
	case dag.APIVersion2024:
		action = actionSearch2024
	}
	if e == nil && version != dag.APIVersion2024 {
		e = checkName("ProjectName", req.ProjectName)
	}
	if e == nil {
		e = checkID("DagID", req.DagID)
	}
	env := ""
	if e == nil {
		env, e = projectEnv(req.ProjectEnv, version)
	}
	if e != nil {
		return nil, c.finish(action, e)
	}
	if version == dag.APIVersion2024 {
		return c.searchTasks2024(ctx, req, env)
	}

	var send func(*dwpub.Client) error
	if version == dag.APIVersion2018 {
		r := c.commonRequest(action, version)
		r.QueryParams["ProjectName"] = req.ProjectName
		r.QueryParams["DagId"] = strconv.FormatInt(req.DagID, 10)
		send = func(cl *dwpub.Client) error {
			_, err := cl.ProcessCommonRequest(r)
			return err
		}
	} else {
		r := dwpub.CreateGetManualDagInstancesRequest()
		c.rpc(r.RpcRequest)
		r.ProjectEnv = env
		r.ProjectName = req.ProjectName
		r.DagId = strconv.FormatInt(req.DagID, 10)
		send = func(cl *dwpub.Client) error {
			_, err := cl.GetManualDagInstances(r)
			return err
		}
	}
	rep, err := c.do(ctx, action, send)
	if err != nil {
		return nil, err
	}
	list, err := decodeSearch(rep.status, rep.requestID, rep.body, req.DagID)
	if err != nil {
		return nil, c.finish(action, err)
	}
	return list, nil
}
