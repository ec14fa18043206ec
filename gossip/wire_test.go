package gossip

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/evoswarm/evoswarm/island/dna"
)

// wireAnnouncement is a complete announcement with every field set.
func wireAnnouncement(t testing.TB) *Announcement {
	t.Helper()
	a := testAnnouncement(t)
	pid, err := peer.IDFromPrivateKey(testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	parent := testGenome(t)
	a.Genome.Parent, a.Genome.Mutation = parent.ID(), dna.InsertConvolution
	a.Experiment = testExperiment
	a.Origin = pid
	a.Relayed = true
	a.SentAt = time.Unix(1_800_000_000, 123456789)
	a.Lineage = []Ancestor{{ID: parent.ID(), Mutation: dna.AddSkip}, {ID: dna.ID{7}, Mutation: dna.None}}
	return &a
}

func TestAnnouncementRoundTrip(t *testing.T) {
	a := wireAnnouncement(t)
	data, err := a.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary: %v", err)
	}
	b, err := DecodeAnnouncement(data)
	if err != nil {
		t.Fatalf("DecodeAnnouncement: %v", err)
	}
	switch {
	case b.Experiment != a.Experiment || b.Origin != a.Origin || b.Relayed != a.Relayed:
		t.Errorf("decoded experiment %q origin %s relayed %v, want %q %s %v", b.Experiment, b.Origin, b.Relayed, a.Experiment, a.Origin, a.Relayed)
	case !b.SentAt.Equal(a.SentAt) || b.Fitness != a.Fitness:
		t.Errorf("decoded sent %v fitness %v, want %v %v", b.SentAt, b.Fitness, a.SentAt, a.Fitness)
	case b.WeightsDigest != a.WeightsDigest || b.WeightsSize != a.WeightsSize:
		t.Errorf("decoded weights %x/%d, want %x/%d", b.WeightsDigest[:4], b.WeightsSize, a.WeightsDigest[:4], a.WeightsSize)
	case len(b.Lineage) != 2 || b.Lineage[0] != a.Lineage[0] || b.Lineage[1] != a.Lineage[1]:
		t.Errorf("decoded lineage %v, want %v", b.Lineage, a.Lineage)
	case b.ID != a.Genome.ID() || b.Genome.ID() != a.Genome.ID():
		t.Errorf("decoded ID %s, want %s", b.ID.Short(), a.Genome.ID().Short())
	}
	again, err := b.MarshalBinary()
	if err != nil || !bytes.Equal(again, data) {
		t.Errorf("re-encoding differs (err %v): the encoding is not canonical", err)
	}
}

func TestDecodeAnnouncementRefuses(t *testing.T) {
	good, err := wireAnnouncement(t).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	// Offsets in good: magic 0-3, version 4, flags 5, experiment length 6.
	expLen := int(good[6])
	lineageAt := 7 + expLen + 1 + int(good[7+expLen]) + 8 + 8 + 8 + 32
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"magic", edit(func(b []byte) []byte { b[0] = 'X'; return b }), ErrMalformed},
		{"version", edit(func(b []byte) []byte { b[4] = 2; return b }), ErrVersion},
		{"flags", edit(func(b []byte) []byte { b[5] = 2; return b }), ErrMalformed},
		{"empty experiment", edit(func(b []byte) []byte { return append(b[:6:6], append([]byte{0}, b[7+expLen:]...)...) }), ErrMalformed},
		{"origin", edit(func(b []byte) []byte { b[8+expLen] ^= 0xff; return b }), ErrMalformed},
		{"lineage count", edit(func(b []byte) []byte { b[lineageAt] = MaxLineage + 1; return b }), ErrMalformed},
		{"lineage mutation", edit(func(b []byte) []byte { b[lineageAt+1+32] = 200; return b }), ErrMalformed},
		{"trailing byte", edit(func(b []byte) []byte { return append(b, 0) }), ErrMalformed},
		{"genome length", edit(func(b []byte) []byte {
			i := lineageAt + 1 + 2*33
			binary.LittleEndian.PutUint32(b[i:], binary.LittleEndian.Uint32(b[i:])+1)
			return b
		}), ErrMalformed},
		{"genome", edit(func(b []byte) []byte { b[lineageAt+1+2*33+4] = 'X'; return b }), ErrGenome},
	}
	for _, tt := range tests {
		if _, err := DecodeAnnouncement(tt.data); !errors.Is(err, tt.want) {
			t.Errorf("%s: DecodeAnnouncement = %v, want %v", tt.name, err, tt.want)
		}
	}
	for n := range len(good) {
		if _, err := DecodeAnnouncement(good[:n]); err == nil {
			t.Fatalf("DecodeAnnouncement accepted the first %d of %d bytes", n, len(good))
		}
	}
}

func TestMarshalRefuses(t *testing.T) {
	a := wireAnnouncement(t)
	a.Lineage = make([]Ancestor, MaxLineage+1)
	if _, err := a.MarshalBinary(); err == nil {
		t.Error("MarshalBinary accepted 9 ancestors")
	}
	a = wireAnnouncement(t)
	a.Origin = ""
	if _, err := a.MarshalBinary(); err == nil {
		t.Error("MarshalBinary accepted an empty origin")
	}
}

// FuzzDecodeAnnouncement: decoding never panics, and whatever decodes
// re-encodes to the same bytes (the encoding is canonical).
func FuzzDecodeAnnouncement(f *testing.F) {
	good, err := wireAnnouncement(f).MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(wireMagic + "\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := DecodeAnnouncement(data)
		if err != nil {
			return
		}
		again, err := a.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded announcement does not encode: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", again, data)
		}
	})
}
