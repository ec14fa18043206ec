// Package testnet holds fixed genomes that tests in several packages check
// the same network with: the training engine against PyTorch, the ONNX
// export against the training engine.
package testnet

import "github.com/evoswarm/evoswarm/island/dna"

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
