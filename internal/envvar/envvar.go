// Package envvar reads the project's own environment variables. They all
// start with MANUALDAG_; a few had other names before (DATAWORKS_REGION,
// DATAWORKS_EMULATOR_ADDR, …), which are still read for a while, each with a
// one-line warning naming the new name. Temporal's TEMPORAL_* and Alibaba's
// ALIBABA_CLOUD_* variables are the ecosystem's and keep their names.
package envvar

import (
	"fmt"
	"slices"
	"strings"
)

// Prefix starts the name of every variable the project defines.
const Prefix = "MANUALDAG_"

// Renamed maps each variable's current name to the name it had before the
// common prefix (CHANGELOG.md, "Deprecated"). A fresh map each call, so that
// no caller can change the table.
func Renamed() map[string]string {
	return map[string]string{
		// worker
		"MANUALDAG_DATAWORKS_REGION":      "DATAWORKS_REGION",
		"MANUALDAG_DATAWORKS_ENDPOINT":    "DATAWORKS_ENDPOINT",
		"MANUALDAG_DATAWORKS_SCHEME":      "DATAWORKS_SCHEME",
		"MANUALDAG_DATAWORKS_API_VERSION": "DATAWORKS_API_VERSION",
		"MANUALDAG_DATAWORKS_TIMEOUT":     "DATAWORKS_TIMEOUT",
		// dataworks-emulator
		"MANUALDAG_EMULATOR_ADDR":             "DATAWORKS_EMULATOR_ADDR",
		"MANUALDAG_EMULATOR_DEFINITION":       "DATAWORKS_EMULATOR_DEFINITION",
		"MANUALDAG_EMULATOR_TIME_SCALE":       "DATAWORKS_EMULATOR_TIME_SCALE",
		"MANUALDAG_EMULATOR_ACCESS_KEYS":      "DATAWORKS_EMULATOR_ACCESS_KEYS",
		"MANUALDAG_EMULATOR_SEED":             "DATAWORKS_EMULATOR_SEED",
		"MANUALDAG_EMULATOR_EMPTY_LIST_FOR":   "DATAWORKS_EMULATOR_EMPTY_LIST_FOR",
		"MANUALDAG_EMULATOR_REFERENCE_FORMAT": "DATAWORKS_EMULATOR_REFERENCE_FORMAT",
		"MANUALDAG_EMULATOR_DAILY_QUOTA":      "DATAWORKS_EMULATOR_DAILY_QUOTA",
	}
}

// Reader looks variables up by their current name, falling back to the old
// one, and collects a warning for each old name it meets. Not safe for
// concurrent use: a binary reads its configuration once, at start.
type Reader struct {
	getenv   func(string) string
	renamed  map[string]string
	warnings []string
}

// NewReader reads through getenv (os.Getenv, or a map in tests).
func NewReader(getenv func(string) string) *Reader {
	return &Reader{getenv: getenv, renamed: Renamed()}
}

// Get is the value of the variable name, blank counting as unset; when name
// is unset, the value of its old name, with a warning. When both are set the
// current name wins and the old one is reported as ignored.
func (r *Reader) Get(name string) string {
	v := strings.TrimSpace(r.getenv(name))
	old, ok := r.renamed[name]
	if !ok {
		return v
	}
	ov := strings.TrimSpace(r.getenv(old))
	switch {
	case ov == "":
	case v != "":
		r.warn(fmt.Sprintf("%s is ignored because %s is set: remove the old name", old, name))
	default:
		r.warn(fmt.Sprintf("%s is deprecated: rename it %s (the old name will stop working in a future release)", old, name))
		return ov
	}
	return v
}

// Or is Get, or def when the variable is unset.
func (r *Reader) Or(name, def string) string {
	if v := r.Get(name); v != "" {
		return v
	}
	return def
}

func (r *Reader) warn(w string) {
	if !slices.Contains(r.warnings, w) {
		r.warnings = append(r.warnings, w)
	}
}

// Warnings are the deprecation warnings met so far, one line each, in the
// order the variables were read.
func (r *Reader) Warnings() []string { return slices.Clone(r.warnings) }
