package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Value-log garbage collection.
//
// Weights (values of 16 KiB or more) live in Badger's value log; Kill
// deletes their keys, but the bytes stay in the log until Badger rewrites
// the file they are in, and Badger only learns which bytes are garbage when
// a compaction of the LSM tree drops the deleted keys. Records are small, so
// the 8 MiB memtable can take thousands of individuals before it is flushed
// and compacted: gigabytes of dead weights. GC therefore forces that
// compaction (flush the memtable, compact level 0 into the levels below)
// when the value log holds clearly more than the live weights, then
// rewrites the files that are mostly garbage.

// gcPrefix holds a marker key written and dropped to flush the memtable.
var gcPrefix = []byte("g/")

// GC reclaims the space of deleted weights, and returns nil when there was
// nothing to do. It does nothing for an in-memory store. It may block
// Update for the time of a memtable flush (milliseconds).
func (s *Store) GC() error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if s.opts.InMemory {
		return nil
	}
	// A rewrite copies a file's live values into the newest file: it needs
	// room for up to a whole file (and Badger maps twice that).
	if err := s.checkFree(min(s.opts.MinFreeBytes, 2*s.opts.vlogFileSize())); err != nil {
		return err
	}
	live, err := s.liveWeightBytes()
	if err != nil {
		return err
	}
	closedFiles, err := s.closedVlogBytes()
	if err != nil {
		return err
	}
	if closedFiles-live > max(live, s.opts.vlogFileSize()) {
		if err := s.compactDeletes(); err != nil {
			return err
		}
	}
	for {
		err := s.db.RunValueLogGC(s.opts.GCDiscardRatio)
		switch {
		case err == nil:
			continue // a file was rewritten; try the next one
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
			return nil
		default:
			return wrapBadger("value log gc", err)
		}
	}
}

// liveWeightBytes is the size of the weights of the living. It reads no
// weights: a value-log pointer carries its length.
func (s *Store) liveWeightBytes() (int64, error) {
	var n int64
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = prefixWeights
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n += it.Item().ValueSize()
		}
		return nil
	})
	return n, wrapBadger("measure live weights", err)
}

// closedVlogBytes is the size of the value-log files but the newest, which
// Badger writes to (and never collects).
func (s *Store) closedVlogBytes() (int64, error) {
	files, err := filepath.Glob(filepath.Join(s.dir, "*.vlog"))
	if err != nil {
		return 0, fmt.Errorf("store: list value log files: %w", err)
	}
	slices.Sort(files) // fixed-width numbers: the newest sorts last
	var n int64
	for _, f := range files[:max(len(files)-1, 0)] {
		fi, err := os.Stat(f)
		if err != nil {
			return 0, fmt.Errorf("store: value log: %w", err)
		}
		n += fi.Size()
	}
	return n, nil
}

// compactDeletes flushes the memtable and compacts the LSM tree down, so
// that the keys Kill deleted are dropped and Badger counts their values as
// garbage. Badger has no flush call: dropping a prefix flushes the
// memtable first, so GC drops a marker key of its own.
func (s *Store) compactDeletes() error {
	s.writeMu.Lock()
	err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(append(gcPrefix[:len(gcPrefix):len(gcPrefix)], "flush"...), nil)
	})
	if err == nil {
		err = s.db.DropPrefix(gcPrefix)
	}
	s.writeMu.Unlock()
	if err != nil {
		return wrapBadger("value log gc: flush memtable", err)
	}
	return wrapBadger("value log gc: compact", s.db.Flatten(1))
}

// Start runs GC every Options.GCInterval in a goroutine until ctx is done
// or the store is closed. Calling it more than once is an error.
func (s *Store) Start(ctx context.Context) error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.gcCancel != nil {
		return errors.New("store: Start called twice")
	}
	ctx, s.gcCancel = context.WithCancel(ctx)
	s.gcDone = make(chan struct{})
	go s.gcLoop(ctx, s.gcDone)
	return nil
}

func (s *Store) gcLoop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(s.opts.GCInterval)
	defer t.Stop()
	// The first pass comes soon after the start: a node restarted more
	// often than GCInterval (a crash loop, a disk-full stop, short runs)
	// would otherwise never reclaim its dead weights.
	first := time.After(min(s.opts.GCInterval, firstGC))
	for {
		select {
		case <-ctx.Done():
			return
		case <-first:
		case <-t.C:
		}
		start := time.Now()
		if err := s.GC(); errors.Is(err, ErrClosed) {
			return
		} else if err != nil {
			s.log.Warn("value log gc failed", "err", err)
		} else {
			s.log.Debug("value log gc done", "elapsed", time.Since(start))
		}
	}
}

// firstGC is how soon after the start the first GC pass runs.
const firstGC = time.Minute
