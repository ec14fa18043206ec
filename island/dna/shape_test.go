package dna

import (
	"errors"
	"strings"
	"testing"
)

// skipGenome is input -> a (conv 3x3 s2, 8 ch) -> b (conv 3x3 s1, 16 ch) ->
// output, with a skip input -> b whose shape (28x28x1) differs from b's
// primary input (14x14x16).
func skipGenome() *Genome {
	g := Initial(mnist, 10, 0.1)
	a := Vertex{ID: g.newID(), Type: BNReLU, InputsMutable: true, OutputsMutable: true}
	a.WeightID = g.newID()
	b := Vertex{ID: g.newID(), Type: Linear, InputsMutable: true, OutputsMutable: true}
	g.Vertices = append(g.Vertices, a, b)
	conv := func(from, to uint32, ch, s int) Edge {
		e := Edge{ID: g.newID(), From: from, To: to, Type: Conv, Channels: ch, FilterH: 3, FilterW: 3, StrideLog2: s, DepthPrecedence: 1, ScalePrecedence: 1}
		e.WeightID = g.newID()
		return e
	}
	g.Edges[0].From = b.ID // the old input->output edge becomes b->output
	g.Edges = append(g.Edges, conv(g.InputVertex, a.ID, 8, 1), conv(a.ID, b.ID, 16, 0))
	g.Edges = append(g.Edges, Edge{ID: g.newID(), From: g.InputVertex, To: b.ID, Type: Identity})
	g.sortGraph()
	return g
}

func TestResolvePrimaryEdge(t *testing.T) {
	g := skipGenome()
	if err := g.Validate(DefaultBounds()); err != nil {
		t.Fatal(err)
	}
	r, err := g.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint32]Shape{0: {28, 28, 1}, 1: {14, 14, 16}, 4: {14, 14, 8}, 6: {14, 14, 16}}
	for id, s := range want {
		if got := r.VertexShape[g.vertexIndex(id)]; got != s {
			t.Errorf("vertex %d: shape %v, want %v", id, got, s)
		}
	}
	bIdx := g.vertexIndex(6)
	if n := len(r.In[bIdx]); n != 2 {
		t.Fatalf("vertex 6 has %d inputs, want 2", n)
	}
	if p := g.Edges[r.In[bIdx][0]]; p.Type != Conv {
		t.Errorf("vertex 6's first input is %v, want the primary conv", p.Type)
	}
	// Params: conv 1->8 3x3 = 72, conv 8->16 3x3 = 1152, BN 2*8 = 16, FC 16*10+10 = 170.
	if got, want := g.Params(), int64(72+1152+16+170); got != want {
		t.Errorf("params = %d, want %d", got, want)
	}
	// FLOPs: conv a 2*14*14*8*1*9 = 28224; conv b 2*14*14*16*8*9 = 451584;
	// BN-ReLU at a 3*14*14*8 = 4704; the sum at b 14*14*16 = 3136;
	// GAP 3136; FC 2*16*10 + 10; softmax 30.
	if got, want := g.FLOPs(), int64(28224+451584+4704+3136+3136+320+10+30); got != want {
		t.Errorf("flops = %d, want %d", got, want)
	}
	vs, es, err := g.Backbone()
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 4 || len(es) != 3 {
		t.Errorf("backbone %v %v: want 4 vertices and 3 edges (the skip is not on it)", vs, es)
	}
}

func TestValidateErrors(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(g *Genome)
		bounds func(b *Bounds)
		want   string
	}{
		{"cycle", func(g *Genome) {
			g.Edges = append(g.Edges, Edge{ID: g.newID(), From: 6, To: 4, Type: Identity})
		}, nil, "cycle"},
		{"unreachable output", func(g *Genome) {
			// Drop b->output: b then leads nowhere.
			g.Edges = g.Edges[1:]
			g.Edges = append(g.Edges, Edge{ID: g.newID(), From: g.InputVertex, To: g.OutputVertex, Type: Identity, ScalePrecedence: 1, DepthPrecedence: 1})
		}, nil, "does not reach the output"},
		{"dead end sorted before the output", func(g *Genome) {
			// A vertex fed by the input that feeds nothing. Its ID is
			// below every other inner vertex's, so the output still comes
			// last in the topological order.
			v := Vertex{ID: g.newID(), Type: Linear, InputsMutable: true, OutputsMutable: true}
			for i := range g.Vertices {
				if id := g.Vertices[i].ID; id != g.InputVertex && id != g.OutputVertex {
					g.Vertices[i].ID += 100
					for j := range g.Edges {
						if g.Edges[j].From == id {
							g.Edges[j].From += 100
						}
						if g.Edges[j].To == id {
							g.Edges[j].To += 100
						}
					}
				}
			}
			g.NextID += 100
			g.Vertices = append(g.Vertices, v)
			g.Edges = append(g.Edges, Edge{ID: g.newID(), From: g.InputVertex, To: v.ID, Type: Identity})
		}, nil, "does not reach the output"},
		{"orphan vertex", func(g *Genome) {
			g.Vertices = append(g.Vertices, Vertex{ID: g.newID(), Type: Linear, InputsMutable: true, OutputsMutable: true})
			g.Edges = append(g.Edges, Edge{ID: g.newID(), From: g.Vertices[len(g.Vertices)-1].ID, To: g.OutputVertex, Type: Identity})
		}, nil, "has no inputs"},
		{"even filter", func(g *Genome) { g.Edge(7).FilterW = 4 }, nil, "edge 7 (0->4) has filter width 4"},
		{"duplicate edge", func(g *Genome) {
			g.Edges = append(g.Edges, Edge{ID: g.newID(), From: 4, To: 6, Type: Identity})
		}, nil, "duplicates edge"},
		{"too many channels", nil, func(b *Bounds) { b.MaxChannels = 10 }, "edge 9 (conv 4->6) has 16 channels, the limit is 10"},
		{"too many params", nil, func(b *Bounds) { b.MaxParams = 1000 }, "parameters, the limit is 1000"},
		{"too many flops", nil, func(b *Bounds) { b.MaxFLOPs = 1000 }, "FLOPs per image, the limit is 1000"},
		{"too many vertices", nil, func(b *Bounds) { b.MaxVertices = 3 }, "4 vertices, the limit is 3"},
		{"learning rate", func(g *Genome) { g.LearningRate = 5 }, nil, "learning rate 5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := skipGenome()
			if tc.edit != nil {
				tc.edit(g)
				g.sortGraph()
			}
			b := DefaultBounds()
			if tc.bounds != nil {
				tc.bounds(&b)
			}
			err := g.Validate(b)
			if err == nil {
				t.Fatal("valid, want an error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to mention %q", err, tc.want)
			}
			if tc.bounds != nil && !errors.Is(err, ErrOutOfBounds) {
				t.Errorf("error %q does not wrap ErrOutOfBounds", err)
			}
		})
	}
}
