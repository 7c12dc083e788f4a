package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/manualdag/manualdag/internal/emulator"
	"github.com/manualdag/manualdag/openevent"
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
	// RSA-wrapped temporary secret; SHA-256 with RSA), made with the
	// private key of -events-key, whose public half the receiver pins
	// (the worker's -events-public-key).
	signV1 = "v1"
	signV2 = "v2"
)

// signing is what -events-sign needs besides its mode.
type signing struct {
	mode    string
	keyFile string // PEM RSA private key of v1 and v2
	certURL string // sent as x-eventbridge-signature-url
}

// defaultCertURL is where EventBridge's certificate would be for region: a
// receiver that pins the key never fetches it, one that does not refuses a
// host outside its region's bucket.
func defaultCertURL(region string) string {
	return "https://" + region + "-eventbridge.oss-accelerate.aliyuncs.com/manualdag-emulator/x509.pem"
}

// eventSigner makes the signer s names; nil for none. getenv reads the
// environment, where secrets live: the token is
// MANUALDAG_EMULATOR_EVENTS_TOKEN, never a flag, so that it shows in no
// process list. With v1 or v2 a token, when set, is sent as
// x-eventbridge-signature-token and so signed, as EventBridge does.
func eventSigner(s signing, getenv func(string) string) (emulator.MakeEventSigner, error) {
	token := getenv("MANUALDAG_EMULATOR_EVENTS_TOKEN")
	switch s.mode {
	case signNone:
		return nil, nil
	case signToken:
		if token == "" {
			return nil, errors.New("-events-sign token needs the token in MANUALDAG_EMULATOR_EVENTS_TOKEN (the environment only, never a flag)")
		}
		return emulator.StaticSigner(emulator.TokenSigner{Token: token}), nil
	case signV1, signV2:
		if s.keyFile == "" {
			return nil, fmt.Errorf("-events-sign %s needs -events-key FILE, a PEM RSA private key (e.g. openssl genrsa -out events.key 2048; give the worker its public half, openssl rsa -in events.key -pubout, as -events-public-key)", s.mode)
		}
		b, err := os.ReadFile(s.keyFile)
		if err != nil {
			return nil, fmt.Errorf("-events-key: %w", err)
		}
		key, err := openevent.ParsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("-events-key %s: %w", s.keyFile, err)
		}
		version := openevent.V2
		if s.mode == signV1 {
			version = openevent.V1
		}
		return func(now func() time.Time) (emulator.EventSigner, error) {
			return &openevent.Signer{Key: key, CertURL: s.certURL, Version: version, Token: token, Now: now}, nil
		}, nil
	}
	return nil, fmt.Errorf("-events-sign %q: use none, token, v1 or v2", s.mode)
}
