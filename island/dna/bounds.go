package dna

import (
	"errors"
	"fmt"
	"math"
)

// Bounds are an experiment's resource limits on genomes. The paper's search
// space is unbounded; a networked system bounds it so that no genome, local
// or received from a peer, can exhaust a node. Zero fields mean "no limit"
// only where documented; use DefaultBounds as the starting point.
type Bounds struct {
	MaxVertices   int     // vertices, input and output included
	MaxEdges      int     // edges, skips included
	MaxParams     int64   // trainable parameters (conv, BN scale/offset, FC)
	MaxFLOPs      int64   // forward FLOPs per image
	MaxChannels   int     // output channels of one conv
	MaxFilter     int     // filter height or width of one conv (odd)
	MaxStrideLog2 int     // conv stride is at most 2^MaxStrideLog2
	MinLR         float64 // learning rate range, inclusive
	MaxLR         float64
}

// DefaultBounds returns bounds that keep any genome trainable on a small
// machine: 64 vertices, 192 edges, 5M parameters, 2 GFLOPs per image, 512
// channels and 15x15 filters per conv, stride up to 8, learning rate in
// [1e-5, 2].
func DefaultBounds() Bounds {
	return Bounds{
		MaxVertices:   64,
		MaxEdges:      192,
		MaxParams:     5_000_000,
		MaxFLOPs:      2_000_000_000,
		MaxChannels:   512,
		MaxFilter:     15,
		MaxStrideLog2: 3,
		MinLR:         1e-5,
		MaxLR:         2,
	}
}

// Validate checks the bounds themselves; its errors name the field.
func (b Bounds) Validate() error {
	switch {
	case b.MaxVertices < 2 || b.MaxVertices > maxVertices:
		return fmt.Errorf("dna: bounds: max_vertices %d is outside [2, %d]", b.MaxVertices, maxVertices)
	case b.MaxEdges < 1 || b.MaxEdges > maxEdges:
		return fmt.Errorf("dna: bounds: max_edges %d is outside [1, %d]", b.MaxEdges, maxEdges)
	case b.MaxParams < 1:
		return fmt.Errorf("dna: bounds: max_params %d must be positive", b.MaxParams)
	case b.MaxFLOPs < 1:
		return fmt.Errorf("dna: bounds: max_flops %d must be positive", b.MaxFLOPs)
	case b.MaxChannels < 1 || b.MaxChannels > maxChannels:
		return fmt.Errorf("dna: bounds: max_channels %d is outside [1, %d]", b.MaxChannels, maxChannels)
	case b.MaxFilter < 1 || b.MaxFilter%2 == 0 || b.MaxFilter > maxFilter:
		return fmt.Errorf("dna: bounds: max_filter %d must be odd and in [1, %d]", b.MaxFilter, maxFilter)
	case b.MaxStrideLog2 < 0 || b.MaxStrideLog2 > maxStrideLog2:
		return fmt.Errorf("dna: bounds: max_stride_log2 %d is outside [0, %d]", b.MaxStrideLog2, maxStrideLog2)
	case !(b.MinLR > 0) || !(b.MaxLR >= b.MinLR) || math.IsInf(b.MaxLR, 0):
		return fmt.Errorf("dna: bounds: learning rate range [%g, %g] is not a finite positive range", b.MinLR, b.MaxLR)
	}
	return nil
}

// Absolute limits that any decoded genome must respect, whatever the
// experiment's bounds. They keep decoding cheap and arithmetic in range.
const (
	maxVertices   = 4096
	maxEdges      = 16384
	maxChannels   = 65535
	maxFilter     = 255
	maxStrideLog2 = 15
	maxInputDim   = 4096
	maxInputC     = 64
	maxClasses    = 100000
	// MaxEncodedSize bounds both encodings of one genome.
	MaxEncodedSize = 1 << 20
)

// ErrOutOfBounds is wrapped by every error that reports a genome beyond an
// experiment's Bounds.
var ErrOutOfBounds = errors.New("genome exceeds the resource bounds")

// CheckEvolvable reports a genome that evolution from the initial genome
// cannot produce through its mutability flags: every mutation leaves the
// input vertex's inputs and the output vertex's outputs as the only
// immutable ends, so any other vertex with a frozen side came from
// elsewhere (a hand-edited file, or a peer freezing a lineage against
// structural mutation). Validate does not require it, so that genome
// files written by hand still load; the swarm does.
func (g *Genome) CheckEvolvable() error {
	for _, v := range g.Vertices {
		in := v.InputsMutable || v.ID == g.InputVertex
		out := v.OutputsMutable || v.ID == g.OutputVertex
		if !in || !out {
			return fmt.Errorf("dna: vertex %d has immutable %s, which only the input's inputs and the output's outputs may have",
				v.ID, map[bool]string{true: "outputs", false: "inputs"}[in])
		}
	}
	return nil
}

// Validate checks that g is structurally sound, that every shape resolves,
// and that it is within b. The error names the vertex or edge and the value.
func (g *Genome) Validate(b Bounds) error {
	if err := g.checkStructure(); err != nil {
		return err
	}
	r, err := g.Resolve()
	if err != nil {
		return err
	}
	return g.checkBounds(b, r)
}

func (g *Genome) checkBounds(b Bounds, r *Resolved) error {
	oob := func(format string, args ...any) error {
		return fmt.Errorf("dna: %w: %s", ErrOutOfBounds, fmt.Sprintf(format, args...))
	}
	if len(g.Vertices) > b.MaxVertices {
		return oob("%d vertices, the limit is %d", len(g.Vertices), b.MaxVertices)
	}
	if len(g.Edges) > b.MaxEdges {
		return oob("%d edges, the limit is %d", len(g.Edges), b.MaxEdges)
	}
	if g.LearningRate < b.MinLR || g.LearningRate > b.MaxLR {
		return oob("learning rate %g is outside [%g, %g]", g.LearningRate, b.MinLR, b.MaxLR)
	}
	for _, e := range g.Edges {
		if e.Type != Conv {
			continue
		}
		if e.Channels > b.MaxChannels {
			return oob("edge %d (conv %d->%d) has %d channels, the limit is %d", e.ID, e.From, e.To, e.Channels, b.MaxChannels)
		}
		if e.FilterH > b.MaxFilter || e.FilterW > b.MaxFilter {
			return oob("edge %d (conv %d->%d) has a %dx%d filter, the limit is %d", e.ID, e.From, e.To, e.FilterH, e.FilterW, b.MaxFilter)
		}
		if e.StrideLog2 > b.MaxStrideLog2 {
			return oob("edge %d (conv %d->%d) has stride %d, the limit is %d", e.ID, e.From, e.To, e.Stride(), 1<<b.MaxStrideLog2)
		}
	}
	if p := g.params(r); p > b.MaxParams {
		return oob("%d parameters, the limit is %d", p, b.MaxParams)
	}
	if f := g.flops(r); f > b.MaxFLOPs {
		return oob("%d FLOPs per image, the limit is %d", f, b.MaxFLOPs)
	}
	return nil
}

// checkStructure checks everything that does not need shapes: IDs, types,
// references, parameters and the lineage fields. Decoders run it.
func (g *Genome) checkStructure() error {
	if !(g.LearningRate > 0) || math.IsInf(g.LearningRate, 0) {
		return fmt.Errorf("dna: learning rate %v must be finite and positive", g.LearningRate)
	}
	if in := g.Input; in.H < 1 || in.W < 1 || in.C < 1 || in.H > maxInputDim || in.W > maxInputDim || in.C > maxInputC {
		return fmt.Errorf("dna: input shape %v is outside [1x1x1, %dx%dx%d]", in, maxInputDim, maxInputDim, maxInputC)
	}
	if g.Classes < 2 || g.Classes > maxClasses {
		return fmt.Errorf("dna: %d classes is outside [2, %d]", g.Classes, maxClasses)
	}
	if len(g.Vertices) < 2 || len(g.Vertices) > maxVertices {
		return fmt.Errorf("dna: %d vertices is outside [2, %d]", len(g.Vertices), maxVertices)
	}
	if len(g.Edges) < 1 || len(g.Edges) > maxEdges {
		return fmt.Errorf("dna: %d edges is outside [1, %d]", len(g.Edges), maxEdges)
	}
	if g.Mutation > numKinds {
		return fmt.Errorf("dna: unknown mutation %d", g.Mutation)
	}
	if g.Parent.IsZero() != (g.Mutation == None) {
		return fmt.Errorf("dna: mutation %q and parent %s disagree: a child has both, an initial individual neither", g.Mutation, g.Parent.Short())
	}
	ids := make(map[uint32]string, len(g.Vertices)+len(g.Edges)+1)
	claim := func(id uint32, what string) error {
		if id >= g.NextID {
			return fmt.Errorf("dna: %s uses id %d, not below next_id %d", what, id, g.NextID)
		}
		if prev, dup := ids[id]; dup {
			return fmt.Errorf("dna: %s reuses id %d of %s", what, id, prev)
		}
		ids[id] = what
		return nil
	}
	if err := claim(g.FCWeightID, "the fully connected layer's weights"); err != nil {
		return err
	}
	for i, v := range g.Vertices {
		what := fmt.Sprintf("vertex %d", v.ID)
		if i > 0 && g.Vertices[i-1].ID >= v.ID {
			return fmt.Errorf("dna: vertices are not sorted by id at vertex %d", v.ID)
		}
		if err := claim(v.ID, what); err != nil {
			return err
		}
		switch v.Type {
		case Linear:
			if v.WeightID != 0 {
				return fmt.Errorf("dna: %s is linear but has weight id %d", what, v.WeightID)
			}
		case BNReLU:
			if err := claim(v.WeightID, what+"'s batch norm"); err != nil {
				return err
			}
		default:
			return fmt.Errorf("dna: %s has unknown type %d", what, v.Type)
		}
	}
	in, out := g.Vertex(g.InputVertex), g.Vertex(g.OutputVertex)
	switch {
	case in == nil:
		return fmt.Errorf("dna: input vertex %d does not exist", g.InputVertex)
	case out == nil:
		return fmt.Errorf("dna: output vertex %d does not exist", g.OutputVertex)
	case g.InputVertex == g.OutputVertex:
		return fmt.Errorf("dna: input and output are the same vertex %d", g.InputVertex)
	case in.Type != Linear || out.Type != Linear:
		return fmt.Errorf("dna: the input vertex %d and the output vertex %d must be linear", in.ID, out.ID)
	case in.InputsMutable || out.OutputsMutable:
		return fmt.Errorf("dna: the input vertex's inputs and the output vertex's outputs must be immutable")
	}
	pairs := make(map[[2]uint32]uint32, len(g.Edges))
	for i, e := range g.Edges {
		what := fmt.Sprintf("edge %d (%d->%d)", e.ID, e.From, e.To)
		if i > 0 && g.Edges[i-1].ID >= e.ID {
			return fmt.Errorf("dna: edges are not sorted by id at edge %d", e.ID)
		}
		if err := claim(e.ID, what); err != nil {
			return err
		}
		if g.Vertex(e.From) == nil || g.Vertex(e.To) == nil {
			return fmt.Errorf("dna: %s names a vertex that does not exist", what)
		}
		if e.From == e.To {
			return fmt.Errorf("dna: %s is a self-loop", what)
		}
		if e.To == g.InputVertex {
			return fmt.Errorf("dna: %s enters the input vertex", what)
		}
		if e.From == g.OutputVertex {
			return fmt.Errorf("dna: %s leaves the output vertex", what)
		}
		if prev, dup := pairs[[2]uint32{e.From, e.To}]; dup {
			return fmt.Errorf("dna: %s duplicates edge %d", what, prev)
		}
		pairs[[2]uint32{e.From, e.To}] = e.ID
		if e.DepthPrecedence < 0 || e.ScalePrecedence < 0 || e.DepthPrecedence > maxPrecedence || e.ScalePrecedence > maxPrecedence {
			return fmt.Errorf("dna: %s has precedence (depth %d, scale %d) outside [0, %d]", what, e.DepthPrecedence, e.ScalePrecedence, maxPrecedence)
		}
		switch e.Type {
		case Identity:
			if e.Channels != 0 || e.FilterH != 0 || e.FilterW != 0 || e.StrideLog2 != 0 || e.WeightID != 0 {
				return fmt.Errorf("dna: %s is an identity edge with conv parameters", what)
			}
		case Conv:
			if e.Channels < 1 || e.Channels > maxChannels {
				return fmt.Errorf("dna: %s has %d channels, outside [1, %d]", what, e.Channels, maxChannels)
			}
			if e.FilterH < 1 || e.FilterH%2 == 0 || e.FilterH > maxFilter {
				return fmt.Errorf("dna: %s has filter height %d; it must be odd and in [1, %d]", what, e.FilterH, maxFilter)
			}
			if e.FilterW < 1 || e.FilterW%2 == 0 || e.FilterW > maxFilter {
				return fmt.Errorf("dna: %s has filter width %d; it must be odd and in [1, %d]", what, e.FilterW, maxFilter)
			}
			if e.StrideLog2 < 0 || e.StrideLog2 > maxStrideLog2 {
				return fmt.Errorf("dna: %s has stride 2^%d, outside [1, 2^%d]", what, e.StrideLog2, maxStrideLog2)
			}
			if err := claim(e.WeightID, what+"'s kernel"); err != nil {
				return err
			}
		default:
			return fmt.Errorf("dna: %s has unknown type %d", what, e.Type)
		}
	}
	return nil
}

const maxPrecedence = 1 << 15
