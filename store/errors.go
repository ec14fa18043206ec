package store

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/dgraph-io/badger/v4"
)

// Errors returned by the store. Each is wrapped with details; test with
// errors.Is.
var (
	// ErrConflict means another worker changed the individuals a transaction
	// relied on, after the caller read them: the island abandons the task.
	ErrConflict = errors.New("store: conflict: another worker changed these individuals")

	// ErrNotAlive is returned by Kill and Reserve when the individual is
	// dead or in training. It is a kind of conflict: errors.Is(err,
	// ErrConflict) is also true.
	ErrNotAlive error = &childError{msg: "store: individual is not alive", parent: ErrConflict}

	// ErrNotFound means no record exists under the ID or key asked for.
	ErrNotFound = errors.New("store: not found")

	// ErrExists is returned when inserting an individual whose ID is already
	// recorded, alive or dead (a migrant received twice, or coming back).
	ErrExists = errors.New("store: individual already exists")

	// ErrInvalid is returned for a record that cannot be stored as given
	// (a NaN fitness, a missing birth time, a status change through Put).
	ErrInvalid = errors.New("store: invalid record")

	// ErrLocked is matched by the error of an Open whose directory is in use
	// by another process; that error's message is exactly "another evoswarm
	// daemon is using REPO".
	ErrLocked = errors.New("store: repo is locked by another process")

	// ErrSchema means the repo was written by a build with another schema
	// version.
	ErrSchema = errors.New("store: schema version mismatch")

	// ErrCorrupt means a stored record could not be decoded or breaks an
	// invariant. The store refuses it rather than guessing.
	ErrCorrupt = errors.New("store: corrupt record")

	// ErrDiskFull means a write was refused or failed for lack of disk
	// space. Data committed before it is intact.
	ErrDiskFull = errors.New("store: disk full")

	// ErrNeedsRecovery is matched by the error of a ReadOnly Open of a
	// store that a crash left needing recovery (a read-write Open does it).
	ErrNeedsRecovery = errors.New("store: needs crash recovery, which a read-only open cannot do")

	// ErrClosed is returned by every method of a closed Store.
	ErrClosed = errors.New("store: closed")
)

// childError is a sentinel that also matches its parent sentinel.
type childError struct {
	msg    string
	parent error
}

func (e *childError) Error() string { return e.msg }
func (e *childError) Unwrap() error { return e.parent }

// lockedError is the error of an Open on a directory locked by another
// process. Its message is meant for the person who started the daemon.
type lockedError struct {
	dir string
	err error // badger's error
}

func (e *lockedError) Error() string   { return "another evoswarm process is using " + e.dir }
func (e *lockedError) Unwrap() []error { return []error{ErrLocked, e.err} }

// isLockError reports whether err is badger's directory-lock failure. Badger
// formats it with %+v, so errors.Is cannot see EWOULDBLOCK: match the text.
func isLockError(err error) bool {
	return err != nil && strings.Contains(err.Error(), "Cannot acquire directory lock")
}

// isDiskFull reports whether err is an out-of-space error, wrapped or only
// formatted into the message.
func isDiskFull(err error) bool {
	return err != nil && (errors.Is(err, syscall.ENOSPC) ||
		strings.Contains(err.Error(), "no space left on device"))
}

// wrapBadger turns an error from Badger into the store's vocabulary: a
// conflict into ErrConflict, out-of-space into ErrDiskFull, anything else
// wrapped with op as context.
func wrapBadger(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, badger.ErrConflict):
		return fmt.Errorf("store: %s: %w", op, ErrConflict)
	case isDiskFull(err):
		return fmt.Errorf("store: %s: %w: %w", op, ErrDiskFull, err)
	case errors.Is(err, badger.ErrDBClosed):
		return fmt.Errorf("store: %s: %w", op, ErrClosed)
	}
	return fmt.Errorf("store: %s: %w", op, err)
}
