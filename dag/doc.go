// Package dag is manualdag's vocabulary of a DataWorks manual DAG run, at the
// centre of the project: what a node's status means (Status), what a run is
// given (Params, bizdate, the API version), what is seen of it (Node), how
// it ends (Outcome, DagReport), the names of the errors that decide retries,
// and the timings earlier runs leave for later ones (RunTimings, Profile).
//
// It imports neither the Alibaba SDK nor Temporal. The adapters around it
// translate into it: dataworks/aliyun decodes the service's replies into Status,
// activities map dataworks errors onto the error names here, and workflows
// decides on Nodes and reports in DagReports.
package dag
