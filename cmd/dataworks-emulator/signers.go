package main

import (
	"errors"
	"fmt"

	"github.com/manualdag/manualdag/internal/emulator"
)

// How -events-sign signs the pushed events.
const (
	// signNone sends them unsigned.
	signNone = "none"
	// signToken sends "Authorization: Bearer <MANUALDAG_EMULATOR_EVENTS_TOKEN>",
	// what a receiver on a private network may accept instead of
	// EventBridge's signature.
	signToken = "token"
	// signV1 and signV2 are EventBridge's signatures (HMAC-SHA1 with an
	// RSA-wrapped temporary secret; SHA-256 with RSA).
	signV1 = "v1"
	signV2 = "v2"
)

// eventSigner makes the signer -events-sign names; nil for none. getenv
// reads the environment, where secrets live: the token is
// MANUALDAG_EMULATOR_EVENTS_TOKEN, never a flag, so that it shows in no
// process list.
//
// EventBridge's v1 and v2 signatures are package openevent's: wiring one
// is its case returning an emulator.MakeEventSigner, e.g. `return
// func(now func() time.Time) (emulator.EventSigner, error) { return
// openevent.NewSigner(version, key, now) }, nil`, its key read through
// getenv.
func eventSigner(mode string, getenv func(string) string) (emulator.MakeEventSigner, error) {
	switch mode {
	case signNone:
		return nil, nil
	case signToken:
		token := getenv("MANUALDAG_EMULATOR_EVENTS_TOKEN")
		if token == "" {
			return nil, errors.New("-events-sign token needs the token in MANUALDAG_EMULATOR_EVENTS_TOKEN (the environment only, never a flag)")
		}
		return emulator.StaticSigner(emulator.TokenSigner{Token: token}), nil
	case signV1, signV2:
		return nil, fmt.Errorf("-events-sign %s: this build has no EventBridge signer wired in (package openevent); use -events-sign token or none", mode)
	}
	return nil, fmt.Errorf("-events-sign %q: use none, token, v1 or v2", mode)
}
