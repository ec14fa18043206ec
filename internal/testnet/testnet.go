// Package testnet holds genomes that tests and checks in several packages
// share: the training engine against PyTorch, the ONNX export against the
// training engine, a GPU against the CPU.
package testnet

import (
	"fmt"
	"math/rand/v2"

	"github.com/evoswarm/evoswarm/island/dna"
)

// CrossCheck is input 13x11x3 -> conv 3x3 stride 2 to 8 channels ->
// BN-ReLU vertex a (7x6x8) -> conv 3x5 stride 1 to 5 channels -> linear
// vertex b (7x6x5) -> output (7x6x5), 5 classes, with two skips: input -> b
// (13x11x3 resized to 7x6 with uneven source indices, zero-padded to 5
// channels) and a -> output (8 channels truncated to 5).
func CrossCheck() *dna.Genome {
	bb, skip := dna.BackbonePrecedence, dna.SkipPrecedence
	conv := func(id, from, to uint32, c, kh, kw, s int, w uint32) dna.Edge {
		return dna.Edge{ID: id, From: from, To: to, Type: dna.Conv, Channels: c, FilterH: kh, FilterW: kw,
			StrideLog2: s, WeightID: w, DepthPrecedence: bb, ScalePrecedence: bb}
	}
	ident := func(id, from, to uint32, p int) dna.Edge {
		return dna.Edge{ID: id, From: from, To: to, Type: dna.Identity, DepthPrecedence: p, ScalePrecedence: p}
	}
	return &dna.Genome{
		LearningRate: 0.1,
		Input:        dna.Shape{H: 13, W: 11, C: 3},
		Classes:      5,
		InputVertex:  0,
		OutputVertex: 1,
		FCWeightID:   3,
		NextID:       13,
		Vertices: []dna.Vertex{
			{ID: 0, Type: dna.Linear, OutputsMutable: true},
			{ID: 1, Type: dna.Linear, InputsMutable: true},
			{ID: 4, Type: dna.BNReLU, InputsMutable: true, OutputsMutable: true, WeightID: 5},
			{ID: 8, Type: dna.Linear, InputsMutable: true, OutputsMutable: true},
		},
		Edges: []dna.Edge{
			ident(2, 8, 1, bb),
			conv(6, 0, 4, 8, 3, 3, 1, 7),
			conv(9, 4, 8, 5, 3, 5, 0, 10),
			ident(11, 0, 8, skip),
			ident(12, 4, 1, skip),
		},
	}
}

// Evolved is a seeded chain of mutations from the initial genome that looks
// like what evolution builds: it applies extra random mutations, then
// inserts convolutions until there are at least convs of them and adds
// skips until there are at least skips edges off the backbone. Mutations
// that do not apply are skipped; the chain is bounded in length.
func Evolved(in dna.Shape, classes int, seed uint64, convs, skips, extra int, o dna.MutateOptions) (*dna.Genome, error) {
	rng := rand.New(rand.NewPCG(seed, 0x65766f6c)) // "evol"
	g := dna.Initial(in, classes, dna.PaperLearningRate)
	count := func() (c, s int) {
		for _, e := range g.Edges {
			if e.Type == dna.Conv {
				c++
			}
			if e.DepthPrecedence == dna.SkipPrecedence {
				s++
			}
		}
		return c, s
	}
	for range extra {
		child, _, err := dna.Mutate(g, rng, o)
		if err != nil {
			return nil, err
		}
		g = child
	}
	for range 200 {
		c, s := count()
		k := dna.InsertConvolution
		switch {
		case c >= convs && s >= skips:
			k = dna.None
		case c >= convs:
			k = dna.AddSkip
		}
		if k == dna.None {
			break
		}
		if child, _, err := dna.MutateWith(g, k, rng, o); err == nil {
			g = child
		}
	}
	if c, s := count(); c < convs || s < skips {
		return nil, fmt.Errorf("testnet: %d convs and %d skips after 200 mutations, want %d and %d", c, s, convs, skips)
	}
	return g, nil
}
