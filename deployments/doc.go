// Package deployments holds no code: it is the home of the container image
// (Dockerfile), the compose file and the Kubernetes manifests (k8s/), and of
// the tests that check them offline in `make test`, since none can run here
// (no Docker engine, no cluster): every manifest decoded strictly into the
// Kubernetes API types, the compose file loaded and validated as
// `docker compose config` does, the Dockerfile's build command run with the
// same flags, and the three cross-checked against the worker's configuration
// (ports, variable names, timeouts, user, entrypoint).
package deployments
