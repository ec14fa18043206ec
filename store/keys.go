package store

import (
	"encoding/binary"

	"github.com/evoswarm/evoswarm/island/dna"
)

// Key layout. Every key starts with a one-letter prefix and a slash.
//
//	m/schema     schema version, 4 bytes big-endian
//	m/counters   Counters, JSON
//	m/config     experiment configuration, opaque bytes
//	m/seed       root seed, 8 bytes big-endian
//	i/<id>       Individual record, JSON (id: 32 raw bytes)
//	w/<id>       weights blob of a live individual
//	a/<id>       alive index: version, fitness, birth sequence (17 bytes)
//	t/<id>       training index: empty value
//	e/<seq>      Event, JSON (seq: 8 bytes big-endian, from 1)
//	p/...        the swarm's saved bans and replay marks (peers.go)
var (
	keySchema   = []byte("m/schema")
	keyCounters = []byte("m/counters")
	keyConfig   = []byte("m/config")
	keySeed     = []byte("m/seed")

	prefixIndividual = []byte("i/")
	prefixWeights    = []byte("w/")
	prefixAlive      = []byte("a/")
	prefixTraining   = []byte("t/")
	prefixEvent      = []byte("e/")
)

func idKey(prefix []byte, id dna.ID) []byte {
	k := make([]byte, 0, len(prefix)+len(id))
	return append(append(k, prefix...), id[:]...)
}

// idFromKey returns the ID in a key made by idKey, and false when the key
// has the wrong length.
func idFromKey(prefix, key []byte) (dna.ID, bool) {
	var id dna.ID
	if len(key) != len(prefix)+len(id) {
		return id, false
	}
	copy(id[:], key[len(prefix):])
	return id, true
}

func eventKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), prefixEvent...), seq)
}
