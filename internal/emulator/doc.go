// Package emulator is a local DataWorks (dataworks-public) RPC endpoint for
// tests and demos: it verifies signature v1 exactly as the Alibaba Cloud SDK
// signs, and simulates manual DAG runs from a definition file on an
// injectable clock, with faults injected on demand.
//
// # API
//
// "POST /" (GET works too) with parameters in the query string and/or a
// form body, dispatched on Action and Version:
//
//	2018-06-01  CreateManualDag, SearchManualDagNodeInstance
//	2020-05-18  CreateManualDag, RunManualDagNodes, GetManualDagInstances,
//	            ListManualDagInstances, StopInstance, RestartInstance,
//	            GetInstanceLog
//	2024-05-18  CreateWorkflowInstances (asynchronous: Creating for
//	            Options.CreatingFor), GetCreateWorkflowInstancesResult,
//	            ListWorkflowInstances, GetWorkflowInstance,
//	            ListTaskInstances, StopTaskInstances, RerunTaskInstances,
//	            GetTaskInstanceLog
//
// Every request is checked in the order the real service does: signature
// (IncompleteSignature, MissingParameter, InvalidAccessKeyId.NotFound 404,
// InvalidTimeStamp.Expired, SignatureDoesNotMatch, SignatureNonceUsed, all
// 400 but the 404), action lookup (InvalidAction.NotFound 404), daily quota
// (Throttling.Api.Risk 400), injected faults (Throttling.User 400,
// ServiceUnavailable 503, InternalError.System 500), key permission
// (Forbidden.Wkbench.ProjectNoPermission 500), injected business errors
// (HTTP 200, Success:false or a non-zero ReturnCode with an undocumented
// code), then the call itself, then an injected empty search reply. A
// dropped call, and a business error set with businessErrorAfterProcessing,
// is processed first: its effect is real (a create's DAG run exists and
// runs), only the answer is lost or wrong. A 2024-05-18 create met by
// createFailures is answered as usual but makes no run: its operation
// ends CreateFailure.
//
// Rate faults are drawn at random from the seed; emptyReplies,
// businessErrors, dropReplies and createFailures are counts used up one
// reply at a time (GET /_emulator/faults shows what is left), and
// businessErrorFor is a window on the emulator clock from when the faults
// were set, so that a test can place exactly one empty reply after nodes
// were listed. dagId limits the counted and timed faults to calls about
// one DAG.
//
// # Simulation
//
// A node instance moves NOT_RUN → WAIT_TIME → WAIT_RESOURCE → RUNNING →
// CHECKING (or CHECKING_CONDITION) → SUCCESS, or RUNNING → FAILURE, once all
// its upstreams have succeeded. Nodes behind a failure stay NOT_RUN until
// the failed node is restarted and succeeds. State is a pure function of
// the creation time, the stops and restarts, and Options.Now, so tests
// advance a fake clock instead of sleeping.
//
// # Push events
//
// With Options.Events.URL the emulator pushes DataWorks OpenEvent status
// events as EventBridge would: DagStatusChanges for every run (4 when
// triggered, then 5 or 6), and with Events.Instances
// InstanceStatusChanges for every status a node instance enters, in the
// documented CloudEvents envelope, stamped with the moment of the change
// on the emulator's clock. A scan (every Events.ScanEvery, or ScanEvents)
// finds the changes; one sender POSTs them in order from a bounded queue,
// retrying a 5xx or no answer 3 times (EventBridge's back-off policy), a
// 4xx never. Each push is signed by the EventSigner Events.Signer makes
// (TokenSigner, or package openevent's v1/v2 signers wired in by the
// command). EventFaults (ParseEventFaults: "drop=0.3,dup=0.1,...") drop,
// duplicate, reorder, delay, forge and age pushes, and pick either
// documented value of the disputed dagType and not-run codes.
//
// # Inspection
//
// JSON endpoints, not signed (the emulator guards nothing):
//
//	GET    /_emulator/stats                    Stats: calls by action and outcome, per-second buckets, quota
//	GET    /_emulator/dags[?project=&flow=&bizdate=yyyy-MM-dd]   []DAGInfo: status, true finish time, blocked nodes, nodes
//	GET    /_emulator/events                   EventStats: pushes generated, faulted, sent, answered (404 without events)
//	PUT    /_emulator/events/faults            body the compact form, e.g. drop=0.3,dup=0.1,dagtype=random
//	GET    /_emulator/faults                   map of action → Faults ("*": every other action)
//	PUT    /_emulator/faults/{action}          body Faults, e.g. {"throttleRate":0.2,"serverErrorRate":0.1,
//	                                           "dropRate":0.05,"latency":"200ms","numericCode":false};
//	                                           counted and timed faults: {"emptyReplies":1,"emptyReplyForm":
//	                                           "missing"|"empty","businessErrors":3,"businessErrorFor":"30s",
//	                                           "businessErrorCode":"9990001","businessErrorStatus":500,
//	                                           "businessErrorAfterProcessing":true,"dropReplies":2,
//	                                           "createFailures":1,"createFailureMessage":"…",
//	                                           "dagId":700000100001};
//	                                           {} injects none for that action
//
// Tests in Go use the methods: Stats, ResetStats, DAGs, DAG, CreatedDAGs,
// Faults, SetFaults, ClearFaults, Quota, SetDailyQuota, ResetQuota,
// ScanEvents, EventStats, SetEventFaults, Close. Over HTTP only the faults
// change at run time; the daily quota and the reference format come from
// Options (the command's flags).
package emulator
