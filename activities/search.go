package activities

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
)

// SearchInput asks for the node instances of one DAG run. KnownDigest and
// KnownLayout echo the previous result's Digest and LayoutDigest, so that the
// result can leave out what the caller already has: every result lands in the
// workflow history.
type SearchInput struct {
	ProjectName string `json:"projectName"`
	DagID       int64  `json:"dagId"`
	APIVersion  string `json:"apiVersion,omitempty"`
	ProjectEnv  string `json:"projectEnv,omitempty"`
	// Bizdate (yyyy-MM-dd) is the run's; 2024-05-18 lists by it.
	Bizdate     string `json:"bizdate,omitempty"`
	KnownDigest string `json:"knownDigest,omitempty"`
	KnownLayout string `json:"knownLayout,omitempty"`
	KnownErrors string `json:"knownErrors,omitempty"`

	// RepeatEvery, when set, makes the search a repeat window: while the
	// DAG run has nothing new the workflow must act on, the activity fails
	// with the benign ErrNothingYet and Temporal runs it again RepeatEvery
	// later (NextRetryDelay). Retries are not written to the workflow's
	// history, so a run's history grows with its windows, not its polls;
	// each retry is still a task of the task queue, under its rate limit.
	// The window returns at once when the DAG run settles (no node active),
	// when a node fails that KnownFailed did not count, on the first sight
	// of the node list (KnownNodes 0), when the number of nodes differs from
	// KnownNodes (a list still growing, or an anomaly), when ReturnAtDone
	// nodes have succeeded, or after RepeatPolls polls (attempts, so that
	// the rule needs no clock).
	RepeatEvery time.Duration `json:"repeatEvery,omitempty"`
	RepeatPolls int           `json:"repeatPolls,omitempty"`
	KnownNodes  int           `json:"knownNodes,omitempty"`
	KnownFailed int           `json:"knownFailed,omitempty"`
	// ReturnAtDone, when set, also ends the window once that many nodes
	// have succeeded: the run is progressing, and the workflow's poll
	// policy wants to see how far ahead of its prediction it is.
	ReturnAtDone int `json:"returnAtDone,omitempty"`
}

// SearchResult is a compact, columnar snapshot of a DAG run's nodes, ordered
// by instance id. Decode it with Nodes. For a 200-node DAG it is about 14 KB
// when the node list is new (40 of them failed, with error messages), about
// 2 KB when only states changed and about 130 bytes when nothing changed
// (TestSearchResultSize).
type SearchResult struct {
	// Digest identifies the whole snapshot, LayoutDigest its ids and names,
	// ErrorsDigest its error messages.
	Digest       string `json:"digest"`
	LayoutDigest string `json:"layoutDigest"`
	ErrorsDigest string `json:"errorsDigest"`
	// Count is the number of nodes.
	Count int `json:"count"`
	// Unchanged: the snapshot is the one KnownDigest named; nothing else is
	// set.
	Unchanged bool `json:"unchanged,omitempty"`
	// IDs (instance ids) and Names, left out when the layout is the one
	// KnownLayout named.
	IDs   []int64  `json:"ids,omitempty"`
	Names []string `json:"names,omitempty"`
	// Statuses holds one byte per node: the 2018-06-01 status code '1'…'8',
	// or '?' for a status DataWorks did not document, kept verbatim in
	// Other under the node's index.
	Statuses string         `json:"statuses"`
	Other    map[int]string `json:"other,omitempty"`
	// Begin and Finish are seconds after Base (unix seconds), 0 = no time.
	Base   int64   `json:"base,omitempty"`
	Begin  []int64 `json:"begin,omitempty"`
	Finish []int64 `json:"finish,omitempty"`
	// Errors are the nodes' error messages by index, truncated; left out
	// (with ErrorsOmitted set) when they are the ones KnownErrors named.
	Errors        map[int]string `json:"errors,omitempty"`
	ErrorsOmitted bool           `json:"errorsOmitted,omitempty"`
	// PollFloor is the least wait before the next poll that the account's
	// daily API budget allows (0 = no budget).
	PollFloor time.Duration `json:"pollFloor,omitempty"`
	// Bizdates are the business dates (yyyy-MM-dd) the listed nodes carry,
	// distinct and sorted; empty when DataWorks reports none (2020-05-18).
	// A run following a DAG it did not trigger checks them.
	Bizdates []string `json:"bizdates,omitempty"`
	// Polls is the number of DataWorks searches this result took: more
	// than one for a repeat window (every attempt of the activity counts).
	Polls int `json:"polls,omitempty"`
}

// SearchManualDagNodeInstance lists the DAG run's node instances. Reads are
// safe to repeat: throttling is retried after a backing-off NextRetryDelay, a
// spent daily quota after a long one, transient failures by the retry
// policy; only permanent refusals are final.
func (a *Activities) SearchManualDagNodeInstance(ctx context.Context, in SearchInput) (SearchResult, error) {
	if in.ProjectName == "" || in.DagID <= 0 {
		return SearchResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("invalid search input: projectName %q and a positive dagId (got %d) are required", in.ProjectName, in.DagID), dag.ErrInvalidInput, nil)
	}
	var list []dataworks.NodeInstance
	err := measure(ctx, ActionSearch, func() (err error) {
		list, err = a.DW.SearchManualDagNodeInstance(ctx, dataworks.SearchManualDagNodeInstanceRequest{
			ProjectName: in.ProjectName,
			DagID:       in.DagID,
			APIVersion:  in.APIVersion,
			ProjectEnv:  in.ProjectEnv,
			Bizdate:     in.Bizdate,
		})
		return err
	})
	if err != nil {
		if e, ok := dataworks.AsError(err); ok && e.Phase == dataworks.PhaseReplied && e.Code == dataworks.CodeInvalidDagID {
			// Not necessarily final: a DAG run may be unknown to the search
			// for a while after its trigger. The workflow decides.
			return SearchResult{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("search DAG %d: %v", in.DagID, err), dag.ErrDagNotFound, nil)
		}
		m := errorMapper{attempt: activity.GetInfo(ctx).Attempt, rnd: a.rand(), quota: a.QuotaBackoff, window: in.RepeatEvery}
		return SearchResult{}, m.mapRead(fmt.Errorf("search DAG %d: %w", in.DagID, err))
	}
	res := Compact(list, a.maxErrorMessage(), in.Known())
	if a.PollFloor != nil {
		res.PollFloor = a.PollFloor().Round(time.Second)
	}
	info := activity.GetInfo(ctx)
	res.Polls = int(info.Attempt)
	statuses := make([]dag.Status, len(list))
	for i, n := range list {
		statuses[i] = n.Status
	}
	if !in.WindowEnds(statuses, info.Attempt) {
		return SearchResult{}, in.NothingYet(info.Attempt, res.PollFloor)
	}
	return res, nil
}

// NothingYet is the error by which a repeat window asks Temporal to run the
// search again, RepeatEvery (or the budget's floor, if longer) later.
func (in SearchInput) NothingYet(attempt int32, floor time.Duration) error {
	next := max(in.RepeatEvery, floor)
	return temporal.NewApplicationErrorWithOptions(
		fmt.Sprintf("DAG %d: nothing new yet (poll %d of this window); polling again in %v", in.DagID, attempt, next),
		dag.ErrNothingYet, temporal.ApplicationErrorOptions{
			NextRetryDelay: next,
			Category:       temporal.ApplicationErrorCategoryBenign,
			// The polls so far: a window cut short by a timeout or an
			// attempt limit still counts them.
			Details: []any{attempt},
		})
}

// WindowEnds reports whether the search returns what its poll number
// attempt saw (the nodes' statuses): always, but in a repeat window (see
// RepeatEvery).
func (in SearchInput) WindowEnds(statuses []dag.Status, attempt int32) bool {
	if in.RepeatEvery <= 0 || in.KnownDigest == "" || in.KnownNodes == 0 || len(statuses) != in.KnownNodes || int(attempt) >= in.RepeatPolls {
		return true
	}
	failed, done, active := 0, 0, false
	for _, s := range statuses {
		switch {
		case s == dag.StatusFailure:
			failed++
		case s == dag.StatusSuccess:
			done++
		}
		active = active || s.Active()
	}
	return !active || failed > in.KnownFailed || in.ReturnAtDone > 0 && done >= in.ReturnAtDone
}

// Known are the digests of the snapshot the caller holds.
type Known struct{ Digest, Layout, Errors string }

// Known returns the input's digests.
func (in SearchInput) Known() Known {
	return Known{Digest: in.KnownDigest, Layout: in.KnownLayout, Errors: in.KnownErrors}
}

// Compact builds the result for list, leaving out what the caller's digests
// say it already has.
func Compact(list []dataworks.NodeInstance, maxErr int, known Known) SearchResult {
	nodes := make([]dag.Node, 0, len(list))
	for _, ni := range list {
		nodes = append(nodes, dag.Node{
			ID:           ni.InstanceID,
			Name:         truncate(ni.NodeName, MaxNameBytes),
			Status:       ni.Status,
			Begin:        unix(firstSet(ni.BeginRunningTime, ni.BeginWaitResTime, ni.BeginWaitTimeTime)),
			Finish:       unix(ni.FinishTime),
			ErrorMessage: truncate(ni.ErrorMessage, maxErr),
		})
	}
	slices.SortStableFunc(nodes, func(a, b dag.Node) int { return cmp.Compare(a.ID, b.ID) })
	boundErrors(nodes, MaxErrorsTotal)
	res := encode(nodes, known)
	res.Bizdates = bizdates(list)
	return res
}

// bizdates lists the distinct business dates of the instances.
func bizdates(list []dataworks.NodeInstance) []string {
	var out []string
	for _, ni := range list {
		if d := ni.Bizdate.Format(dag.BizdateLayout); !ni.Bizdate.IsZero() && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

// MaxNameBytes bounds a node name in a snapshot: DataWorks allows 128
// characters (384 bytes in Chinese); a longer name is cut with "…". With
// 5,000 nodes the names then stay under 1 MiB of a result's 2 MiB.
const MaxNameBytes = 192

// MaxErrorsTotal bounds the error messages of one snapshot, as JSON, in
// bytes. The snapshot travels in the search result, the continue-as-new
// input and the report, each a Temporal payload (2 MiB by default): with
// 5,000 nodes, messages of 200 bytes alone would be 1 MB or (with <, >
// and &, which JSON writes as 6 bytes) much more.
const MaxErrorsTotal = 64 << 10

// boundErrors keeps the error messages of failed nodes first, then the
// others, in node order, while they fit in total bytes; the rest become
// ErrorOmitted. The result depends on the nodes only, so the digests stay
// stable from poll to poll.
func boundErrors(nodes []dag.Node, total int) {
	used := 0
	for _, failedPass := range []bool{true, false} {
		for i := range nodes {
			n := &nodes[i]
			if n.ErrorMessage == "" || (n.Status == dag.StatusFailure) != failedPass {
				continue
			}
			size := jsonSize(n.ErrorMessage)
			if used+size > total {
				n.ErrorMessage = dag.ErrorOmitted
				continue
			}
			used += size
		}
	}
}

// jsonSize is the length of s as encoding/json writes it, quotes left out.
func jsonSize(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			n += 2
		case r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029' || r == utf8.RuneError:
			n += 6
		default:
			n += utf8.RuneLen(r)
		}
	}
	return n
}

func encode(nodes []dag.Node, known Known) SearchResult {
	r := SearchResult{Digest: digest(nodes, partAll), LayoutDigest: digest(nodes, partLayout), ErrorsDigest: digest(nodes, partErrors), Count: len(nodes)}
	if r.Digest == known.Digest {
		r.Unchanged = true
		return r
	}
	if r.LayoutDigest != known.Layout {
		for _, n := range nodes {
			r.IDs = append(r.IDs, n.ID)
			r.Names = append(r.Names, n.Name)
		}
	}
	st := make([]byte, len(nodes))
	for i, n := range nodes {
		if c := n.Status.Code(); n.Status.Known() && c > 0 && c < 10 {
			st[i] = byte('0' + c)
			continue
		}
		st[i] = '?'
		if r.Other == nil {
			r.Other = map[int]string{}
		}
		r.Other[i] = string(n.Status)
	}
	r.Statuses = string(st)
	for _, n := range nodes {
		for _, t := range []int64{n.Begin, n.Finish} {
			if t > 0 && (r.Base == 0 || t-1 < r.Base) {
				r.Base = t - 1
			}
		}
	}
	if r.Base > 0 {
		r.Begin = make([]int64, len(nodes))
		r.Finish = make([]int64, len(nodes))
		for i, n := range nodes {
			r.Begin[i] = offset(n.Begin, r.Base)
			r.Finish[i] = offset(n.Finish, r.Base)
		}
	}
	if r.ErrorsDigest == known.Errors && r.LayoutDigest == known.Layout {
		r.ErrorsOmitted = true
		return r
	}
	for i, n := range nodes {
		if n.ErrorMessage != "" {
			if r.Errors == nil {
				r.Errors = map[int]string{}
			}
			r.Errors[i] = n.ErrorMessage
		}
	}
	return r
}

// Nodes decodes the result. prev is the snapshot the caller's digests were
// taken from; it is used when the result leaves parts out.
// Pure and deterministic: the workflow calls it.
func (r SearchResult) Nodes(prev []dag.Node) ([]dag.Node, error) {
	if r.Unchanged {
		if len(prev) != r.Count {
			return nil, fmt.Errorf("result says unchanged, but the known snapshot has %d nodes, not %d", len(prev), r.Count)
		}
		return slices.Clone(prev), nil
	}
	if len(r.Statuses) != r.Count {
		return nil, fmt.Errorf("result has %d statuses for %d nodes", len(r.Statuses), r.Count)
	}
	nodes := make([]dag.Node, r.Count)
	if (r.IDs == nil && r.Count > 0) || r.ErrorsOmitted {
		if len(prev) != r.Count {
			return nil, fmt.Errorf("result leaves the layout out, but the known snapshot has %d nodes, not %d", len(prev), r.Count)
		}
		for i := range nodes {
			nodes[i].ID, nodes[i].Name = prev[i].ID, prev[i].Name
		}
	} else {
		if len(r.IDs) != r.Count || len(r.Names) != r.Count {
			return nil, fmt.Errorf("result has %d ids and %d names for %d nodes", len(r.IDs), len(r.Names), r.Count)
		}
		for i := range nodes {
			nodes[i].ID, nodes[i].Name = r.IDs[i], r.Names[i]
		}
	}
	for i := range nodes {
		if c := r.Statuses[i]; c == '?' {
			nodes[i].Status = dag.Status(r.Other[i])
		} else {
			nodes[i].Status = dag.StatusFromCode(int(c - '0'))
		}
		if r.Base > 0 && i < len(r.Begin) && i < len(r.Finish) {
			nodes[i].Begin = absolute(r.Begin[i], r.Base)
			nodes[i].Finish = absolute(r.Finish[i], r.Base)
		}
		if r.ErrorsOmitted {
			nodes[i].ErrorMessage = prev[i].ErrorMessage
		} else {
			nodes[i].ErrorMessage = r.Errors[i]
		}
	}
	return nodes, nil
}

type digestPart int

const (
	partAll    digestPart = iota
	partLayout            // ids and names
	partErrors            // ids and error messages
)

// digest is FNV-64a over a part of the nodes.
func digest(nodes []dag.Node, part digestPart) string {
	h := fnv.New64a()
	var buf [8]byte
	num := func(v int64) {
		binary.LittleEndian.PutUint64(buf[:], uint64(v))
		h.Write(buf[:])
	}
	str := func(s string) {
		num(int64(len(s)))
		h.Write([]byte(s))
	}
	num(int64(len(nodes)))
	for _, n := range nodes {
		num(n.ID)
		if part != partErrors {
			str(n.Name)
		}
		if part == partAll {
			str(string(n.Status))
			num(n.Begin)
			num(n.Finish)
		}
		if part != partLayout {
			str(n.ErrorMessage)
		}
	}
	return strconv.FormatUint(h.Sum64(), 36)
}

func firstSet(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

func unix(t time.Time) int64 {
	if t.IsZero() || t.Unix() <= 0 {
		return 0
	}
	return t.Unix()
}

func offset(t, base int64) int64 {
	if t == 0 {
		return 0
	}
	return t - base
}

func absolute(off, base int64) int64 {
	if off == 0 {
		return 0
	}
	return base + off
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:max(cut, 0)] + mark
}
