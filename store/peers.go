package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// The swarm's memory of hostile peers, kept across restarts (the gossip
// layer decides what goes in; the node wires it here):
//
//	p/b/<peer ID>  a ban: until (8 bytes, Unix nanoseconds, big-endian), then the reason (UTF-8)
//	p/r/<key>      a replay mark (key: 32 bytes): until (8 bytes)
//
// Each entry is written with a Badger TTL at its until, so that expired
// ones vanish without a sweep; reads also skip those past until. The
// individuals, events and counters never refer to them, and an older build
// ignores the prefix.
var (
	prefixPeers  = []byte("p/")
	prefixBan    = []byte("p/b/")
	prefixReplay = []byte("p/r/")
)

// PeerBan is a saved ban: Peer (a libp2p peer ID, as its raw bytes) is
// refused until Until.
type PeerBan struct {
	Peer   string
	Until  time.Time
	Reason string
}

// ReplayMark is a saved replay-cache entry: an announcement with Key is
// rejected until Until.
type ReplayMark struct {
	Key   [32]byte
	Until time.Time
}

// maxPeerID bounds a saved peer ID (an identity multihash of an Ed25519
// key is 38 bytes; RSA keys hash to 34).
const maxPeerID = 128

// peerBatch is how many entries one transaction writes, well within
// Badger's transaction size with the store's small options.
const peerBatch = 2048

// SavePeers writes bans and replay marks, each with a TTL at its until;
// a ban replaces the one saved for the same peer. Entries already past
// their until at now are skipped. It runs as several transactions when
// there are many entries: what it has written stays written if a later
// one fails.
func (s *Store) SavePeers(bans []PeerBan, marks []ReplayMark, now time.Time) error {
	type entry struct {
		key, val []byte
		until    time.Time
	}
	var all []entry
	for _, b := range bans {
		if b.Peer == "" || len(b.Peer) > maxPeerID {
			return fmt.Errorf("%w: ban of a peer ID of %d bytes", ErrInvalid, len(b.Peer))
		}
		if b.Until.After(now) {
			all = append(all, entry{append(append([]byte(nil), prefixBan...), b.Peer...), encodeUntil(b.Until, b.Reason), b.Until})
		}
	}
	for _, m := range marks {
		if m.Until.After(now) {
			all = append(all, entry{append(append([]byte(nil), prefixReplay...), m.Key[:]...), encodeUntil(m.Until, ""), m.Until})
		}
	}
	for len(all) > 0 {
		batch := all[:min(len(all), peerBatch)]
		all = all[len(batch):]
		err := s.Update(func(tx *Tx) error {
			if err := tx.writable("save peers"); err != nil {
				return err
			}
			for _, e := range batch {
				ttl := e.until.Sub(now)
				tx.writes++
				tx.written += int64(len(e.key) + len(e.val))
				if err := tx.txn.SetEntry(badger.NewEntry(e.key, e.val).WithTTL(ttl)); err != nil {
					return wrapBadger("save peers", err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// LoadPeers returns the bans and replay marks still in force at now. An
// entry that does not decode is skipped (Verify reports it).
func (s *Store) LoadPeers(now time.Time) (bans []PeerBan, marks []ReplayMark, err error) {
	err = s.View(func(tx *Tx) error {
		return tx.scanPeers(func(key, val []byte) error {
			b, m, isBan, err := decodePeerEntry(key, val)
			switch {
			case err != nil:
				s.log.Warn("skipping a saved peer entry that does not decode", "err", err)
			case isBan && b.Until.After(now):
				bans = append(bans, b)
			case !isBan && m.Until.After(now):
				marks = append(marks, m)
			}
			return nil
		})
	})
	return bans, marks, err
}

func (tx *Tx) scanPeers(fn func(key, val []byte) error) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefixPeers
	it := tx.txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		key := item.KeyCopy(nil)
		var inner error
		if err := item.Value(func(v []byte) error { inner = fn(key, v); return nil }); err != nil {
			return wrapBadger("read saved peers", err)
		}
		if inner != nil {
			return inner
		}
	}
	return nil
}

func encodeUntil(until time.Time, reason string) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(until.UnixNano())), reason...)
}

// decodePeerEntry decodes a p/ entry; every error wraps ErrCorrupt.
func decodePeerEntry(key, val []byte) (b PeerBan, m ReplayMark, isBan bool, err error) {
	if len(val) < 8 {
		return b, m, false, fmt.Errorf("%w: saved peer entry %q: value of %d bytes, want at least 8", ErrCorrupt, key, len(val))
	}
	until := time.Unix(0, int64(binary.BigEndian.Uint64(val)))
	switch {
	case hasPrefix(key, prefixBan):
		id := key[len(prefixBan):]
		if len(id) == 0 || len(id) > maxPeerID {
			return b, m, true, fmt.Errorf("%w: saved ban with a peer ID of %d bytes", ErrCorrupt, len(id))
		}
		return PeerBan{Peer: string(id), Until: until, Reason: string(val[8:])}, m, true, nil
	case hasPrefix(key, prefixReplay):
		if len(key) != len(prefixReplay)+32 || len(val) != 8 {
			return b, m, false, fmt.Errorf("%w: saved replay mark: key of %d bytes, value of %d; want %d and 8", ErrCorrupt, len(key), len(val), len(prefixReplay)+32)
		}
		copy(m.Key[:], key[len(prefixReplay):])
		m.Until = until
		return b, m, false, nil
	}
	return b, m, false, fmt.Errorf("%w: unknown saved peer entry %q", ErrCorrupt, key)
}

func hasPrefix(key, prefix []byte) bool {
	return len(key) >= len(prefix) && string(key[:len(prefix)]) == string(prefix)
}

// verifyPeers checks that every saved ban and replay mark decodes. Their
// TTL has already hidden the expired ones.
func (tx *Tx) verifyPeers() error {
	var errs []error
	err := tx.scanPeers(func(key, val []byte) error {
		if _, _, _, err := decodePeerEntry(key, val); err != nil && len(errs) < 8 {
			errs = append(errs, err)
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
