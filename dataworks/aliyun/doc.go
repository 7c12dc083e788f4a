// Package aliyun is the project's adapter to the Alibaba Cloud DataWorks
// manual-DAG API over the Alibaba SDK: it encodes package dag's Params and
// bizdates into the wire formats and decodes replies into
// dataworks.NodeInstances with a dag.Status.
//
// The Client covers what running a manual business flow needs:
// CreateManualDag (trigger one run) and SearchManualDagNodeInstance (list its
// node instances), in both wire versions: 2018-06-01 (the default, called
// through the SDK's CommonRequest) and 2020-05-18 (the SDK's typed requests,
// where SearchManualDagNodeInstance becomes GetManualDagInstances). Under
// 2020-05-18 it also offers StopInstance, RestartInstance and GetInstanceLog.
// Under 2024-05-18 (the new Data Studio, CommonRequests as well) a run is a
// manual workflow instance: CreateWorkflowInstances answers an OperationId,
// GetCreateWorkflowInstancesResult the instance id once created, and
// ListWorkflowInstances finds a run again by the marker tag it was created
// with; the search is ListTaskInstances, and the instance operations become
// StopTaskInstances, RerunTaskInstances and GetTaskInstanceLog. Projects and
// workflows are named by their numeric ids there.
//
// The Alibaba SDK only builds and signs requests. The client owns everything
// the SDK gets wrong for this use:
//
//   - Concurrency: SDK clients are racy, so a bounded pool hands each one to
//     one goroutine at a time.
//   - Context: the SDK has none; a custom RoundTripper carries the caller's
//     context into the in-flight request, so cancellation and deadlines work.
//   - Phase: the same RoundTripper traces whether the request was written, so
//     every failure says whether it provably never reached DataWorks
//     (dataworks.PhaseNotSent), may have (PhaseUnknown), or got a reply
//     (PhaseReplied).
//   - Replies: bodies are read by the client (bounded to MaxReplyBytes) and
//     decoded tolerantly where the service is inconsistent (Data as array or
//     {"NodeInsInfo":[…]}, field-name case, times as epoch-ms, numeric strings
//     or dates) and strictly elsewhere. Business errors inside an HTTP 200
//     become errors, and an SDK panic on an odd error body becomes a
//     *dataworks.Error instead of a crash.
//
// Every error a Client call returns is a *dataworks.Error; that package's
// predicates classify it.
package aliyun
