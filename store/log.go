package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
)

// badgerLogger routes Badger's log to slog: its errors and warnings at
// their level, its info and debug chatter dropped.
type badgerLogger struct {
	l *slog.Logger // nil: silent
	// opening is set while badger.Open runs: an error it logs then is
	// also the error Open returns, which the store reports itself, so it
	// is logged as a warning, not as a second error line.
	opening atomic.Bool
}

func newBadgerLogger(l *slog.Logger) *badgerLogger {
	if l != nil {
		l = l.With("component", "badger")
	}
	return &badgerLogger{l: l}
}

func (b *badgerLogger) Errorf(f string, v ...any) {
	if b.opening.Load() {
		b.log(slog.LevelWarn, f, v)
		return
	}
	b.log(slog.LevelError, f, v)
}
func (b *badgerLogger) Warningf(f string, v ...any) { b.log(slog.LevelWarn, f, v) }
func (b *badgerLogger) Infof(string, ...any)        {}
func (b *badgerLogger) Debugf(string, ...any)       {}

func (b *badgerLogger) log(level slog.Level, f string, v []any) {
	if b.l == nil || !b.l.Enabled(context.Background(), level) {
		return
	}
	b.l.Log(context.Background(), level, strings.TrimSpace(fmt.Sprintf(f, v...)))
}
