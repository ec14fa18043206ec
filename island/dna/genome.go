package dna

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
)

// VertexType is the activation applied at a vertex after its inputs are summed.
type VertexType uint8

// Vertex types.
const (
	Linear VertexType = iota + 1 // identity activation
	BNReLU                       // batch norm, then ReLU
)

func (t VertexType) String() string {
	switch t {
	case Linear:
		return "linear"
	case BNReLU:
		return "bn_relu"
	}
	return fmt.Sprintf("vertex-type(%d)", uint8(t))
}

// EdgeType is the operation an edge applies to its source activation.
type EdgeType uint8

// Edge types.
const (
	Identity EdgeType = iota + 1 // pass the activation through unchanged
	Conv                         // 2-D convolution, "same" padding, no bias
)

func (t EdgeType) String() string {
	switch t {
	case Identity:
		return "identity"
	case Conv:
		return "conv"
	}
	return fmt.Sprintf("edge-type(%d)", uint8(t))
}

// Precedences. Backbone edges outrank skip connections, so that a vertex's
// shape is fixed by its backbone input (the paper's primary-edge rule).
const (
	BackbonePrecedence = 1
	SkipPrecedence     = 0
)

// Vertex is one activation tensor of the network.
type Vertex struct {
	ID   uint32
	Type VertexType
	// InputsMutable and OutputsMutable protect the graph's ends from
	// mutation: no edge may be added to or removed from a vertex's inputs
	// (outputs) when the flag is false.
	InputsMutable  bool
	OutputsMutable bool
	// WeightID names the batch-norm parameters of a BN_RELU vertex. It is
	// 0 for LINEAR vertices, which carry no weights.
	WeightID uint32
}

// Edge is one operation from a source vertex to a target vertex.
type Edge struct {
	ID       uint32
	From, To uint32 // vertex IDs
	Type     EdgeType
	// Conv parameters; zero for IDENTITY edges.
	Channels   int // output channels
	FilterH    int // odd, >= 1
	FilterW    int // odd, >= 1
	StrideLog2 int // stride = 2^StrideLog2
	// WeightID names the conv kernel; 0 for IDENTITY edges.
	WeightID uint32

	DepthPrecedence int
	ScalePrecedence int
}

// Stride returns the conv stride, 2^StrideLog2.
func (e *Edge) Stride() int { return 1 << e.StrideLog2 }

// Shape is an activation's height, width and channels.
type Shape struct {
	H, W, C int
}

func (s Shape) String() string { return fmt.Sprintf("%dx%dx%d", s.H, s.W, s.C) }

// Size is the number of scalars in the activation of one image.
func (s Shape) Size() int64 { return int64(s.H) * int64(s.W) * int64(s.C) }

// ID is a genome's identity: the SHA-256 of its binary encoding. Genomes
// carry their parent's ID and a birth nonce, so that every individual,
// siblings with the same architecture included, has its own ID.
type ID [32]byte

// String returns the ID in lower-case hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 12 hex digits, for logs and tables.
func (id ID) Short() string { return id.String()[:12] }

// IsZero reports whether id is the zero ID (no parent).
func (id ID) IsZero() bool { return id == ID{} }

// ParseID parses a 64-digit hex ID.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 64 {
		return id, fmt.Errorf("dna: id %q: want 64 hex digits, got %d characters", s, len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("dna: id %q: %w", s, err)
	}
	return id, nil
}

// Genome is the paper's DNA. The zero value is not valid; start from Initial
// or a decoder.
type Genome struct {
	LearningRate float64
	Input        Shape // of one image
	Classes      int

	Vertices     []Vertex // sorted by ID
	Edges        []Edge   // sorted by ID
	InputVertex  uint32
	OutputVertex uint32
	// FCWeightID names the fully connected layer after global average pooling.
	FCWeightID uint32
	// NextID is the next unused ID; vertices, edges and weights share it.
	NextID uint32

	// Lineage: the parent's ID (zero for an initial individual), the
	// mutation that made this genome from it, and a nonce drawn at birth.
	Parent   ID
	Mutation Kind
	Nonce    uint64
}

// Clone returns a deep copy.
func (g *Genome) Clone() *Genome {
	c := *g
	c.Vertices = slices.Clone(g.Vertices)
	c.Edges = slices.Clone(g.Edges)
	return &c
}

// ID returns the SHA-256 of the genome's binary encoding.
func (g *Genome) ID() ID {
	return ID(sha256.Sum256(g.appendBinary(nil)))
}

// newID returns a fresh ID and advances the counter.
func (g *Genome) newID() uint32 {
	id := g.NextID
	g.NextID++
	return id
}

// Vertex returns the vertex with the given ID, or nil.
func (g *Genome) Vertex(id uint32) *Vertex {
	if i := g.vertexIndex(id); i >= 0 {
		return &g.Vertices[i]
	}
	return nil
}

// Edge returns the edge with the given ID, or nil.
func (g *Genome) Edge(id uint32) *Edge {
	if i := g.edgeIndex(id); i >= 0 {
		return &g.Edges[i]
	}
	return nil
}

// InEdges returns the indices into g.Edges of the edges that end at v.
func (g *Genome) InEdges(v uint32) []int {
	var out []int
	for i := range g.Edges {
		if g.Edges[i].To == v {
			out = append(out, i)
		}
	}
	return out
}

// OutEdges returns the indices into g.Edges of the edges that start at v.
func (g *Genome) OutEdges(v uint32) []int {
	var out []int
	for i := range g.Edges {
		if g.Edges[i].From == v {
			out = append(out, i)
		}
	}
	return out
}

// WeightIDs returns every weight ID the genome uses, sorted: conv kernels,
// BN_RELU vertices and the fully connected layer.
func (g *Genome) WeightIDs() []uint32 {
	ids := []uint32{g.FCWeightID}
	for _, v := range g.Vertices {
		if v.Type == BNReLU {
			ids = append(ids, v.WeightID)
		}
	}
	for _, e := range g.Edges {
		if e.Type == Conv {
			ids = append(ids, e.WeightID)
		}
	}
	slices.Sort(ids)
	return ids
}

// NumConvs returns the number of CONV edges.
func (g *Genome) NumConvs() int {
	n := 0
	for _, e := range g.Edges {
		if e.Type == Conv {
			n++
		}
	}
	return n
}

// sortGraph restores the canonical order: vertices and edges by ID.
func (g *Genome) sortGraph() {
	slices.SortFunc(g.Vertices, func(a, b Vertex) int { return cmpU32(a.ID, b.ID) })
	slices.SortFunc(g.Edges, func(a, b Edge) int { return cmpU32(a.ID, b.ID) })
}

func cmpU32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
