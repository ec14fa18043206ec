package train

import (
	"math/rand/v2"
	"testing"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train/dataset"
)

// quadrants is a small learnable data set: 12x12 grey images whose label is
// the quadrant holding a bright blob (4 classes), on noise.
func quadrants(t testing.TB, n int) *dataset.Set {
	t.Helper()
	rng := rand.New(rand.NewPCG(11, 12))
	split := func(n int) *dataset.Split {
		sp := &dataset.Split{N: n, Pixels: make([]uint8, n*144), Labels: make([]uint8, n)}
		for i := range n {
			q := rng.IntN(4)
			sp.Labels[i] = uint8(q)
			img := sp.Pixels[i*144 : (i+1)*144]
			for j := range img {
				img[j] = uint8(rng.IntN(80))
			}
			oy, ox := (q/2)*6+1, (q%2)*6+1
			for y := oy; y < oy+4; y++ {
				for x := ox; x < ox+4; x++ {
					img[y*12+x] = uint8(150 + rng.IntN(100))
				}
			}
		}
		return sp
	}
	return &dataset.Set{
		Name: "quadrants", Format: "idx", H: 12, W: 12, C: 1, Classes: 4,
		Train: split(n), Val: split(n / 4), Test: split(n / 4),
		Mean: []float32{0.25}, Std: []float32{0.2}, Identity: "quadrants:test",
	}
}

// smallConfig is the default config with a small batch and few steps.
func smallConfig(steps int) Config {
	c := DefaultConfig()
	c.Steps, c.BatchSize, c.EvalBatch = steps, 16, 64
	return c
}

// skipNet is input 12x12x1 -> conv 3x3/2 (6) -> bn_relu -> conv 3x3 (8) ->
// linear vertex, with an identity skip input -> that vertex (12x12x1
// resized to 6x6 and zero-padded to 8 channels) -> output, 4 classes.
func skipNet(t testing.TB) *dna.Genome {
	t.Helper()
	g := chain(dna.Shape{H: 12, W: 12, C: 1}, 4, 0.05, []convSpec{{6, 3, 3, 1, true}, {8, 3, 3, 0, false}})
	last := g.Edges[0].From
	g.Edges = append(g.Edges, dna.Edge{ID: g.NextID, From: g.InputVertex, To: last, Type: dna.Identity})
	g.NextID++
	if err := g.Validate(dna.DefaultBounds()); err != nil {
		t.Fatal(err)
	}
	return g
}
