package dna

import (
	"fmt"
	"slices"
)

// Resolved is a genome's network with every shape worked out: the order in
// which to compute the vertices and what each edge and vertex produces.
// Indices refer to Genome.Vertices and Genome.Edges.
type Resolved struct {
	// Order lists vertex indices in topological order; the input vertex
	// comes first and the output vertex last.
	Order []int
	// VertexShape[i] is the shape of vertex i after its inputs are summed.
	VertexShape []Shape
	// EdgeShape[j] is what edge j produces, before it is reconciled with
	// its target's shape (resized and channel-truncated or zero-padded).
	EdgeShape []Shape
	// In[i] lists the edge indices into vertex i, the primary edge first.
	In [][]int
	// ScalePrimary[i] and DepthPrimary[i] are the edge indices that fix
	// vertex i's spatial size and channel count; -1 for the input vertex.
	ScalePrimary []int
	DepthPrimary []int
}

// ConvOut returns the spatial size after a "same"-padded convolution with
// the given stride: ceil(in/stride).
func ConvOut(in, stride int) int { return (in + stride - 1) / stride }

// Resolve computes the topological order and every vertex's and edge's shape
// with the primary-edge rule: among a vertex's inputs, the edge with the
// highest scale precedence fixes its height and width and the edge with the
// highest depth precedence fixes its channels (ties go to the lower edge
// ID); the other inputs are resized to match. It fails if the graph is
// cyclic, if a vertex cannot be reached from the input or does not reach the
// output, or if a shape cannot be resolved.
func (g *Genome) Resolve() (*Resolved, error) {
	nv := len(g.Vertices)
	index := make(map[uint32]int, nv)
	for i, v := range g.Vertices {
		index[v.ID] = i
	}
	r := &Resolved{
		VertexShape:  make([]Shape, nv),
		EdgeShape:    make([]Shape, len(g.Edges)),
		In:           make([][]int, nv),
		ScalePrimary: make([]int, nv),
		DepthPrimary: make([]int, nv),
	}
	out := make([][]int, nv)
	indeg := make([]int, nv)
	for j, e := range g.Edges {
		from, ok1 := index[e.From]
		to, ok2 := index[e.To]
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("dna: edge %d (%d->%d) names a missing vertex", e.ID, e.From, e.To)
		}
		out[from] = append(out[from], j)
		r.In[to] = append(r.In[to], j)
		indeg[to]++
	}
	inIdx, okIn := index[g.InputVertex]
	outIdx, okOut := index[g.OutputVertex]
	if !okIn || !okOut {
		return nil, fmt.Errorf("dna: input vertex %d or output vertex %d is missing", g.InputVertex, g.OutputVertex)
	}
	// Kahn's algorithm; the ready list is kept sorted so the order is
	// deterministic.
	var ready []int
	for i := range nv {
		if indeg[i] == 0 {
			if i != inIdx {
				return nil, fmt.Errorf("dna: vertex %d has no inputs and is not the input vertex", g.Vertices[i].ID)
			}
			ready = append(ready, i)
		}
	}
	r.Order = make([]int, 0, nv)
	for len(ready) > 0 {
		i := ready[0]
		ready = ready[1:]
		r.Order = append(r.Order, i)
		for _, j := range out[i] {
			t := index[g.Edges[j].To]
			indeg[t]--
			if indeg[t] == 0 {
				k, _ := slices.BinarySearch(ready, t)
				ready = slices.Insert(ready, k, t)
			}
		}
	}
	if len(r.Order) != nv {
		for i := range nv {
			if indeg[i] > 0 {
				return nil, fmt.Errorf("dna: graph has a cycle through vertex %d", g.Vertices[i].ID)
			}
		}
	}
	// Every vertex must lead to the output; otherwise its work is wasted
	// and the graph is not what the mutations produce. (The output being
	// last in the order does not show it: a dead end can sort before it.)
	reach := make([]bool, nv)
	reach[outIdx] = true
	for k := len(r.Order) - 1; k >= 0; k-- {
		i := r.Order[k]
		for _, j := range out[i] {
			if reach[index[g.Edges[j].To]] {
				reach[i] = true
			}
		}
	}
	for _, i := range r.Order {
		if !reach[i] {
			return nil, fmt.Errorf("dna: vertex %d does not reach the output vertex %d", g.Vertices[i].ID, g.OutputVertex)
		}
	}
	for _, i := range r.Order {
		r.ScalePrimary[i], r.DepthPrimary[i] = -1, -1
		if i == inIdx {
			r.VertexShape[i] = g.Input
			continue
		}
		in := r.In[i]
		for _, j := range in {
			e := &g.Edges[j]
			src := r.VertexShape[index[e.From]]
			switch e.Type {
			case Identity:
				r.EdgeShape[j] = src
			case Conv:
				s := e.Stride()
				r.EdgeShape[j] = Shape{H: ConvOut(src.H, s), W: ConvOut(src.W, s), C: e.Channels}
			default:
				return nil, fmt.Errorf("dna: edge %d has unknown type %d", e.ID, e.Type)
			}
			sp, dp := r.ScalePrimary[i], r.DepthPrimary[i]
			if sp < 0 || e.ScalePrecedence > g.Edges[sp].ScalePrecedence {
				r.ScalePrimary[i] = j
			}
			if dp < 0 || e.DepthPrecedence > g.Edges[dp].DepthPrecedence {
				r.DepthPrimary[i] = j
			}
		}
		sp, dp := r.ScalePrimary[i], r.DepthPrimary[i]
		r.VertexShape[i] = Shape{H: r.EdgeShape[sp].H, W: r.EdgeShape[sp].W, C: r.EdgeShape[dp].C}
		if s := r.VertexShape[i]; s.H < 1 || s.W < 1 || s.C < 1 {
			return nil, fmt.Errorf("dna: vertex %d resolves to the empty shape %v", g.Vertices[i].ID, s)
		}
		// Primary (scale) edge first, the rest in ID order.
		slices.SortStableFunc(in, func(a, b int) int {
			switch {
			case a == sp:
				return -1
			case b == sp:
				return 1
			}
			return a - b
		})
	}
	return r, nil
}

// Backbone returns the backbone: the path of primary (scale) edges from the
// input vertex to the output vertex, as vertex IDs and edge IDs in order.
// Every other edge is a skip connection.
func (g *Genome) Backbone() (vertices []uint32, edges []uint32, err error) {
	r, err := g.Resolve()
	if err != nil {
		return nil, nil, err
	}
	return g.backbone(r), g.backboneEdges(r), nil
}

func (g *Genome) backbone(r *Resolved) []uint32 {
	var vs []uint32
	v := g.OutputVertex
	for {
		vs = append(vs, v)
		if v == g.InputVertex {
			break
		}
		i := g.vertexIndex(v)
		v = g.Edges[r.ScalePrimary[i]].From
	}
	slices.Reverse(vs)
	return vs
}

func (g *Genome) backboneEdges(r *Resolved) []uint32 {
	var es []uint32
	v := g.OutputVertex
	for v != g.InputVertex {
		e := &g.Edges[r.ScalePrimary[g.vertexIndex(v)]]
		es = append(es, e.ID)
		v = e.From
	}
	slices.Reverse(es)
	return es
}

// VertexIndex returns the index in g.Vertices of the vertex with the given
// ID, or -1.
func (g *Genome) VertexIndex(id uint32) int { return g.vertexIndex(id) }

func (g *Genome) vertexIndex(id uint32) int {
	i, ok := slices.BinarySearchFunc(g.Vertices, id, func(v Vertex, id uint32) int { return cmpU32(v.ID, id) })
	if !ok {
		return -1
	}
	return i
}

func (g *Genome) edgeIndex(id uint32) int {
	i, ok := slices.BinarySearchFunc(g.Edges, id, func(e Edge, id uint32) int { return cmpU32(e.ID, id) })
	if !ok {
		return -1
	}
	return i
}
