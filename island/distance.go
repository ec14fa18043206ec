package island

import (
	"math"

	"github.com/evoswarm/evoswarm/island/dna"
)

// Signature is a genome's architecture as Distance compares it: the layers
// of its backbone, input to output, its skip connections, and its
// learning rate. Weight IDs and vertex IDs play no part: they are counters
// that every lineage numbers from the same start, so they say nothing of
// kinship. A genome's lineage is not in the genome either (only its
// parent's ID), and an announced ancestry cannot be checked, so the
// admission policy measures diversity by architecture, which it can.
type Signature struct {
	Layers []Layer
	Skips  int
	LogLR  float64 // log2 of the learning rate
}

// Layer is one backbone edge and the vertex it leads to.
type Layer struct {
	Conv       bool
	Channels   int // 0 for an identity edge
	FilterH    int
	FilterW    int
	StrideLog2 int
	BNReLU     bool // the vertex it leads to
}

// SignatureOf returns g's signature. A genome whose backbone cannot be
// resolved (it would not pass validation) has no layers.
func SignatureOf(g *dna.Genome) Signature {
	s := Signature{LogLR: math.Log2(max(g.LearningRate, 1e-12))}
	_, edges, err := g.Backbone()
	if err != nil {
		return s
	}
	on := make(map[uint32]bool, len(edges))
	for _, id := range edges {
		on[id] = true
		e := g.Edge(id)
		if e == nil {
			continue
		}
		l := Layer{Conv: e.Type == dna.Conv}
		if l.Conv {
			l.Channels, l.FilterH, l.FilterW, l.StrideLog2 = e.Channels, e.FilterH, e.FilterW, e.StrideLog2
		}
		if v := g.Vertex(e.To); v != nil {
			l.BNReLU = v.Type == dna.BNReLU
		}
		s.Layers = append(s.Layers, l)
	}
	for _, e := range g.Edges {
		if !on[e.ID] {
			s.Skips++
		}
	}
	return s
}

// layerDistance is how far apart two layers are, from 0 (the same) to 1
// (as far as inserting or removing one): a convolution against an
// identity edge is 1; two convolutions differ by their channels (log2,
// a doubling is 0.25), filter sizes, strides and activations.
func layerDistance(a, b Layer) float64 {
	if a.Conv != b.Conv {
		return 1
	}
	d := 0.0
	if a.Conv {
		d += 0.25 * math.Abs(math.Log2(float64(max(a.Channels, 1))/float64(max(b.Channels, 1))))
		d += 0.1 * float64(abs(a.FilterH-b.FilterH)+abs(a.FilterW-b.FilterW)) / 2
		d += 0.25 * float64(abs(a.StrideLog2-b.StrideLog2))
	}
	if a.BNReLU != b.BNReLU {
		d += 0.25
	}
	return min(d, 1)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Distance is how different two architectures are, in layers: the edit
// distance between their backbones (inserting or removing a layer costs
// 1, changing one costs layerDistance), plus half a layer per skip
// connection more or fewer, plus a quarter per doubling of the learning
// rate. Two genomes of one lineage a few mutations apart are a few tenths
// to a few layers apart; it is symmetric and 0 for the same architecture,
// and also for two that differ only in where their skips start and end
// (the signature counts skips, it does not place them).
func Distance(a, b Signature) float64 {
	n, m := len(a.Layers), len(b.Layers)
	prev := make([]float64, m+1)
	cur := make([]float64, m+1)
	for j := range prev {
		prev[j] = float64(j)
	}
	for i := 1; i <= n; i++ {
		cur[0] = float64(i)
		for j := 1; j <= m; j++ {
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+layerDistance(a.Layers[i-1], b.Layers[j-1]))
		}
		prev, cur = cur, prev
	}
	return prev[m] + 0.5*float64(abs(a.Skips-b.Skips)) + 0.25*math.Abs(a.LogLR-b.LogLR)
}
