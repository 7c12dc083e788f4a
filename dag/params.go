package dag

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Params are DataWorks parameters. On the wire they are one string of
// space-separated k=v pairs, so a key cannot hold '=' or white space and a
// value cannot hold white space; Validate says which pair breaks that.
type Params map[string]string

// MaxParamsLen bounds the encoded form of one parameter string. The service
// documents no limit; this keeps a runaway input out of requests and history.
const MaxParamsLen = 8 << 10

// ParseParams reads the wire form "k1=v1 k2=v2". Pairs are separated by any
// run of white space; each must contain '=' with a non-empty key; a key may
// appear once.
func ParseParams(s string) (Params, error) {
	if len(s) > MaxParamsLen {
		return nil, fmt.Errorf("parameters are %d bytes long; at most %d are accepted", len(s), MaxParamsLen)
	}
	p := Params{}
	for _, pair := range strings.Fields(s) {
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, fmt.Errorf("parameter %q has no '=': write pairs as key=value separated by spaces", pair)
		}
		if k == "" {
			return nil, fmt.Errorf("parameter %q has an empty name: write pairs as key=value", pair)
		}
		if _, dup := p[k]; dup {
			return nil, fmt.Errorf("parameter %q is given twice", k)
		}
		p[k] = v
	}
	return p, nil
}

// Validate reports the first pair, in key order, that the wire format cannot
// carry.
func (p Params) Validate() error {
	for _, k := range p.keys() {
		v := p[k]
		switch {
		case k == "":
			return fmt.Errorf("a parameter has an empty name")
		case strings.ContainsRune(k, '='):
			return fmt.Errorf("parameter name %q contains '=', which DataWorks' k=v format cannot carry", k)
		case strings.IndexFunc(k, notPrintable) >= 0:
			return fmt.Errorf("parameter name %q contains white space or a control character, which DataWorks' k=v format cannot carry", k)
		case strings.IndexFunc(v, notPrintable) >= 0:
			return fmt.Errorf("parameter %q has a value with white space or a control character (%q), which DataWorks' space-separated k=v format cannot carry", k, v)
		}
	}
	if n := len(p.String()); n > MaxParamsLen {
		return fmt.Errorf("parameters are %d bytes long once encoded; at most %d are accepted", n, MaxParamsLen)
	}
	return nil
}

func notPrintable(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }

// String is the wire form, pairs sorted by key so that equal Params encode
// equally.
func (p Params) String() string {
	var b strings.Builder
	for i, k := range p.keys() {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(p[k])
	}
	return b.String()
}

func (p Params) keys() []string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ParseNodeID reads a DataWorks node id: a positive decimal integer written
// as DataWorks writes it, with no sign, leading zero or white space. Only
// that form is accepted so that each id has one spelling: "+7", "07" and
// " 7" would otherwise be three keys of one node in a map of parameters.
func ParseNodeID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("node id %q is not a DataWorks node id (a positive number such as 103180025)", s)
	}
	if canonical := strconv.FormatInt(id, 10); canonical != s {
		return 0, fmt.Errorf("node id %q is not written as DataWorks writes node ids (no sign, leading zeros or spaces): use %q", s, canonical)
	}
	return id, nil
}
