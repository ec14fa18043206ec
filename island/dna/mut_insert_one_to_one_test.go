package dna

import (
	"slices"
	"testing"
)

// TestInsertOneToOne: a backbone edge s = u->w becomes u->n, a new identity
// edge on the backbone, and n->w, the old edge with its ID and weight ID.
// n is BN_RELU or LINEAR and has u's shape. No weight is dropped; only n's
// BN weight ID, if any, is created. Over the seeds every backbone edge is
// split, never a skip, and both vertex types occur.
func TestInsertOneToOne(t *testing.T) {
	cases := []struct {
		name     string
		parent   *Genome
		backbone []uint32 // the backbone edges that may be split
	}{
		{"initial", Initial(mnist, 10, PaperLearningRate), []uint32{2}},
		{"skip genome", skipGenome(), []uint32{7, 9, 2}},
		{"mixed", mutMixedGenome(t), []uint32{6, 10, 12, 14}},
		// No edge may leave a (so 10 stays) or enter c (so 12 stays).
		{"mixed, a's outputs and c's inputs immutable", mutFlag(mutFlag(mutMixedGenome(t), 4, true), 11, false), []uint32{6, 14}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.parent
			pbv, pbe := mutBackbone(t, p)
			for _, id := range tc.backbone {
				if !slices.Contains(pbe, id) {
					t.Fatalf("parent backbone %v, want it to include %v", pbe, tc.backbone)
				}
			}
			pr, err := p.Resolve()
			if err != nil {
				t.Fatal(err)
			}
			split := map[uint32]int{}
			types := map[VertexType]int{}
			for seed := range uint64(48) {
				c, ch := mutApply(t, p, InsertOneToOne, newRand(seed), DefaultMutateOptions())
				d := mutDiff(p, c)
				if len(d.addedV) != 1 || len(d.removedV)+len(d.changedV) != 0 ||
					len(d.addedE) != 1 || len(d.removedE) != 0 || len(d.changedE) != 1 {
					t.Fatalf("seed %d: %v; want one vertex and one edge added, one edge changed", seed, d)
				}
				nv, id := *c.Vertex(d.addedV[0]), *c.Edge(d.addedE[0])
				old, moved := *p.Edge(d.changedE[0]), *c.Edge(d.changedE[0])
				if !slices.Contains(tc.backbone, old.ID) {
					t.Fatalf("seed %d: split edge %d, want one of the backbone edges %v", seed, old.ID, tc.backbone)
				}
				split[old.ID]++
				types[nv.Type]++
				u := old.From
				wantMoved := old
				wantMoved.From = nv.ID
				if moved != wantMoved {
					t.Errorf("seed %d: split edge became %+v, want %+v", seed, moved, wantMoved)
				}
				wantID := Edge{ID: id.ID, From: u, To: nv.ID, Type: Identity,
					DepthPrecedence: BackbonePrecedence, ScalePrecedence: BackbonePrecedence}
				if id != wantID {
					t.Errorf("seed %d: new edge %+v, want %+v", seed, id, wantID)
				}
				if !nv.InputsMutable || !nv.OutputsMutable || (nv.Type != BNReLU && nv.Type != Linear) ||
					(nv.Type == Linear) != (nv.WeightID == 0) {
					t.Errorf("seed %d: new vertex %+v, want a mutable bn_relu (with a weight ID) or linear (without) vertex", seed, nv)
				}
				for _, x := range []uint32{nv.ID, id.ID, nv.WeightID} {
					if x != 0 && (x < p.NextID || x >= c.NextID) {
						t.Errorf("seed %d: new ID %d is not fresh: want it in [%d, %d)", seed, x, p.NextID, c.NextID)
					}
				}
				mutCheckChange(t, ch, p.WeightIDs(), nil, mutIDs(nv.WeightID))
				cbv, cbe := mutBackbone(t, c)
				wantBV := slices.Insert(slices.Clone(pbv), slices.Index(pbv, u)+1, nv.ID)
				wantBE := slices.Insert(slices.Clone(pbe), slices.Index(pbe, old.ID), id.ID)
				if !slices.Equal(cbv, wantBV) || !slices.Equal(cbe, wantBE) {
					t.Errorf("seed %d: backbone %v %v, want %v %v", seed, cbv, cbe, wantBV, wantBE)
				}
				// An identity edge changes no shape: n is u's shape, and
				// every old vertex keeps its own.
				cr, err := c.Resolve()
				if err != nil {
					t.Fatal(err)
				}
				if got, want := cr.VertexShape[c.vertexIndex(nv.ID)], pr.VertexShape[p.vertexIndex(u)]; got != want {
					t.Errorf("seed %d: new vertex shape %v, want its source's %v", seed, got, want)
				}
				for i, v := range p.Vertices {
					if got := cr.VertexShape[c.vertexIndex(v.ID)]; got != pr.VertexShape[i] {
						t.Errorf("seed %d: vertex %d shape %v, want %v as before", seed, v.ID, got, pr.VertexShape[i])
					}
				}
			}
			for _, id := range tc.backbone {
				if split[id] == 0 {
					t.Errorf("backbone edge %d was never split (splits: %v)", id, split)
				}
			}
			if types[BNReLU] == 0 || types[Linear] == 0 {
				t.Errorf("vertex types %v: want both", types)
			}
		})
	}
}

// TestInsertOneToOneNotApplicable: no backbone edge with mutable ends.
func TestInsertOneToOneNotApplicable(t *testing.T) {
	g := Initial(mnist, 10, PaperLearningRate)
	g.Vertex(g.InputVertex).OutputsMutable = false
	mutNotApplicable(t, g, InsertOneToOne, DefaultMutateOptions())
}
