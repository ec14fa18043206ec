package dna

import (
	"fmt"
	"math/rand/v2"
)

// insertOneToOne is INSERT-CONVOLUTION without the conv: a random backbone
// edge u->w becomes u->n, a new identity edge, and n->w, the old edge. The
// new vertex n is BN_RELU or LINEAR at random.
func insertOneToOne(g *Genome, rng *rand.Rand, _ *MutateOptions) (string, error) {
	e, u, err := splitBackbone(g, rng)
	if err != nil {
		return "", err
	}
	n := g.addVertex(rng)
	id := g.newID()
	g.Edges = append(g.Edges, Edge{
		ID: id, From: u, To: n, Type: Identity,
		DepthPrecedence: BackbonePrecedence, ScalePrecedence: BackbonePrecedence,
	})
	g.Edge(e).From = n
	return fmt.Sprintf("identity %d->%d before edge %d (vertex %d %s)", u, n, e, n, g.Vertex(n).Type), nil
}
