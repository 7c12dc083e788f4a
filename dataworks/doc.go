// Package dataworks is the contract between the activities and a DataWorks
// client, free of any SDK: the requests of the manual-DAG API
// (CreateManualDagRequest, SearchManualDagNodeInstanceRequest, and under
// 2020-05-18 InstanceRequest and InstanceLogRequest), the NodeInstance a
// search returns, with a dag.Status, and the Error every client call fails
// with. The client itself, over the Alibaba SDK, is package
// dataworks/aliyun; the activities depend on this package only, so that
// neither they nor the workflow import the SDK.
//
// An Error says how far the call got (Phase): whether the request provably
// never reached DataWorks (PhaseNotSent), may have (PhaseUnknown), or got a
// reply (PhaseReplied). CreateManualDag has no idempotency token: only
// NotSent errors make a resend safe. The predicates Throttled,
// QuotaExhausted, Permanent, KnownPermanent, NotSent and Refused classify an
// Error; one that is neither Throttled nor Permanent may succeed on a later
// attempt.
package dataworks
