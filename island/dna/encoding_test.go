package dna

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
)

// goldenID pins the ID of testdata/golden.json: the binary encoding and the
// hash must never change silently across machines or releases.
const goldenID = "fea0c86b23c66c1302d476357a5be314256fb77728b6aaff7bb27eb7b1bc46d5"

func golden(t testing.TB) *Genome {
	t.Helper()
	f, err := os.Open("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := DecodeJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGoldenID(t *testing.T) {
	g := golden(t)
	if got := g.ID().String(); got != goldenID {
		t.Fatalf("golden genome ID = %s, want %s", got, goldenID)
	}
	if err := g.Validate(DefaultBounds()); err != nil {
		t.Fatal(err)
	}
}

// TestRoundTrip: JSON -> binary -> JSON is the identity, on the golden
// genome and on random mutation chains.
func TestRoundTrip(t *testing.T) {
	genomes := []*Genome{golden(t)}
	rng := newRand(11)
	g := Initial(Shape{H: 32, W: 32, C: 3}, 100, 0.1)
	for range 300 {
		c, _, err := Mutate(g, rng, DefaultMutateOptions())
		if err != nil {
			t.Fatal(err)
		}
		genomes = append(genomes, c)
		g = c
	}
	for i, g := range genomes {
		j1, err := g.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		fromJSON, err := DecodeJSON(bytes.NewReader(j1))
		if err != nil {
			t.Fatalf("genome %d: decoding its own JSON: %v", i, err)
		}
		bin, err := fromJSON.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		fromBin, err := DecodeBinary(bin)
		if err != nil {
			t.Fatalf("genome %d: decoding its own binary: %v", i, err)
		}
		j2, err := fromBin.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(j1, j2) {
			t.Fatalf("genome %d: JSON -> binary -> JSON changed it:\n%s\n%s", i, j1, j2)
		}
		if fromBin.ID() != g.ID() {
			t.Fatalf("genome %d: ID changed across the round trip", i)
		}
	}
}

func TestDecodeBinaryRefuses(t *testing.T) {
	good, err := golden(t).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "shorter than"},
		{"magic", mutate(func(b []byte) []byte { b[0] = 'X'; return b }), "bad magic"},
		{"version", mutate(func(b []byte) []byte { b[4] = 9; return b }), "encoding version 9"},
		{"truncated", good[:len(good)-3], "truncated"},
		{"trailing", append(bytes.Clone(good), 0), "trailing"},
		{"oversized", make([]byte, MaxEncodedSize+1), "limit"},
		{"nan learning rate", mutate(func(b []byte) []byte { copy(b[5:13], []byte{0, 0, 0, 0, 0, 0, 0xf8, 0x7f}); return b }), "learning rate"},
		{"huge vertex count", mutate(func(b []byte) []byte { b[headerSize], b[headerSize+1] = 0xff, 0xff; return b }), "do not fit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeBinary(tc.data)
			if err == nil {
				t.Fatal("decoded, want an error")
			}
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q: want ErrMalformed mentioning %q", err, tc.want)
			}
		})
	}
}

func TestDecodeJSONRefuses(t *testing.T) {
	good, err := golden(t).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	s := string(good)
	cases := []struct{ name, data, want string }{
		{"empty", "", "empty input"},
		{"garbage", "not json", "invalid JSON"},
		{"truncated", s[:len(s)/2], "truncated"},
		{"unknown field", strings.Replace(s, `"classes"`, `"klasses"`, 1), "unknown field"},
		{"wrong type", strings.Replace(s, `"classes":10`, `"classes":"ten"`, 1), "classes"},
		{"two documents", s + s, "trailing"},
		{"even filter", strings.Replace(s, `"filter_h":3`, `"filter_h":4`, 1), "filter height 4"},
		{"bad stride", strings.Replace(s, `"stride":1`, `"stride":3`, 1), "stride 3"},
		{"missing vertex", strings.Replace(s, `"to":1,`, `"to":99,`, 1), "does not exist"},
		{"bad vertex type", strings.Replace(s, `"bn_relu"`, `"relu"`, 1), `unknown type "relu"`},
		{"format", strings.Replace(s, `"format":1`, `"format":2`, 1), "format 2"},
		{"oversized", `{"vertices":[` + strings.Repeat(" ", MaxEncodedSize) + `]}`, "limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeJSON(strings.NewReader(tc.data))
			if err == nil {
				t.Fatal("decoded, want an error")
			}
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q: want ErrMalformed mentioning %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans several lines", err)
			}
		})
	}
}

// FuzzDecodeBinary: no input panics, and whatever decodes re-encodes to the
// same bytes (the encoding is canonical).
func FuzzDecodeBinary(f *testing.F) {
	g := golden(f)
	good, _ := g.MarshalBinary()
	f.Add(good)
	initial, _ := Initial(mnist, 10, 0.1).MarshalBinary()
	f.Add(initial)
	f.Add([]byte("EVDN\x01"))
	f.Add(good[:len(good)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := DecodeBinary(data)
		if err != nil {
			return
		}
		again, err := g.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded genome does not encode: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("re-encoding differs:\n%s\n%s", hex.EncodeToString(data), hex.EncodeToString(again))
		}
		_ = g.Validate(DefaultBounds()) // must not panic
		_ = g.Params()
		_ = g.FLOPs()
	})
}

// FuzzDecodeJSON: no input panics, and whatever decodes survives the
// canonical round trip.
func FuzzDecodeJSON(f *testing.F) {
	good, _ := golden(f).MarshalJSON()
	f.Add(good)
	initial, _ := Initial(mnist, 10, 0.1).MarshalJSON()
	f.Add(initial)
	f.Add([]byte(`{"format":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := DecodeJSON(bytes.NewReader(data))
		if err != nil {
			return
		}
		j, err := g.MarshalJSON()
		if err != nil {
			t.Fatalf("decoded genome does not encode: %v", err)
		}
		g2, err := DecodeJSON(bytes.NewReader(j))
		if err != nil {
			t.Fatalf("canonical JSON does not decode: %v", err)
		}
		if g2.ID() != g.ID() {
			t.Fatal("ID changed across the round trip")
		}
		_ = g.Validate(DefaultBounds())
	})
}
