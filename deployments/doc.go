// Package deployments holds no code: it is the home of the container image
// (Dockerfile), the compose file, the Kubernetes manifests (k8s/) and the RAM
// policies (ram/), and of the tests that check them offline in `make test`,
// since none can run here (no Docker engine, no cluster, no Alibaba account):
// every manifest decoded strictly into the Kubernetes API types, the compose
// file loaded and validated as `docker compose config` does, the
// Dockerfile's build command run with the same flags, the RAM policies
// compared with the actions the client calls, and all of them cross-checked
// against the worker's configuration (ports, variable names, timeouts, user,
// entrypoint).
//
// It is a module of its own (deployments/go.mod, with a replace of the main
// module to ../), so that the Kubernetes and compose libraries these checks
// need never enter the module graph of a program that imports manualdag.
// Run it with `cd deployments && go test ./...`; `make test` does.
package deployments
