// Package logging builds the zap logger the binaries share and adapts it to
// the Temporal SDK's logger interface, so the SDK's own lines come out in the
// same format and place as ours.
package logging

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/log"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Formats accepted by New.
const (
	FormatJSON    = "json"
	FormatConsole = "console"
)

// New returns a JSON (production) or console logger at the given level
// ("debug", "info", "warn", "error").
func New(format, level string) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q is not one of debug, info, warn, error", level)
	}
	var cfg zap.Config
	switch strings.ToLower(format) {
	case FormatJSON:
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.TimeKey = "time"
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	case FormatConsole:
		cfg = zap.NewDevelopmentConfig()
		cfg.DisableStacktrace = true
	default:
		return nil, fmt.Errorf("log format %q is not one of %s, %s", format, FormatJSON, FormatConsole)
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	// Sampling would drop repeated poll lines that an operator may need.
	cfg.Sampling = nil
	return cfg.Build()
}

// Temporal adapts a zap logger to go.temporal.io/sdk/log.Logger.
type Temporal struct{ z *zap.Logger }

// NewTemporal wraps z. Caller frames are skipped so that the caller field
// points at the SDK or workflow code, not at this adapter.
func NewTemporal(z *zap.Logger) *Temporal {
	return &Temporal{z: z.WithOptions(zap.AddCallerSkip(1))}
}

var (
	_ log.Logger          = (*Temporal)(nil)
	_ log.WithLogger      = (*Temporal)(nil)
	_ log.WithSkipCallers = (*Temporal)(nil)
)

func (t *Temporal) Debug(msg string, keyvals ...any) { t.z.Debug(msg, fields(keyvals)...) }
func (t *Temporal) Info(msg string, keyvals ...any)  { t.z.Info(msg, fields(keyvals)...) }
func (t *Temporal) Warn(msg string, keyvals ...any)  { t.z.Warn(msg, fields(keyvals)...) }
func (t *Temporal) Error(msg string, keyvals ...any) { t.z.Error(msg, fields(keyvals)...) }

// With returns a logger that adds keyvals to every line.
func (t *Temporal) With(keyvals ...any) log.Logger {
	return &Temporal{z: t.z.With(fields(keyvals)...)}
}

// WithCallerSkip lets the SDK's own wrappers keep the caller accurate.
func (t *Temporal) WithCallerSkip(depth int) log.Logger {
	return &Temporal{z: t.z.WithOptions(zap.AddCallerSkip(depth))}
}

// fields turns the SDK's alternating key/value list into zap fields. A
// trailing key without a value is kept under "!BADKEY" rather than dropped, so
// a logging mistake shows up instead of hiding data.
func fields(keyvals []any) []zap.Field {
	fs := make([]zap.Field, 0, (len(keyvals)+1)/2)
	for i := 0; i < len(keyvals); i += 2 {
		key, ok := keyvals[i].(string)
		if !ok {
			key = fmt.Sprint(keyvals[i])
		}
		if i+1 == len(keyvals) {
			fs = append(fs, zap.Any("!BADKEY", keyvals[i]))
			break
		}
		fs = append(fs, zap.Any(key, keyvals[i+1]))
	}
	return fs
}
