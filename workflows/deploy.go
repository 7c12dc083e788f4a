package workflows

// LongestActivity is the longest start-to-close timeout of any activity the
// workflows schedule. A worker stopping for a deploy should let one finish:
// its shutdown timeout at least this long (a create cut off after sending
// ends TriggerOutcomeUnknown), the pod's termination grace period longer
// still. deployments/ checks its manifests against it.
const LongestActivity = max(createStartToClose, searchStartToClose, opsStartToClose, lookUpStartToClose)
