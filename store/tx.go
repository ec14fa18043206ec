package store

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/evoswarm/evoswarm/island/dna"
)

// Tx is a transaction, given to the function passed to Store.Update or
// Store.View. Its write methods fail in a View. It is not safe for
// concurrent use and must not be kept after the function returns.
type Tx struct {
	s      *Store
	txn    *badger.Txn
	update bool

	cnt           *Counters // working copy, nil until read
	countersDirty bool

	writes  int   // keys set or deleted
	written int64 // bytes of keys and values set
	expect  int64 // bytes a later transaction will write because of this one (Expect)
}

// Expect makes the commit also require room for bytes more, that a later
// transaction will write because of this one: a tournament that kills the
// loser commits only if the disk can take the child it starts, so that a
// full disk refuses the tournament (and loses nobody) rather than the
// child's insert after the loser died.
func (tx *Tx) Expect(bytes int64) {
	if bytes > 0 {
		tx.expect += bytes
	}
}

func (tx *Tx) writable(op string) error {
	if !tx.update {
		return fmt.Errorf("store: %s in a View transaction: use Update", op)
	}
	return nil
}

func (tx *Tx) set(key, val []byte, op string) error {
	if tx.s.opts.InMemory && len(val) > maxInMemoryValue {
		return fmt.Errorf("%w: %s: %d bytes: an in-memory store takes values up to %d bytes",
			ErrInvalid, op, len(val), maxInMemoryValue)
	}
	if limit := tx.s.opts.vlogFileSize() - valueLogSlack; !tx.s.opts.InMemory && int64(len(val)) > limit {
		return fmt.Errorf("%w: %s: %d bytes: this store takes values up to %d bytes (Options.MaxValueBytes)",
			ErrInvalid, op, len(val), limit)
	}
	tx.writes++
	tx.written += int64(len(key) + len(val))
	return wrapBadger(op, tx.txn.Set(key, val))
}

func (tx *Tx) delete(key []byte, op string) error {
	tx.writes++
	return wrapBadger(op, tx.txn.Delete(key))
}

// empty reports whether the database holds no key at all.
func (tx *Tx) empty() (bool, error) {
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	it := tx.txn.NewIterator(opts)
	defer it.Close()
	it.Rewind()
	return !it.Valid(), nil
}

// exists reports whether key is present.
func (tx *Tx) exists(key []byte, op string) (bool, error) {
	_, err := tx.txn.Get(key)
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		return false, nil
	case err != nil:
		return false, wrapBadger(op, err)
	}
	return true, nil
}

// Get returns the record of the individual id, whatever its status, or an
// error wrapping ErrNotFound.
func (tx *Tx) Get(id dna.ID) (*Individual, error) {
	item, err := tx.txn.Get(idKey(prefixIndividual, id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w: individual %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, wrapBadger("get "+id.Short(), err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, wrapBadger("get "+id.Short(), err)
	}
	return decodeIndividual(id, v)
}

// Get returns the committed record of the individual id.
func (s *Store) Get(id dna.ID) (*Individual, error) {
	var ind *Individual
	err := s.View(func(tx *Tx) error {
		var err error
		ind, err = tx.Get(id)
		return err
	})
	return ind, err
}

// Weights returns the weights of the individual id. Only alive individuals
// have weights: those of the dead are deleted when they die, and those of
// an individual in training do not exist yet (ErrNotFound). Weights that
// fail their checksum (damaged at rest) are never returned: the error then
// wraps ErrBadWeights (and ErrCorrupt).
func (tx *Tx) Weights(id dna.ID) ([]byte, error) {
	item, err := tx.txn.Get(idKey(prefixWeights, id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w: weights of %s (only alive individuals have weights)", ErrNotFound, id)
	}
	if err != nil {
		return nil, wrapBadger("get weights of "+id.Short(), err)
	}
	w, err := item.ValueCopy(nil)
	if err != nil {
		return nil, wrapBadger("get weights of "+id.Short(), err)
	}
	if len(w) == 0 && item.ValueSize() > 0 {
		// Badger logs a failed value-log read and returns no bytes.
		return nil, fmt.Errorf("%w: weights of %s: the value log gave none of their %d bytes (a damaged entry)",
			ErrBadWeights, id.Short(), item.ValueSize())
	}
	if err := checkWeights(w); err != nil {
		return nil, fmt.Errorf("%w: weights of %s: %w", ErrBadWeights, id.Short(), err)
	}
	return w, nil
}

// Put rewrites the record of an existing individual, e.g. to add its test
// accuracy. It may not change its status or birth sequence, which only the
// lifecycle methods (Insert, Kill, ...) change, with their events and
// counters.
func (tx *Tx) Put(ind *Individual) error {
	if err := tx.writable("put"); err != nil {
		return err
	}
	old, err := tx.Get(ind.ID)
	if err != nil {
		return err
	}
	if ind.Status != old.Status || ind.BirthSeq != old.BirthSeq {
		return fmt.Errorf("%w: put %s: status %v -> %v, birth sequence %d -> %d: use Insert, Kill, Fail or Abandon to change them",
			ErrInvalid, ind.ID.Short(), old.Status, ind.Status, old.BirthSeq, ind.BirthSeq)
	}
	if err := tx.putRecord(ind); err != nil {
		return err
	}
	if ind.Status == StatusAlive && ind.Fitness != old.Fitness {
		return tx.set(idKey(prefixAlive, ind.ID), encodeMember(ind), "index "+ind.ID.Short())
	}
	return nil
}

// putRecord writes ind's record, without touching indexes.
func (tx *Tx) putRecord(ind *Individual) error {
	b, err := encodeIndividual(ind)
	if err != nil {
		return err
	}
	return tx.set(idKey(prefixIndividual, ind.ID), b, "put "+ind.ID.Short())
}

// Alive lists the alive individuals: ID, fitness and birth sequence, in ID
// order. It reads only the small alive index, never records or weights.
func (tx *Tx) Alive() ([]Member, error) {
	var ms []Member
	err := tx.scanIDs(prefixAlive, true, func(id dna.ID, v []byte) error {
		m, err := decodeMember(id, v)
		if err != nil {
			return err
		}
		ms = append(ms, m)
		return nil
	})
	return ms, err
}

// Training lists the individuals in training (ID and Status set). The
// population status reports is len(Alive()) + len(Training()); the
// set-point counts only Alive.
func (tx *Tx) Training() ([]Member, error) {
	var ms []Member
	err := tx.scanIDs(prefixTraining, false, func(id dna.ID, _ []byte) error {
		ms = append(ms, Member{ID: id, Status: StatusTraining})
		return nil
	})
	return ms, err
}

// Individuals calls fn with every record, alive, in training or dead, in ID
// order, stopping at fn's first error, which it returns as is. It reads no
// weights.
func (tx *Tx) Individuals(fn func(*Individual) error) error {
	return tx.scanIDs(prefixIndividual, true, func(id dna.ID, v []byte) error {
		ind, err := decodeIndividual(id, v)
		if err != nil {
			return err
		}
		return fn(ind)
	})
}

// scanIDs calls fn for every key under prefix, with its ID and, if values,
// its value (valid only during the call).
func (tx *Tx) scanIDs(prefix []byte, values bool, fn func(dna.ID, []byte) error) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	opts.PrefetchValues = values
	it := tx.txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		id, ok := idFromKey(prefix, item.Key())
		if !ok {
			return fmt.Errorf("%w: key %q", ErrCorrupt, item.Key())
		}
		var err error
		if values {
			var inner error
			err = item.Value(func(v []byte) error {
				inner = fn(id, v)
				return nil
			})
			if err == nil {
				err = inner
			} else {
				err = wrapBadger(fmt.Sprintf("read %q", prefix), err)
			}
		} else {
			err = fn(id, nil)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
