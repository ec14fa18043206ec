package gossip

// Test vectors of the wire protocol, for implementations in other
// languages (docs/protocol.md). They are generated from fixed inputs (two
// Ed25519 keys from fixed seeds, a fixed genome, a fixed send time) by the
// real encoder, kept in testdata/protocol/vectors.json, and checked three
// ways:
//
//   - TestProtocolVectors decodes and validates each vector of the file
//     with the real decoder and validator, at the file's "now" (the
//     validator takes the time as an argument, so the vectors never go
//     stale), and checks the decoded fields and the exact rejection reason;
//   - TestProtocolVectorsGenerated regenerates the file and compares;
//   - TestProtocolDoc checks that the generated part of docs/protocol.md
//     (between the markers) is what the file renders to, so the document
//     cannot drift from the code.
//
// After a deliberate change of the wire format, rewrite both with
//
//	go test ./gossip/ -run Protocol -update-protocol

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/evoswarm/evoswarm/island/dna"
)

var updateProtocol = flag.Bool("update-protocol", false, "rewrite testdata/protocol/vectors.json and the generated part of docs/protocol.md")

const (
	vectorsFile  = "testdata/protocol/vectors.json"
	protocolDoc  = "../docs/protocol.md"
	docBegin     = "<!-- BEGIN GENERATED VECTORS: go test ./gossip/ -run Protocol -update-protocol -->"
	docEnd       = "<!-- END GENERATED VECTORS -->"
	vectorsValid = "valid-original"
)

// vectorFile is the JSON file's layout.
type vectorFile struct {
	Comment string `json:"comment"`
	// Experiment is the swarm's experiment ID; Now the validator's clock.
	Experiment string    `json:"experiment"`
	Now        time.Time `json:"now"`
	// The limits the vectors are checked against (DefaultConfig's).
	MaxAge              string        `json:"max_age"`
	MaxClockSkew        string        `json:"max_clock_skew"`
	MaxAnnouncementSize int           `json:"max_announcement_size"`
	MaxWeightsBytes     int64         `json:"max_weights_bytes"`
	Bounds              string        `json:"bounds"`
	Peers               []vectorPeer  `json:"peers"`
	Vectors             []vector      `json:"vectors"`
	Weights             weightsVector `json:"weights_stream"`
}

type vectorPeer struct {
	Name string `json:"name"`
	Seed string `json:"ed25519_seed"` // hex, 32 bytes
	ID   string `json:"peer_id"`
	// IDHex is the binary peer ID, as the origin field carries it.
	IDHex string `json:"peer_id_hex"`
}

type vector struct {
	Name string `json:"name"`
	What string `json:"what"`
	// Signer is the peer (Peers[].Name) that signed the pubsub message.
	Signer string `json:"signer"`
	// After names vectors to be accepted first by the same validator.
	After []string `json:"after,omitempty"`
	Hex   string   `json:"hex"`
	// Reason is the rejection reason; empty for a valid vector.
	Reason  string         `json:"reason"`
	Decoded *decodedVector `json:"decoded,omitempty"`
}

type decodedVector struct {
	Experiment    string            `json:"experiment"`
	Relayed       bool              `json:"relayed"`
	Origin        string            `json:"origin"`
	SentAt        time.Time         `json:"sent_at"`
	SentAtNanos   int64             `json:"sent_at_unix_nanos"`
	Fitness       float64           `json:"fitness"`
	WeightsSize   int64             `json:"weights_size"`
	WeightsDigest string            `json:"weights_digest"`
	Lineage       []decodedAncestor `json:"lineage"`
	GenomeBytes   int               `json:"genome_bytes"`
	ID            string            `json:"id"`
	Parent        string            `json:"genome_parent"`
	Mutation      string            `json:"genome_mutation"`
	LearningRate  float64           `json:"genome_learning_rate"`
}

type decodedAncestor struct {
	ID       string `json:"id"`
	Mutation string `json:"mutation"`
}

// weightsVector is one exchange on the weights stream.
type weightsVector struct {
	Request  string `json:"request"`  // the individual's ID, 32 bytes
	Response string `json:"response"` // status 0, length, blob
	Blob     string `json:"blob"`
	Digest   string `json:"digest"`
	Size     int    `json:"size"`
	NotFound string `json:"response_not_found"`
	Busy     string `json:"response_unavailable"`
}

// vectorConfig is the configuration the vectors are validated against.
func vectorConfig(f *vectorFile) Config {
	c := DefaultConfig()
	c.ExperimentID = f.Experiment
	return c
}

func seedKey(t testing.TB, b byte) (crypto.PrivKey, []byte) {
	t.Helper()
	seed := bytes.Repeat([]byte{b}, ed25519.SeedSize)
	k, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	return k, seed
}

func hexOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// generateVectors builds the vectors from fixed inputs with the real
// encoder.
func generateVectors(t testing.TB) *vectorFile {
	t.Helper()
	sent := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := &vectorFile{
		Comment:    "evoswarm wire protocol test vectors, version 1: see docs/protocol.md. Generated by gossip/protocol_vectors_test.go.",
		Experiment: hexOf("evoswarm protocol test vectors"),
		Now:        sent.Add(10 * time.Second),
		Bounds:     "dna.DefaultBounds: 64 vertices, 192 edges, 5M parameters, 2 GFLOPs, 512 channels, filter 15, stride 8, learning rate [1e-5, 2]",
	}
	cfg := vectorConfig(f)
	f.MaxAge, f.MaxClockSkew = cfg.MaxAge.String(), cfg.MaxClockSkew.String()
	f.MaxAnnouncementSize, f.MaxWeightsBytes = cfg.MaxAnnouncementSize, cfg.MaxWeightsBytes

	ids := map[string]peer.ID{}
	for i, name := range []string{"A", "B"} {
		k, seed := seedKey(t, byte(i+1))
		id, err := peer.IDFromPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = id
		f.Peers = append(f.Peers, vectorPeer{Name: name, Seed: hex.EncodeToString(seed), ID: id.String(), IDHex: hex.EncodeToString([]byte(id))})
	}

	// A grandparent and a parent (initial genomes with fixed nonces), and
	// the child announced, made from the parent by alter-learning-rate.
	shape := dna.Shape{H: 28, W: 28, C: 1}
	grand := dna.Initial(shape, 10, dna.PaperLearningRate)
	grand.Nonce = 1
	parent := dna.Initial(shape, 10, dna.PaperLearningRate)
	parent.Nonce, parent.Parent, parent.Mutation = 2, grand.ID(), dna.ResetWeights
	child := dna.Initial(shape, 10, 0.125)
	child.Nonce, child.Parent, child.Mutation = 3, parent.ID(), dna.AlterLearningRate
	weightsDigest := sha256.Sum256([]byte("evoswarm protocol test vector weights"))
	base := func() *Announcement {
		return &Announcement{
			Experiment: f.Experiment, Genome: child.Clone(), ID: child.ID(), Fitness: 0.8125,
			WeightsDigest: weightsDigest, WeightsSize: 1_234_567, Origin: ids["A"], SentAt: sent,
			Lineage: []Ancestor{{ID: parent.ID(), Mutation: dna.ResetWeights}, {ID: grand.ID(), Mutation: dna.None}},
		}
	}
	encode := func(a *Announcement) []byte {
		b, err := a.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	valid := encode(base())
	genomeAt := len(valid) - len(mustGenome(t, child))
	lineageAt := genomeAt - 4 - 33*2
	patched := func(edit func(b []byte) []byte) []byte { return edit(bytes.Clone(valid)) }
	edited := func(edit func(a *Announcement)) []byte { a := base(); edit(a); return encode(a) }

	add := func(name, what, signer, reason string, data []byte, after ...string) {
		f.Vectors = append(f.Vectors, vector{Name: name, What: what, Signer: signer, After: after, Hex: hex.EncodeToString(data), Reason: reason})
	}
	add(vectorsValid, "an original announcement, signed by its origin", "A", "", valid)
	add("valid-relayed", "the same individual relayed by B (flag bit 0 set, origin still A)", "B", "",
		edited(func(a *Announcement) { a.Relayed = true }))
	add("replay", "valid-original again, after it was accepted", "A", ReasonReplay, valid, vectorsValid)
	add("bad-magic", "magic is not \"EVMG\"", "A", ReasonMalformed, patched(func(b []byte) []byte { b[0] = 'X'; return b }))
	add("version-2", "version byte 2", "A", ReasonVersion, patched(func(b []byte) []byte { b[4] = 2; return b }))
	add("unknown-flag", "flag bit 1 set", "A", ReasonMalformed, patched(func(b []byte) []byte { b[5] = 2; return b }))
	add("truncated", "the last byte missing", "A", ReasonMalformed, valid[:len(valid)-1])
	add("trailing-byte", "one byte after the genome", "A", ReasonMalformed, append(bytes.Clone(valid), 0))
	add("unknown-mutation", "lineage entry 0 has mutation 12", "A", ReasonMalformed,
		patched(func(b []byte) []byte { b[lineageAt+32] = 12; return b }))
	add("wrong-experiment", "another experiment's ID", "A", ReasonExperiment,
		edited(func(a *Announcement) { a.Experiment = hexOf("another experiment") }))
	add("fitness-above-1", "fitness 1.5", "A", ReasonFitness, edited(func(a *Announcement) { a.Fitness = 1.5 }))
	add("fitness-nan", "fitness NaN", "A", ReasonFitness, edited(func(a *Announcement) { a.Fitness = math.NaN() }))
	add("weights-too-small", "weights size 31, less than a digest", "A", ReasonWeightsSize,
		edited(func(a *Announcement) { a.WeightsSize = 31 }))
	add("weights-too-large", "weights size MaxWeightsBytes+1", "A", ReasonWeightsSize,
		edited(func(a *Announcement) { a.WeightsSize = cfg.MaxWeightsBytes + 1 }))
	add("stale", "sent MaxAge and 1 ns before now", "A", ReasonStale,
		edited(func(a *Announcement) { a.SentAt = f.Now.Add(-cfg.MaxAge - 1) }))
	add("future", "sent MaxClockSkew and 1 ns after now", "A", ReasonFuture,
		edited(func(a *Announcement) { a.SentAt = f.Now.Add(cfg.MaxClockSkew + 1) }))
	add("origin-not-signer", "valid-original signed by B, not by its origin", "B", ReasonOrigin, valid)
	add("relayed-by-origin", "valid-relayed signed by its origin A", "A", ReasonOrigin,
		edited(func(a *Announcement) { a.Relayed = true }))
	add("genome-bad-magic", "the genome's magic is not \"EVDN\"", "A", ReasonGenome,
		patched(func(b []byte) []byte { b[genomeAt] = 'X'; return b }))
	add("out-of-bounds", "learning rate 4 (the bounds allow [1e-5, 2])", "A", ReasonBounds,
		edited(func(a *Announcement) { a.Genome.LearningRate = 4 }))
	add("lineage-not-parent", "lineage entry 0 is not the genome's parent", "A", ReasonLineage,
		edited(func(a *Announcement) { a.Lineage[0].ID = a.Lineage[1].ID }))
	add("lineage-zero-id", "lineage entry 1 has the zero ID", "A", ReasonLineage,
		edited(func(a *Announcement) { a.Lineage[1].ID = dna.ID{} }))

	for i := range f.Vectors {
		v := &f.Vectors[i]
		if v.Reason != "" {
			continue
		}
		data, _ := hex.DecodeString(v.Hex)
		a, err := DecodeAnnouncement(data)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		v.Decoded = decodedOf(a, len(mustGenome(t, a.Genome)))
	}

	// The weights stream: a request for the child's weights, and a
	// response carrying a blob that ends with the SHA-256 of the rest.
	body := []byte("EVWT\x01 opaque to the stream but for its last 32 bytes")
	sum := sha256.Sum256(body)
	blob := append(body, sum[:]...)
	id := child.ID()
	resp := binary.LittleEndian.AppendUint64([]byte{statusOK}, uint64(len(blob)))
	f.Weights = weightsVector{
		Request: hex.EncodeToString(id[:]), Response: hex.EncodeToString(append(resp, blob...)),
		Blob: hex.EncodeToString(blob), Digest: hex.EncodeToString(sum[:]), Size: len(blob),
		NotFound: hex.EncodeToString([]byte{statusNotFound}), Busy: hex.EncodeToString([]byte{statusUnavailable}),
	}
	return f
}

func mustGenome(t testing.TB, g *dna.Genome) []byte {
	t.Helper()
	b, err := g.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodedOf(a *Announcement, genomeBytes int) *decodedVector {
	d := &decodedVector{
		Experiment: a.Experiment, Relayed: a.Relayed, Origin: a.Origin.String(),
		SentAt: a.SentAt.UTC(), SentAtNanos: a.SentAt.UnixNano(), Fitness: a.Fitness,
		WeightsSize: a.WeightsSize, WeightsDigest: hex.EncodeToString(a.WeightsDigest[:]),
		Lineage: []decodedAncestor{}, GenomeBytes: genomeBytes, ID: a.ID.String(),
		Parent: a.Genome.Parent.String(), Mutation: a.Genome.Mutation.String(), LearningRate: a.Genome.LearningRate,
	}
	for _, anc := range a.Lineage {
		d.Lineage = append(d.Lineage, decodedAncestor{ID: anc.ID.String(), Mutation: anc.Mutation.String()})
	}
	return d
}

func marshalVectors(t testing.TB, f *vectorFile) []byte {
	t.Helper()
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func readVectors(t testing.TB) *vectorFile {
	t.Helper()
	b, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatalf("%v (generate it with -update-protocol)", err)
	}
	var f vectorFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", vectorsFile, err)
	}
	return &f
}

// TestProtocolVectors checks every vector of the file with the real
// decoder and validator.
func TestProtocolVectors(t *testing.T) {
	f := readVectors(t)
	cfg := vectorConfig(f)
	if cfg.MaxAge.String() != f.MaxAge || cfg.MaxClockSkew.String() != f.MaxClockSkew ||
		cfg.MaxAnnouncementSize != f.MaxAnnouncementSize || cfg.MaxWeightsBytes != f.MaxWeightsBytes {
		t.Fatalf("the file's limits (%s, %s, %d, %d) are not DefaultConfig's (%v, %v, %d, %d)", f.MaxAge, f.MaxClockSkew,
			f.MaxAnnouncementSize, f.MaxWeightsBytes, cfg.MaxAge, cfg.MaxClockSkew, cfg.MaxAnnouncementSize, cfg.MaxWeightsBytes)
	}
	signers := map[string]peer.ID{}
	for i, p := range f.Peers {
		k, seed := seedKey(t, byte(i+1))
		id, _ := peer.IDFromPrivateKey(k)
		if hex.EncodeToString(seed) != p.Seed || id.String() != p.ID || hex.EncodeToString([]byte(id)) != p.IDHex {
			t.Fatalf("peer %s: seed %s gives %s", p.Name, p.Seed, id)
		}
		signers[p.Name] = id
	}
	byName := map[string]vector{}
	for _, v := range f.Vectors {
		byName[v.Name] = v
	}
	decode := func(t *testing.T, s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	reasons := map[string]bool{}
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			data := decode(t, v.Hex)
			val := newValidator(&cfg, slog.New(slog.DiscardHandler), f.Now)
			for _, name := range v.After {
				if _, reason, err := val.check(decode(t, byName[name].Hex), signers[byName[name].Signer], f.Now); reason != "" {
					t.Fatalf("vector %s, checked first, rejected: %s (%v)", name, reason, err)
				}
			}
			a, reason, err := val.check(data, signers[v.Signer], f.Now)
			if reason != v.Reason {
				t.Fatalf("rejection reason %q (%v), want %q", reason, err, v.Reason)
			}
			reasons[reason] = true
			dec, derr := DecodeAnnouncement(data)
			switch v.Reason {
			case ReasonMalformed:
				if !errors.Is(derr, ErrMalformed) {
					t.Errorf("DecodeAnnouncement: %v, want ErrMalformed", derr)
				}
			case ReasonVersion:
				if !errors.Is(derr, ErrVersion) {
					t.Errorf("DecodeAnnouncement: %v, want ErrVersion", derr)
				}
			case ReasonGenome:
				if !errors.Is(derr, ErrGenome) || !errors.Is(derr, dna.ErrMalformed) {
					t.Errorf("DecodeAnnouncement: %v, want ErrGenome wrapping dna.ErrMalformed", derr)
				}
			default:
				if derr != nil {
					t.Errorf("DecodeAnnouncement: %v; a %q vector must decode", derr, v.Reason)
				}
			}
			if v.Reason != "" {
				return
			}
			if v.Decoded == nil {
				t.Fatal("a valid vector without its decoded fields")
			}
			got := decodedOf(a, v.Decoded.GenomeBytes)
			want := *v.Decoded
			want.SentAt = want.SentAt.UTC()
			if gj, wj := mustJSON(t, got), mustJSON(t, &want); gj != wj {
				t.Errorf("decoded\n%s\nwant\n%s", gj, wj)
			}
			if g := mustGenome(t, dec.Genome); len(g) != v.Decoded.GenomeBytes || !bytes.HasSuffix(data, g) ||
				hex.EncodeToString(sha256Of(g)) != v.Decoded.ID {
				t.Errorf("the genome is not the last %d bytes, or its SHA-256 is not the ID %s", v.Decoded.GenomeBytes, v.Decoded.ID)
			}
			if again, err := dec.MarshalBinary(); err != nil || !bytes.Equal(again, data) {
				t.Errorf("re-encoding differs (%v): not canonical", err)
			}
		})
	}
	// Every reason but oversized (a 64 KiB vector) is covered.
	for _, r := range Reasons() {
		if r != ReasonOversized && !reasons[r] {
			t.Errorf("no vector for reason %q", r)
		}
	}

	t.Run("weights-stream", func(t *testing.T) {
		w := f.Weights
		var digest [32]byte
		copy(digest[:], decode(t, w.Digest))
		blob, err := readWeightsResponse(bytes.NewReader(decode(t, w.Response)), digest, w.Size, cfg.MaxWeightsBytes)
		if err != nil || hex.EncodeToString(blob) != w.Blob {
			t.Errorf("response: %x, %v; want the blob", blob, err)
		}
		if want := byName[vectorsValid].Decoded.ID; w.Request != want {
			t.Errorf("request %s, want the valid vector's ID %s", w.Request, want)
		}
		if _, err := readWeightsResponse(bytes.NewReader(decode(t, w.NotFound)), digest, w.Size, cfg.MaxWeightsBytes); !errors.Is(err, ErrWeightsNotFound) {
			t.Errorf("not found: %v", err)
		}
		if _, err := readWeightsResponse(bytes.NewReader(decode(t, w.Busy)), digest, w.Size, cfg.MaxWeightsBytes); !errors.Is(err, errUnavailable) {
			t.Errorf("unavailable: %v", err)
		}
		// A blob of another digest, or of another size than announced, is refused.
		bad := decode(t, w.Response)
		bad[len(bad)-1] ^= 1
		if _, err := readWeightsResponse(bytes.NewReader(bad), digest, w.Size, cfg.MaxWeightsBytes); !errors.Is(err, ErrDigestMismatch) {
			t.Errorf("altered blob: %v, want ErrDigestMismatch", err)
		}
		if _, err := readWeightsResponse(bytes.NewReader(decode(t, w.Response)), digest, w.Size+1, cfg.MaxWeightsBytes); !errors.Is(err, ErrSizeMismatch) {
			t.Errorf("other size: %v, want ErrSizeMismatch", err)
		}
	})
}

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestProtocolVectorsGenerated checks that the file is what the encoder
// makes of the fixed inputs today.
func TestProtocolVectorsGenerated(t *testing.T) {
	want := marshalVectors(t, generateVectors(t))
	if *updateProtocol {
		if err := os.MkdirAll(filepath.Dir(vectorsFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the encoder generates: the wire format changed; if deliberately, rerun with -update-protocol and bump the version (docs/protocol.md)", vectorsFile)
	}
}

// TestProtocolDoc checks the generated part of docs/protocol.md against
// the vectors file, and that the document names every rejection reason.
func TestProtocolDoc(t *testing.T) {
	f := readVectors(t)
	section := renderVectors(t, f)
	doc, err := os.ReadFile(protocolDoc)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	i, j := strings.Index(text, docBegin), strings.Index(text, docEnd)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the markers %q and %q", protocolDoc, docBegin, docEnd)
	}
	current := text[i+len(docBegin) : j]
	if *updateProtocol && current != section {
		text = text[:i+len(docBegin)] + section + text[j:]
		if err := os.WriteFile(protocolDoc, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		current = section
	}
	if current != section {
		t.Errorf("the generated part of %s is out of date: rerun with -update-protocol", protocolDoc)
	}
	// Every hex string of the file appears in the document.
	flat := strings.Join(strings.Fields(text), "")
	for _, v := range f.Vectors {
		if v.Reason == "" && !strings.Contains(flat, v.Hex) {
			t.Errorf("%s lacks the hex of %s", protocolDoc, v.Name)
		}
	}
	for _, h := range []string{f.Weights.Request, f.Weights.Response} {
		if !strings.Contains(flat, h) {
			t.Errorf("%s lacks the weights stream's hex %s", protocolDoc, h)
		}
	}
	for _, r := range Reasons() {
		if !strings.Contains(text, "`"+r+"`") {
			t.Errorf("%s does not name the rejection reason %q", protocolDoc, r)
		}
	}
	for _, name := range []string{TopicName("<experiment ID>"), string(WeightsProtocol), "EVMG"} {
		if !strings.Contains(text, name) {
			t.Errorf("%s does not mention %q", protocolDoc, name)
		}
	}
}

// renderVectors renders the generated part of docs/protocol.md: peers,
// the valid vectors in hex and field by field, the invalid ones as edits
// of valid-original, and the weights stream.
func renderVectors(t testing.TB, f *vectorFile) string {
	t.Helper()
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("\n\nGenerated from `gossip/testdata/protocol/vectors.json`, which holds every vector in full.\n")
	w("They are checked at **now = %s** against the defaults: experiment ID `%s`,\n", f.Now.UTC().Format(time.RFC3339Nano), f.Experiment)
	w("MaxAge %s, MaxClockSkew %s, MaxAnnouncementSize %d, MaxWeightsBytes %d, %s.\n\n", f.MaxAge, f.MaxClockSkew, f.MaxAnnouncementSize, f.MaxWeightsBytes, f.Bounds)
	w("| peer | Ed25519 seed (32 bytes) | peer ID |\n|---|---|---|\n")
	for _, p := range f.Peers {
		w("| %s | `%s` | `%s` |\n", p.Name, p.Seed, p.ID)
	}
	var valid []byte
	for _, v := range f.Vectors {
		if v.Reason != "" {
			continue
		}
		data, _ := hex.DecodeString(v.Hex)
		if v.Name == vectorsValid {
			valid = data
		}
		w("\n#### `%s` (signed by %s): accepted\n\n", v.Name, v.Signer)
		w("%s; %d bytes:\n\n```\n", strings.ToUpper(v.What[:1])+v.What[1:], len(data))
		for s := v.Hex; len(s) > 0; {
			n := min(64, len(s))
			w("%s\n", s[:n])
			s = s[n:]
		}
		w("```\n\nDecoded: ID `%s`, experiment as above, origin %s, relayed %v, sent %s, fitness %v,\n",
			v.Decoded.ID, v.Decoded.Origin, v.Decoded.Relayed, v.Decoded.SentAt.UTC().Format(time.RFC3339Nano), v.Decoded.Fitness)
		w("weights %d bytes with digest `%s`, lineage", v.Decoded.WeightsSize, v.Decoded.WeightsDigest)
		for i, anc := range v.Decoded.Lineage {
			w(" %d. `%s…` (%s)", i, anc.ID[:16], anc.Mutation)
		}
		w("; genome %d bytes, learning rate %v, mutation %s.\n", v.Decoded.GenomeBytes, v.Decoded.LearningRate, v.Decoded.Mutation)
		if v.Name == vectorsValid {
			w("\nField by field (offsets in decimal):\n\n```\n")
			for _, r := range annotate(t, data) {
				w("%s\n", r)
			}
			w("```\n")
		}
	}
	w("\n#### Rejected vectors\n\nEach is `%s` with the bytes at the offset replaced (`old → new`), signed as shown; the validator\nrejects it with the reason given. `replay` is `%s` itself, checked after it.\n\n", vectorsValid, vectorsValid)
	w("| vector | signer | what | edit of valid-original | reason |\n|---|---|---|---|---|\n")
	for _, v := range f.Vectors {
		if v.Reason == "" {
			continue
		}
		data, _ := hex.DecodeString(v.Hex)
		w("| `%s` | %s | %s | %s | `%s` |\n", v.Name, v.Signer, v.What, edit(valid, data), v.Reason)
	}
	wv := f.Weights
	w("\n#### Weights stream\n\nRequest for the weights of `%s` (32 bytes):\n\n```\n%s\n```\n\n", vectorsValid, wv.Request)
	w("Response with a %d-byte blob whose last 32 bytes are the SHA-256 of the rest (status `00`, length u64, blob):\n\n```\n", wv.Size)
	for s := wv.Response; len(s) > 0; {
		n := min(64, len(s))
		w("%s\n", s[:n])
		s = s[n:]
	}
	w("```\n\nNot found: `%s`. Unavailable (busy, failed, or over a limit): `%s`.\n\n", wv.NotFound, wv.Busy)
	return b.String()
}

// edit describes data as a replacement of one run of base's bytes.
func edit(base, data []byte) string {
	if bytes.Equal(base, data) {
		return "none"
	}
	p := 0
	for p < len(base) && p < len(data) && base[p] == data[p] {
		p++
	}
	s := 0
	for s < len(base)-p && s < len(data)-p && base[len(base)-1-s] == data[len(data)-1-s] {
		s++
	}
	old, nw := base[p:len(base)-s], data[p:len(data)-s]
	show := func(b []byte) string {
		if len(b) == 0 {
			return "(nothing)"
		}
		return "`" + hex.EncodeToString(b) + "`"
	}
	return fmt.Sprintf("@%d: %s → %s", p, show(old), show(nw))
}

// annotate reads an announcement field by field, independently of the
// decoder, and returns one line per field: offset, length, name, the bytes
// (up to 8, else elided) and the value. It fails the test unless the
// fields cover the data exactly.
func annotate(t testing.TB, data []byte) []string {
	t.Helper()
	var out []string
	off := 0
	le := binary.LittleEndian
	field := func(n int, name string, value func(b []byte) string) []byte {
		if off+n > len(data) {
			t.Fatalf("annotate: %s at %d overruns %d bytes", name, off, len(data))
		}
		b := data[off : off+n]
		h := hex.EncodeToString(b)
		if n > 8 {
			h = hex.EncodeToString(b[:4]) + "…"
		}
		out = append(out, strings.TrimRight(fmt.Sprintf("%4d %3d  %-30s %-18s %s", off, n, name, h, value(b)), " "))
		off += n
		return b
	}
	str := func(b []byte) string { return fmt.Sprintf("%q", b) }
	u8 := func(b []byte) string { return fmt.Sprint(b[0]) }
	u16 := func(b []byte) string { return fmt.Sprint(le.Uint16(b)) }
	u32 := func(b []byte) string { return fmt.Sprint(le.Uint32(b)) }
	f64 := func(b []byte) string { return fmt.Sprint(math.Float64frombits(le.Uint64(b))) }
	full := func(b []byte) string { return hex.EncodeToString(b) }
	kind := func(b []byte) string { return dna.Kind(b[0]).String() }

	field(4, "magic", str)
	field(1, "version", u8)
	field(1, "flags", func(b []byte) string { return fmt.Sprintf("relayed=%v", b[0]&1 != 0) })
	n := field(1, "experiment length", u8)[0]
	field(int(n), "experiment", str)
	n = field(1, "origin length", u8)[0]
	field(int(n), "origin (binary peer ID)", func(b []byte) string {
		id, err := peer.IDFromBytes(b)
		if err != nil {
			t.Fatal(err)
		}
		return id.String()
	})
	field(8, "send time (i64 ns)", func(b []byte) string {
		return time.Unix(0, int64(le.Uint64(b))).UTC().Format(time.RFC3339Nano)
	})
	field(8, "fitness (f64)", f64)
	field(8, "weights size (u64)", func(b []byte) string { return fmt.Sprint(le.Uint64(b)) })
	field(32, "weights digest", full)
	n = field(1, "lineage count", u8)[0]
	for i := range int(n) {
		field(32, fmt.Sprintf("lineage[%d] id", i), full)
		field(1, fmt.Sprintf("lineage[%d] mutation", i), kind)
	}
	gl := field(4, "genome length (u32)", u32)
	genomeStart := off
	field(4, "genome: magic", str)
	field(1, "genome: version", u8)
	field(8, "genome: learning rate", f64)
	field(2, "genome: input H", u16)
	field(2, "genome: input W", u16)
	field(2, "genome: input C", u16)
	field(4, "genome: classes", u32)
	field(32, "genome: parent", full)
	field(1, "genome: mutation", kind)
	field(8, "genome: nonce (u64)", func(b []byte) string { return fmt.Sprint(le.Uint64(b)) })
	field(4, "genome: next id", u32)
	field(4, "genome: fc weight id", u32)
	field(4, "genome: input vertex", u32)
	field(4, "genome: output vertex", u32)
	nv := le.Uint16(field(2, "genome: vertex count", u16))
	for i := range int(nv) {
		p := fmt.Sprintf("genome: vertex[%d] ", i)
		field(4, p+"id", u32)
		field(1, p+"type", func(b []byte) string { return dna.VertexType(b[0]).String() })
		field(1, p+"flags", func(b []byte) string {
			return fmt.Sprintf("inputs mutable %v, outputs mutable %v", b[0]&1 != 0, b[0]&2 != 0)
		})
		field(4, p+"weight id", u32)
	}
	ne := le.Uint16(field(2, "genome: edge count", u16))
	for i := range int(ne) {
		p := fmt.Sprintf("genome: edge[%d] ", i)
		field(4, p+"id", u32)
		field(4, p+"from", u32)
		field(4, p+"to", u32)
		field(1, p+"type", func(b []byte) string { return dna.EdgeType(b[0]).String() })
		field(4, p+"channels", u32)
		field(1, p+"filter h", u8)
		field(1, p+"filter w", u8)
		field(1, p+"stride log2", u8)
		field(4, p+"weight id", u32)
		field(2, p+"depth prec.", u16)
		field(2, p+"scale prec.", u16)
	}
	if off != len(data) || off-genomeStart != int(le.Uint32(gl)) {
		t.Fatalf("annotate: the fields cover %d of %d bytes (genome %d, announced %d)", off, len(data), off-genomeStart, le.Uint32(gl))
	}
	return out
}
