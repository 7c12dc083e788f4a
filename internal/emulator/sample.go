package emulator

import (
	_ "embed"
)

// SampleYAML is the sample project the emulator serves unless given a
// definition: the demo's flows (daily_sales succeeds, daily_sales_broken has
// a failing node blocking two more). It is compiled in, so that the binary
// works outside the repository; `dataworks-emulator -print-sample` prints it
// as a starting point for a definition of one's own.
//
//go:embed sample-project.yaml
var SampleYAML []byte

// SampleDefinition is SampleYAML parsed. Each call returns a new
// Definition: an emulator may keep and change the one it is given.
func SampleDefinition() *Definition {
	def, err := ParseDefinition(SampleYAML)
	if err != nil {
		// TestSampleDefinition parses it: only a broken build gets here.
		panic("emulator: the embedded sample definition is invalid: " + err.Error())
	}
	return def
}
