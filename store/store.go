package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/dgraph-io/badger/v4"
)

// SchemaVersion is the layout of keys and records this build reads and
// writes. A repo records the version that created it.
const SchemaVersion = 1

// Store is a node's durable sub-population. It is safe for concurrent use.
type Store struct {
	db   *badger.DB
	dir  string
	opts Options
	log  *slog.Logger

	// writeMu serializes Update transactions (see the package doc).
	writeMu sync.Mutex

	// closeMu: transactions hold it for reading, Close for writing.
	closeMu sync.RWMutex
	closed  bool

	gcCancel context.CancelFunc // nil until Start
	gcDone   chan struct{}
}

// Open opens the store in dir, creating it if needed, or an in-memory store
// if opts.InMemory (dir is then only used in messages). It fails with
// ErrLocked if another process has dir open, with ErrSchema if dir was
// written by a build with another schema version, with ErrDiskFull if
// a new repo cannot be created with Options.MinFreeBytes to spare, and with
// ErrDamagedFiles, in one line naming the file, if Badger's files in dir
// are damaged (see "Damage at rest" in the package doc).
func Open(dir string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if !opts.InMemory && dir == "" {
		return nil, fmt.Errorf("store: no directory given: pass the repo's store directory, or set InMemory")
	}
	if !opts.InMemory {
		// Another process's repo is not read through first (checkFiles
		// reads every table).
		if lockedByOther(dir) {
			return nil, &lockedError{dir: dir, err: errors.New("its directory lock is held")}
		}
		if err := checkFiles(dir); err != nil {
			if lockedByOther(dir) { // files read while their owner changed them
				return nil, &lockedError{dir: dir, err: errors.New("its files changed while they were checked")}
			}
			return nil, err
		}
	}
	bo := opts.badgerOptions(dir)
	if bl, ok := bo.Logger.(*badgerLogger); ok {
		bl.opening.Store(true)
		defer bl.opening.Store(false)
	}
	db, err := badger.Open(bo)
	switch {
	case isLockError(err):
		return nil, &lockedError{dir: dir, err: err}
	case err != nil && opts.ReadOnly && strings.Contains(err.Error(), badger.ErrTruncateNeeded.Error()):
		return nil, fmt.Errorf("%w: %s: %s", ErrNeedsRecovery, dir, oneLine(err.Error()))
	case err != nil && strings.Contains(err.Error(), "Encryption key mismatch"):
		// The store never encrypts: the key registry is what changed.
		return nil, fmt.Errorf("%w: %s: KEYREGISTRY is damaged (Badger: %s)", ErrDamagedFiles, dir, oneLine(err.Error()))
	case err != nil:
		return nil, wrapBadger("open "+dir, flatError{err})
	}
	s := &Store{db: db, dir: dir, opts: opts, log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "store")
	if err := s.checkSchema(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// checkSchema writes the schema version into a new repo and checks it in an
// existing one.
func (s *Store) checkSchema() error {
	check := s.Update
	if s.opts.ReadOnly {
		check = s.View
	}
	return check(func(tx *Tx) error {
		item, err := tx.txn.Get(keySchema)
		if errors.Is(err, badger.ErrKeyNotFound) {
			empty, err := tx.empty()
			if err != nil {
				return err
			}
			if !empty {
				return fmt.Errorf("%w: %s holds data but no schema version: it is not an evoswarm store, or it is damaged",
					ErrSchema, s.dir)
			}
			if s.opts.ReadOnly {
				return nil // an empty store: nothing to check, nothing written
			}
			return tx.set(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion), "write schema version")
		}
		if err != nil {
			return wrapBadger("read schema version", err)
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return wrapBadger("read schema version", err)
		}
		if len(v) != 4 {
			return fmt.Errorf("%w: schema version of %s is %d bytes long, want 4", ErrCorrupt, s.dir, len(v))
		}
		if got := binary.BigEndian.Uint32(v); got != SchemaVersion {
			return fmt.Errorf("%w: %s has schema version %d, this build reads %d: use a matching evoswarm release or start a new repo",
				ErrSchema, s.dir, got, SchemaVersion)
		}
		return nil
	})
}

// Dir returns the directory the store was opened on.
func (s *Store) Dir() string { return s.dir }

// Update runs fn in a read-write transaction and commits it, synced to disk,
// if fn returns nil; otherwise it discards it and returns fn's error. Update
// transactions run one at a time: fn must be short, and must not call the
// Store's own methods (Update, View, Get, ...), which would deadlock. The Tx
// must not be used after fn returns, nor by several goroutines.
func (s *Store) Update(fn func(tx *Tx) error) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	tx := &Tx{s: s, txn: txn, update: true}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.flushCounters(); err != nil {
		return err
	}
	if tx.writes == 0 {
		return nil // nothing to commit
	}
	if err := s.checkSpace(tx.written + tx.expect); err != nil {
		return err
	}
	return wrapBadger("commit", txn.Commit())
}

// View runs fn in a read-only transaction that sees one consistent snapshot.
// Views run in parallel with each other and with Update. As in Update, fn
// must not call the Store's own methods.
func (s *Store) View(fn func(tx *Tx) error) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	return fn(&Tx{s: s, txn: txn})
}

// Close stops background GC, waits for running transactions and closes the
// database. It is idempotent: later calls return nil.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	cancel, done := s.gcCancel, s.gcDone
	s.closeMu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return wrapBadger("close", s.db.Close())
}
