package main

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evoswarm/evoswarm/island/dna"
)

// TestTrainInheritance: `train --json` counts the values a child inherited
// whole, sliced and new; --inheritance partial slices the fully connected
// layer of a child whose output widened, exact starts it afresh, and
// another mode is refused.
func TestTrainInheritance(t *testing.T) {
	needFashion(t)
	dir := t.TempDir()
	parent := dna.Initial(dna.Shape{H: 28, W: 28, C: 1}, 10, 0.1)
	o := dna.DefaultMutateOptions()
	o.InsertMinChannels = 8 // the output vertex widens from 1 to 8 channels
	child, _, err := dna.MutateWith(parent, dna.InsertConvolution, rand.New(rand.NewPCG(1, 1)), o)
	if err != nil {
		t.Fatal(err)
	}
	for name, g := range map[string]*dna.Genome{"parent.json": parent, "child.json": child} {
		b, err := g.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	common := []string{"train", "--data", "fashion-mnist", "--steps", "1", "--test=false", "--json", "--engine", "gorgonia"}
	if _, errOut, code := run(t, nil, append(common, "--genome", filepath.Join(dir, "parent.json"), "--out", filepath.Join(dir, "p"))...); code != 0 {
		t.Fatalf("train parent exited %d: %s", code, errOut)
	}
	type counts struct {
		Mode             string `json:"inheritance"`
		InheritedTensors int    `json:"inherited_tensors"`
		SlicedTensors    int    `json:"sliced_tensors"`
		NewTensors       int    `json:"new_tensors"`
		InheritedParams  int64  `json:"inherited_params"`
		SlicedParams     int64  `json:"sliced_params"`
		NewParams        int64  `json:"new_params"`
	}
	// The new conv 3x3 1->8 (72 values) and, if the new vertex is BN-ReLU,
	// its batch norm (4 tensors of 8) are new; the FC layer's bias (10) is
	// inherited; its weight (10x8) keeps the parent's column (10) in
	// partial mode and is new in exact mode.
	bn := 0
	for _, v := range child.Vertices {
		if v.Type == dna.BNReLU {
			bn++
		}
	}
	fresh := 1 + 4*bn
	values := int64(72 + 32*bn)
	for _, tc := range []struct {
		mode string
		want counts
	}{
		{"partial", counts{"partial", 1, 1, fresh, 10, 10, values + 70}},
		{"exact", counts{"exact", 1, 0, fresh + 1, 10, 0, values + 80}},
	} {
		out, errOut, code := run(t, nil, append(common, "--genome", filepath.Join(dir, "child.json"),
			"--weights", filepath.Join(dir, "p", "weights.evwt"), "--inheritance", tc.mode)...)
		if code != 0 {
			t.Fatalf("train child (%s) exited %d: %s", tc.mode, code, errOut)
		}
		var got counts
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		if got != tc.want {
			t.Errorf("--inheritance %s: %+v, want %+v", tc.mode, got, tc.want)
		}
	}
	_, errOut, code := run(t, nil, append(common, "--genome", filepath.Join(dir, "child.json"), "--inheritance", "some")...)
	if code == 0 || !strings.Contains(errOut, "inheritance") {
		t.Errorf("--inheritance some: exit %d, %q; want an error naming inheritance", code, errOut)
	}
}
