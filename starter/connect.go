package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"

	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/manualdag/manualdag/internal/logging"
	"github.com/manualdag/manualdag/internal/temporalclient"
	"github.com/manualdag/manualdag/workflows"
)

// connection holds the flags every command shares. Address and namespace
// resolve through temporalclient.Load: flag, TEMPORAL_* environment, the
// TOML profile (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE), default; TLS, mTLS
// and API keys come from the environment and the profile.
type connection struct {
	temporal         temporalclient.Flags
	getenv           func(string) string
	taskQueue, uiURL string
	// namespace is the resolved namespace, set by dial.
	namespace string
}

func (c *connection) register(fs *flag.FlagSet, getenv func(string) string) {
	env := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c.getenv = getenv
	c.temporal.Register(fs)
	fs.StringVar(&c.taskQueue, "task-queue", env("MANUALDAG_TASK_QUEUE", workflows.TaskQueue), "task queue of the manualdag workers (env MANUALDAG_TASK_QUEUE)")
	fs.StringVar(&c.uiURL, "ui-url", env("MANUALDAG_UI_URL", "http://localhost:8233"), "Temporal Web UI base address, for links (env MANUALDAG_UI_URL)")
}

// newFlagSet is a command's flag set, carrying the connection flags every
// command shares; parse errors and -h go to stderr.
func (c *connection) newFlagSet(name string, getenv func(string) string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs, getenv)
	return fs
}

func (c *connection) dial(ctx context.Context) (client.Client, error) {
	opts, err := temporalclient.Load(c.temporal, c.getenv)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	c.namespace = opts.Namespace
	// Only the SDK's warnings and errors reach the terminal.
	z, err := logging.New(logging.FormatConsole, "warn")
	if err != nil {
		return nil, err
	}
	opts.Logger = logging.NewTemporal(z.WithOptions(zap.WithCaller(false)))
	cl, err := temporalclient.Dial(ctx, opts)
	if err != nil {
		return nil, infraErr(err)
	}
	return cl, nil
}

// link is the Web UI page of one run.
func (c *connection) link(workflowID, runID string) string {
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s/history",
		strings.TrimRight(c.uiURL, "/"), url.PathEscape(c.namespace), url.PathEscape(workflowID), url.PathEscape(runID))
}

// parseFlags parses and insists on exactly nArgs positional arguments.
func parseFlags(fs *flag.FlagSet, args []string, nArgs int, what string) ([]string, error) {
	// Allow flags after the positional argument ("status ID --json").
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			// The flag package has printed the problem (or the help) already.
			code := exitUsage
			if errors.Is(err, flag.ErrHelp) {
				code = exitOK
			}
			return nil, &exitError{code: code, err: errors.New("")}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != nArgs {
		return nil, usageErr("%s", what)
	}
	return pos, nil
}
