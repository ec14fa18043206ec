package gossip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/evoswarm/evoswarm/island/dna"
)

// Announcement is one migrant as it travels on the topic: an individual's
// genome and the fitness its sender claims, and where to fetch its weights.
// Weights never travel in gossip: a receiver that wants them asks the
// sender with FetchWeights, which checks them against WeightsDigest.
type Announcement struct {
	// Experiment is the experiment ID; Publish fills it in when empty.
	Experiment string
	// Genome is the individual; ID is its dna ID, which the decoder and
	// Publish compute from the genome.
	Genome *dna.Genome
	ID     dna.ID
	// Fitness is the validation accuracy the sender measured, in [0, 1].
	Fitness float64
	// WeightsDigest and WeightsSize identify the weights blob (train's
	// weights format: the digest is its trailing SHA-256).
	WeightsDigest [32]byte
	WeightsSize   int64
	// Origin is the peer that made the individual. An original
	// announcement (Relayed false) must be signed by Origin; a relayed one
	// is an individual the signer received from elsewhere and now
	// re-announces, keeping its origin, and must be signed by another peer.
	// Publish fills Origin in with the node's ID when empty.
	Origin  peer.ID
	Relayed bool
	// Lineage lists up to MaxLineage ancestors, nearest first: the parent
	// (Genome.Parent), then the grandparent, and so on, each with the
	// mutation that made it. It is informational; only the first entry is
	// checked (against Genome.Parent).
	Lineage []Ancestor
	// SentAt is when the announcement was sent; Publish fills it in when
	// zero. Receivers reject a send time older than MaxAge or further
	// ahead than MaxClockSkew.
	SentAt time.Time
}

// Ancestor is one lineage entry.
type Ancestor struct {
	ID       dna.ID
	Mutation dna.Kind // the mutation that made this ancestor; Mutation.String() names it
}

// Wire format of an announcement, version 1. Integers are little-endian.
//
//	magic "EVMG", version u8 (1), flags u8 (bit 0: relayed; the others 0)
//	experiment ID: length u8 (1..64), bytes
//	origin peer ID: length u8 (1..255 accepted if it parses as a peer ID;
//	  encoders write at most 128), bytes (the binary peer ID)
//	send time i64 (Unix nanoseconds)
//	fitness f64
//	weights size u64, weights digest [32]byte
//	lineage count u8 (0..8), then per ancestor: id [32]byte, mutation u8
//	genome length u32, genome (dna's binary encoding), and nothing after it
//
// The encoding is canonical: one announcement has exactly one encoding, so
// pubsub's content-addressed message IDs deduplicate it.
const (
	wireMagic   = "EVMG"
	wireVersion = 1
	flagRelayed = 1
	maxPeerID   = 128
)

// Decoding errors. Every error of DecodeAnnouncement wraps one of them.
var (
	// ErrMalformed: the bytes are not a version-1 announcement.
	ErrMalformed = errors.New("malformed announcement")
	// ErrVersion: the announcement is of another wire version.
	ErrVersion = errors.New("unknown announcement version")
	// ErrGenome: the genome does not decode (it wraps dna.ErrMalformed too).
	ErrGenome = errors.New("undecodable genome")
)

// MarshalBinary encodes the announcement. It checks what the encoding needs
// (sizes, ID lengths, lineage length), not the announcement's semantics;
// Publish does that.
func (a *Announcement) MarshalBinary() ([]byte, error) {
	if a.Genome == nil {
		return nil, errors.New("gossip: announcement has no genome")
	}
	g, err := a.Genome.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("gossip: announcement genome: %w", err)
	}
	if err := validExperimentID(a.Experiment); err != nil {
		return nil, fmt.Errorf("gossip: announcement experiment: %w", err)
	}
	if n := len(a.Origin); n == 0 || n > maxPeerID {
		return nil, fmt.Errorf("gossip: announcement origin has %d bytes, want 1..%d", n, maxPeerID)
	}
	if len(a.Lineage) > MaxLineage {
		return nil, fmt.Errorf("gossip: announcement lineage has %d entries, the limit is %d", len(a.Lineage), MaxLineage)
	}
	if a.WeightsSize < 0 {
		return nil, fmt.Errorf("gossip: announcement weights size %d is negative", a.WeightsSize)
	}
	le := binary.LittleEndian
	b := make([]byte, 0, 128+len(a.Experiment)+len(a.Origin)+33*len(a.Lineage)+len(g))
	b = append(b, wireMagic...)
	b = append(b, wireVersion)
	var flags byte
	if a.Relayed {
		flags |= flagRelayed
	}
	b = append(b, flags)
	b = append(b, byte(len(a.Experiment)))
	b = append(b, a.Experiment...)
	b = append(b, byte(len(a.Origin)))
	b = append(b, a.Origin...)
	b = le.AppendUint64(b, uint64(a.SentAt.UnixNano()))
	b = le.AppendUint64(b, math.Float64bits(a.Fitness))
	b = le.AppendUint64(b, uint64(a.WeightsSize))
	b = append(b, a.WeightsDigest[:]...)
	b = append(b, byte(len(a.Lineage)))
	for _, anc := range a.Lineage {
		b = append(b, anc.ID[:]...)
		b = append(b, byte(anc.Mutation))
	}
	b = le.AppendUint32(b, uint32(len(g)))
	b = append(b, g...)
	return b, nil
}

// envelope is a decoded announcement whose genome is still encoded, so
// that the validator can tell a malformed message from a bad genome.
type envelope struct {
	a      Announcement
	genome []byte
}

// DecodeAnnouncement decodes an announcement, genome included. It refuses
// truncated input, trailing bytes, unknown flags, versions or mutations,
// and an undecodable genome; it never panics. It does not check the
// announcement against a Config: the topic validator does that.
func DecodeAnnouncement(data []byte) (*Announcement, error) {
	env, err := decodeEnvelope(data)
	if err != nil {
		return nil, err
	}
	if err := env.decodeGenome(); err != nil {
		return nil, err
	}
	return &env.a, nil
}

func (env *envelope) decodeGenome() error {
	g, err := dna.DecodeBinary(env.genome)
	if err != nil {
		return fmt.Errorf("gossip: %w: %w", ErrGenome, err)
	}
	env.a.Genome = g
	env.a.ID = g.ID()
	return nil
}

type wireReader struct {
	b   []byte
	err error
}

func (r *wireReader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.err = fmt.Errorf("gossip: %w: truncated in %s", ErrMalformed, what)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *wireReader) u8(what string) byte {
	if b := r.take(1, what); b != nil {
		return b[0]
	}
	return 0
}

func (r *wireReader) u32(what string) uint32 {
	if b := r.take(4, what); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *wireReader) u64(what string) uint64 {
	if b := r.take(8, what); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func decodeEnvelope(data []byte) (*envelope, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("gossip: %w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	r := &wireReader{b: data}
	if m := r.take(len(wireMagic), "magic"); r.err != nil || string(m) != wireMagic {
		return nil, bad("bad magic")
	}
	if v := r.u8("version"); r.err == nil && v != wireVersion {
		return nil, fmt.Errorf("gossip: %w: version %d, this build reads %d", ErrVersion, v, wireVersion)
	}
	env := &envelope{}
	a := &env.a
	flags := r.u8("flags")
	if flags&^flagRelayed != 0 {
		return nil, bad("unknown flags %#x", flags)
	}
	a.Relayed = flags&flagRelayed != 0
	exp := r.take(int(r.u8("experiment length")), "experiment")
	if r.err != nil {
		return nil, r.err
	}
	a.Experiment = string(exp)
	if err := validExperimentID(a.Experiment); err != nil {
		return nil, bad("experiment ID: %v", err)
	}
	origin := r.take(int(r.u8("origin length")), "origin")
	if r.err != nil {
		return nil, r.err
	}
	if len(origin) == 0 {
		return nil, bad("empty origin")
	}
	pid, err := peer.IDFromBytes(origin)
	if err != nil {
		return nil, bad("origin is not a peer ID: %v", err)
	}
	a.Origin = pid
	a.SentAt = time.Unix(0, int64(r.u64("send time")))
	a.Fitness = math.Float64frombits(r.u64("fitness"))
	size := r.u64("weights size")
	if size > math.MaxInt64 {
		return nil, bad("weights size %d", size)
	}
	a.WeightsSize = int64(size)
	copy(a.WeightsDigest[:], r.take(32, "weights digest"))
	n := int(r.u8("lineage count"))
	if n > MaxLineage {
		return nil, bad("%d lineage entries, the limit is %d", n, MaxLineage)
	}
	if n > 0 {
		a.Lineage = make([]Ancestor, n)
	}
	for i := range a.Lineage {
		copy(a.Lineage[i].ID[:], r.take(32, "lineage"))
		a.Lineage[i].Mutation = dna.Kind(r.u8("lineage"))
		if r.err == nil && !knownKind(a.Lineage[i].Mutation) {
			return nil, bad("lineage entry %d has unknown mutation %d", i, a.Lineage[i].Mutation)
		}
	}
	gl := r.u32("genome length")
	if r.err == nil && uint64(gl) != uint64(len(r.b)) {
		return nil, bad("genome length %d, but %d bytes follow", gl, len(r.b))
	}
	env.genome = r.take(int(gl), "genome")
	if r.err != nil {
		return nil, r.err
	}
	return env, nil
}

func knownKind(k dna.Kind) bool {
	return k == dna.None || slices.Contains(dna.Kinds(), k)
}
