package train

import (
	"math"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train/kernels"
)

// EstimateMemory estimates the bytes that building and training g's
// network takes: activations and their gradients for a training batch,
// batch-norm's saved inputs, the conv workspaces, three copies of the
// parameters (values, gradients, velocities), and the evaluation graph's
// activations. The data set is not counted.
func EstimateMemory(g *dna.Genome, r *dna.Resolved, cfg *Config) int64 {
	train := 2 * float64(activationFloats(g, r)) * float64(cfg.BatchSize) // values and gradients
	ws := float64(workspaceFloats(g, r, cfg.BatchSize, cfg.CPUThreads()))
	return saturate(float64(EstimateInferenceMemory(g, r, cfg)) + 4*(train+ws))
}

// saturate converts an estimate in bytes to int64, the largest int64 for
// one beyond it: a genome within bounds far larger than any preset's is
// refused by the budget, never let through by a wrapped sum.
func saturate(bytes float64) int64 {
	if !(bytes < math.MaxInt64) {
		return math.MaxInt64
	}
	return int64(bytes)
}

// EstimateInferenceMemory estimates the bytes of g's network built for
// forward passes only (Evaluate, Predict, export): what EstimateMemory
// counts less the training batch's activations, gradients and workspace
// (the engines build a training pass on the first step only), so that
// whatever trained within a budget can be evaluated within it.
func EstimateInferenceMemory(g *dna.Genome, r *dna.Resolved, cfg *Config) int64 {
	act := float64(activationFloats(g, r)) * float64(cfg.EvalBatch)
	ws := float64(workspaceFloats(g, r, cfg.EvalBatch, cfg.CPUThreads()))
	return saturate(4 * (act + ws + 3*float64(g.Params())))
}

// evalLanes is how many inference passes of cfg.EvalBatch images may run
// at once (the oneDNN engine's lanes, one a thread), at most want:
// EstimateMemory counts one, and each more must fit in what the budget
// leaves: its activations, and two copies of the parameters (a lane folds
// batch norm into its own convolution weights and reorders them into its
// kernels' layout).
func evalLanes(g *dna.Genome, r *dna.Resolved, cfg *Config, want int) int {
	if want <= 1 {
		return want
	}
	lane := 4 * (activationFloats(g, r)*int64(cfg.EvalBatch) + 2*g.Params())
	spare := cfg.MemoryBudget - EstimateMemory(g, r, cfg)
	if lane <= 0 || spare <= 0 {
		return 1
	}
	return int(min(int64(want), 1+spare/lane))
}

// activationFloats is the floats per image of every node's output (and
// batch norm's saved inputs) in g's network, as the engine that pads most
// stores them (paddedSize).
func activationFloats(g *dna.Genome, r *dna.Resolved) int64 {
	var act int64
	for j, e := range g.Edges {
		to := g.VertexIndex(e.To)
		if e.Type == dna.Conv {
			act += paddedSize(r.EdgeShape[j])
		}
		if r.EdgeShape[j] != r.VertexShape[to] {
			act += paddedSize(r.VertexShape[to])
		}
	}
	for i, v := range g.Vertices {
		if len(r.In[i]) > 1 {
			act += paddedSize(r.VertexShape[i])
		}
		if v.Type == dna.BNReLU {
			act += 2 * paddedSize(r.VertexShape[i]) // output and saved xhat
		}
	}
	act += int64(g.Input.H*g.Input.W*g.Input.C) + int64(g.Classes)*4
	return act
}

// workspaceFloats estimates the kernels' scratch memory for one graph.
func workspaceFloats(g *dna.Genome, r *dna.Resolved, batch, threads int) int64 {
	var n int64
	for j, e := range g.Edges {
		if e.Type != dna.Conv {
			continue
		}
		src := r.VertexShape[g.VertexIndex(e.From)]
		k := kernels.NewConv(batch, src.C, src.H, src.W, r.EdgeShape[j].C, e.FilterH, e.FilterW, e.Stride(), threads)
		n += int64(k.WorkspaceFloats())
	}
	return n
}

// paddedSize is the floats per image of an activation of shape s in the
// layout that takes the most room: the oneDNN engine's blocked layouts
// (train/dnnl/net.c, vblk) round the channels up to a multiple of the
// block, 8 with AVX2 and 16 with AVX-512, except that fewer than 8
// channels stay plain. 17 channels take the room of 32 with AVX-512, 12 of
// 16 with either, 8 of 16 with AVX-512; the gorgonia and CUDA engines pad
// nothing.
func paddedSize(s dna.Shape) int64 {
	c := s.C
	if s.C >= plainBelow {
		c = (s.C + 15) / 16 * 16 // the larger of the two roundings
	}
	return int64(s.H) * int64(s.W) * int64(c)
}

// plainBelow is net.c's PLAIN_BELOW: activations of fewer channels stay
// plain NCHW in the oneDNN engine.
const plainBelow = 8
