package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Config returns the experiment configuration stored by SetConfig, or an
// error wrapping ErrNotFound.
func (tx *Tx) Config() ([]byte, error) {
	item, err := tx.txn.Get(keyConfig)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w: no experiment configuration in %s", ErrNotFound, tx.s.dir)
	}
	if err != nil {
		return nil, wrapBadger("read config", err)
	}
	b, err := item.ValueCopy(nil)
	return b, wrapBadger("read config", err)
}

// SetConfig stores the experiment configuration, an opaque encoding owned
// by the caller, replacing any earlier one.
func (tx *Tx) SetConfig(config []byte) error {
	if err := tx.writable("set config"); err != nil {
		return err
	}
	return tx.set(keyConfig, config, "write config")
}

// Seed returns the run's root seed, or an error wrapping ErrNotFound.
func (tx *Tx) Seed() (uint64, error) {
	item, err := tx.txn.Get(keySeed)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, fmt.Errorf("%w: no root seed in %s", ErrNotFound, tx.s.dir)
	}
	if err != nil {
		return 0, wrapBadger("read seed", err)
	}
	b, err := item.ValueCopy(nil)
	if err != nil {
		return 0, wrapBadger("read seed", err)
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: root seed is %d bytes long, want 8", ErrCorrupt, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// SetSeed records the run's root seed. A run's seed never changes, so that
// the run can be replayed: setting a different one fails with ErrExists;
// setting the same one again is a no-op.
func (tx *Tx) SetSeed(seed uint64) error {
	if err := tx.writable("set seed"); err != nil {
		return err
	}
	old, err := tx.Seed()
	switch {
	case err == nil && old == seed:
		return nil
	case err == nil:
		return fmt.Errorf("%w: %s already has root seed %d, not %d: a run's seed cannot change; start a new repo for a new seed",
			ErrExists, tx.s.dir, old, seed)
	case !errors.Is(err, ErrNotFound):
		return err
	}
	return tx.set(keySeed, binary.BigEndian.AppendUint64(nil, seed), "write seed")
}
