// Package openevent receives DataWorks OpenEvent push events: the
// CloudEvents envelope (Parse), EventBridge's HTTP-target signatures
// (Verifier, and Signer for the emulator and tests), and the Receiver that
// signals the RunManualDag run watching the event's DAG.
//
// An event is a hint, never a verdict: the run that receives dag.SignalEvent
// looks at its DAG now, and only that search decides. So the receiver's job
// is to be cheap and safe, not to be exact: it refuses what is not signed,
// stale, malformed or too large; it drops what it has already delivered; it
// answers 503 only when retrying can help (Temporal or EventBridge's key URL
// did not answer), so that EventBridge retries those and nothing else.
//
// # Why in the worker, behind a flag
//
// The receiver needs exactly what a worker already has: a Temporal client
// configured for the namespace (TLS, API key, the same envconfig profile),
// the Prometheus endpoint its health shows on, and the logger. A binary of
// its own would duplicate that configuration and be one more thing to
// deploy, for about 200 lines of handler. It is off by default
// (-events-listen) because it opens a port that EventBridge must reach;
// it listens on its own address, apart from /metrics, so that a network
// policy or an ingress can expose the one without the other. Any number of
// workers may serve it: signals go through Temporal, so any replica can
// deliver any event; each replica de-duplicates on its own, and a
// duplicate that reaches two replicas costs the run one extra look.
// A deployment that wants the receiver scaled apart from the pollers runs
// the same binary twice with different flags.
package openevent
