package store

import (
	"errors"
	"fmt"
)

// checkSpace refuses a commit of size bytes when the store's file system
// would be left with less than Options.MinFreeBytes free (see the package
// doc). Badger may write a value twice (write-ahead and value log), hence
// the factor 2. It checks nothing for an in-memory store, where the check is
// disabled, or where free space cannot be measured.
func (s *Store) checkSpace(size int64) error { return s.checkFree(s.opts.MinFreeBytes + 2*size) }

// CheckFree reports ErrDiskFull when the store's file system has less
// than Options.MinFreeBytes free, the space below which Update refuses to
// write: a daemon asks it when it opens the repo, so that a restart on a
// full disk refuses at once instead of after its first tournament.
func (s *Store) CheckFree() error { return s.checkFree(s.opts.MinFreeBytes) }

// checkFree refuses when less than need bytes are free.
func (s *Store) checkFree(need int64) error {
	if s.opts.InMemory || s.opts.MinFreeBytes < 0 {
		return nil
	}
	free, err := freeBytes(s.dir)
	if errors.Is(err, errors.ErrUnsupported) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: measure free space in %s: %w", s.dir, err)
	}
	if free < uint64(need) {
		return fmt.Errorf("%w: %s has %d MiB free, the store needs at least %d MiB to write safely",
			ErrDiskFull, s.dir, free>>20, need>>20)
	}
	return nil
}
