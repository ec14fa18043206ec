package dna

import (
	"slices"
	"testing"
)

// TestInsertConvolution: a backbone edge s = u->w becomes u->n, a new 3x3
// conv with stride 1 or 2, and n->w, the old edge with its ID and weight ID.
// The conv has u's channels, or InsertMinChannels when that is larger; n is
// BN_RELU or LINEAR. Only the conv's (and n's BN) weight IDs are created.
// Over the seeds every backbone edge is split, never a skip, and both
// strides and both vertex types occur.
func TestInsertConvolution(t *testing.T) {
	cases := []struct {
		name   string
		parent *Genome
		floor  int // InsertMinChannels
		// wantChannels maps each backbone edge to the channels of a conv
		// inserted before it: its source's channels, or the floor.
		wantChannels map[uint32]int
	}{
		{"initial", Initial(mnist, 10, PaperLearningRate), 0, map[uint32]int{2: 1}},
		{"initial, floor 16", Initial(mnist, 10, PaperLearningRate), 16, map[uint32]int{2: 16}},
		// skipGenome's backbone: 7 (input 28x28x1 -> a), 9 (a 14x14x8 ->
		// b), 2 (b 14x14x16 -> output); 11 is a skip.
		{"skip genome", skipGenome(), 0, map[uint32]int{7: 1, 9: 8, 2: 16}},
		{"skip genome, floor 12", skipGenome(), 12, map[uint32]int{7: 12, 9: 12, 2: 16}},
		// mixed's backbone: 6 (input 1 ch), 10 (a 4 ch), 12 (b 4 ch: its
		// channels come from the identity 10), 14 (c 16 ch).
		{"mixed", mutMixedGenome(t), 0, map[uint32]int{6: 1, 10: 4, 12: 4, 14: 16}},
		// No edge may leave a (so 10 stays) or enter c (so 12 stays).
		{"mixed, a's outputs and c's inputs immutable", mutFlag(mutFlag(mutMixedGenome(t), 4, true), 11, false), 0, map[uint32]int{6: 1, 14: 16}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.parent
			o := DefaultMutateOptions()
			o.InsertMinChannels = tc.floor
			pbv, pbe := mutBackbone(t, p)
			split := map[uint32]int{}
			strides := map[int]int{}
			types := map[VertexType]int{}
			for seed := range uint64(64) {
				c, ch := mutApply(t, p, InsertConvolution, newRand(seed), o)
				d := mutDiff(p, c)
				if len(d.addedV) != 1 || len(d.removedV)+len(d.changedV) != 0 ||
					len(d.addedE) != 1 || len(d.removedE) != 0 || len(d.changedE) != 1 {
					t.Fatalf("seed %d: %v; want one vertex and one edge added, one edge changed", seed, d)
				}
				nv, conv := *c.Vertex(d.addedV[0]), *c.Edge(d.addedE[0])
				old, moved := *p.Edge(d.changedE[0]), *c.Edge(d.changedE[0])
				want, ok := tc.wantChannels[old.ID]
				if !ok {
					t.Fatalf("seed %d: split edge %d, want one of the backbone edges %v", seed, old.ID, pbe)
				}
				split[old.ID]++
				strides[conv.StrideLog2]++
				types[nv.Type]++
				u := old.From
				// The old edge now leaves n; nothing else about it changed.
				wantMoved := old
				wantMoved.From = nv.ID
				if moved != wantMoved {
					t.Errorf("seed %d: split edge became %+v, want %+v", seed, moved, wantMoved)
				}
				wantConv := Edge{ID: conv.ID, From: u, To: nv.ID, Type: Conv, Channels: want, FilterH: 3, FilterW: 3,
					StrideLog2: conv.StrideLog2, WeightID: conv.WeightID,
					DepthPrecedence: BackbonePrecedence, ScalePrecedence: BackbonePrecedence}
				if conv != wantConv || (conv.StrideLog2 != 0 && conv.StrideLog2 != 1) {
					t.Errorf("seed %d: new edge %+v, want %+v with stride log2 0 or 1", seed, conv, wantConv)
				}
				if !nv.InputsMutable || !nv.OutputsMutable || (nv.Type != BNReLU && nv.Type != Linear) ||
					(nv.Type == Linear) != (nv.WeightID == 0) {
					t.Errorf("seed %d: new vertex %+v, want a mutable bn_relu (with a weight ID) or linear (without) vertex", seed, nv)
				}
				for _, id := range []uint32{nv.ID, conv.ID, conv.WeightID, nv.WeightID} {
					if id != 0 && (id < p.NextID || id >= c.NextID) {
						t.Errorf("seed %d: new ID %d is not fresh: want it in [%d, %d)", seed, id, p.NextID, c.NextID)
					}
				}
				mutCheckChange(t, ch, p.WeightIDs(), nil, mutIDs(conv.WeightID, nv.WeightID))
				// n joins the backbone right after u, the conv right before
				// the split edge.
				cbv, cbe := mutBackbone(t, c)
				i := slices.Index(pbv, u)
				wantBV := slices.Insert(slices.Clone(pbv), i+1, nv.ID)
				wantBE := slices.Insert(slices.Clone(pbe), slices.Index(pbe, old.ID), conv.ID)
				if !slices.Equal(cbv, wantBV) || !slices.Equal(cbe, wantBE) {
					t.Errorf("seed %d: backbone %v %v, want %v %v", seed, cbv, cbe, wantBV, wantBE)
				}
			}
			for id := range tc.wantChannels {
				if split[id] == 0 {
					t.Errorf("backbone edge %d was never split (splits: %v)", id, split)
				}
			}
			if strides[0] == 0 || strides[1] == 0 || types[BNReLU] == 0 || types[Linear] == 0 {
				t.Errorf("strides (log2) %v, vertex types %v: want both strides and both types", strides, types)
			}
		})
	}
}

// TestInsertConvolutionNotApplicable: with no backbone edge whose ends may
// change there is nothing to split; a hand-built genome whose only edge
// joins immutable ends shows it.
func TestInsertConvolutionNotApplicable(t *testing.T) {
	g := Initial(mnist, 10, PaperLearningRate)
	g.Vertex(g.InputVertex).OutputsMutable = false
	mutNotApplicable(t, g, InsertConvolution, DefaultMutateOptions())
}
