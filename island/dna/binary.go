package dna

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Binary encoding, version 1. All integers are little-endian.
//
//	magic "EVDN", version u8
//	learning rate f64, input H u16, W u16, C u16, classes u32
//	parent [32]byte, mutation u8, nonce u64
//	next id u32, fc weight id u32, input vertex u32, output vertex u32
//	vertex count u16, then per vertex:
//	    id u32, type u8, flags u8 (1 inputs mutable, 2 outputs mutable), weight id u32
//	edge count u16, then per edge:
//	    id u32, from u32, to u32, type u8, channels u32, filter h u8, filter w u8,
//	    stride log2 u8, weight id u32, depth precedence u16, scale precedence u16
//
// Vertices and edges appear sorted by ID, so equal genomes encode equally.
const (
	binaryMagic   = "EVDN"
	binaryVersion = 1
	headerSize    = 4 + 1 + 8 + 2 + 2 + 2 + 4 + 32 + 1 + 8 + 4*4
	vertexSize    = 4 + 1 + 1 + 4
	edgeSize      = 4 + 4 + 4 + 1 + 4 + 1 + 1 + 1 + 4 + 2 + 2
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed genome")

// MarshalBinary returns the canonical binary encoding.
func (g *Genome) MarshalBinary() ([]byte, error) {
	if err := g.checkStructure(); err != nil {
		return nil, err
	}
	return g.appendBinary(nil), nil
}

// appendBinary encodes g without checking it; fields are truncated to their
// wire widths, which checkStructure guarantees they fit.
func (g *Genome) appendBinary(b []byte) []byte {
	le := binary.LittleEndian
	b = append(b, binaryMagic...)
	b = append(b, binaryVersion)
	b = le.AppendUint64(b, math.Float64bits(g.LearningRate))
	b = le.AppendUint16(b, uint16(g.Input.H))
	b = le.AppendUint16(b, uint16(g.Input.W))
	b = le.AppendUint16(b, uint16(g.Input.C))
	b = le.AppendUint32(b, uint32(g.Classes))
	b = append(b, g.Parent[:]...)
	b = append(b, byte(g.Mutation))
	b = le.AppendUint64(b, g.Nonce)
	b = le.AppendUint32(b, g.NextID)
	b = le.AppendUint32(b, g.FCWeightID)
	b = le.AppendUint32(b, g.InputVertex)
	b = le.AppendUint32(b, g.OutputVertex)
	b = le.AppendUint16(b, uint16(len(g.Vertices)))
	for _, v := range g.Vertices {
		var flags byte
		if v.InputsMutable {
			flags |= 1
		}
		if v.OutputsMutable {
			flags |= 2
		}
		b = le.AppendUint32(b, v.ID)
		b = append(b, byte(v.Type), flags)
		b = le.AppendUint32(b, v.WeightID)
	}
	b = le.AppendUint16(b, uint16(len(g.Edges)))
	for _, e := range g.Edges {
		b = le.AppendUint32(b, e.ID)
		b = le.AppendUint32(b, e.From)
		b = le.AppendUint32(b, e.To)
		b = append(b, byte(e.Type))
		b = le.AppendUint32(b, uint32(e.Channels))
		b = append(b, byte(e.FilterH), byte(e.FilterW), byte(e.StrideLog2))
		b = le.AppendUint32(b, e.WeightID)
		b = le.AppendUint16(b, uint16(e.DepthPrecedence))
		b = le.AppendUint16(b, uint16(e.ScalePrecedence))
	}
	return b
}

// UnmarshalBinary decodes the binary encoding. It refuses input that is
// oversized, truncated, has trailing bytes, or decodes to a genome that is
// not structurally sound; it never panics. It does not apply an
// experiment's Bounds: call Validate for that.
func (g *Genome) UnmarshalBinary(data []byte) error {
	d, err := decodeBinary(data)
	if err != nil {
		return err
	}
	*g = *d
	return nil
}

// DecodeBinary decodes the binary encoding into a new genome; see
// UnmarshalBinary.
func DecodeBinary(data []byte) (*Genome, error) { return decodeBinary(data) }

type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.err = fmt.Errorf("dna: %w: truncated in %s", ErrMalformed, what)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8(what string) uint8 {
	if b := r.take(1, what); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16(what string) uint16 {
	if b := r.take(2, what); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u32(what string) uint32 {
	if b := r.take(4, what); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64(what string) uint64 {
	if b := r.take(8, what); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func decodeBinary(data []byte) (*Genome, error) {
	if len(data) > MaxEncodedSize {
		return nil, fmt.Errorf("dna: %w: %d bytes, the limit is %d", ErrMalformed, len(data), MaxEncodedSize)
	}
	if len(data) < headerSize {
		return nil, fmt.Errorf("dna: %w: %d bytes is shorter than the %d-byte header", ErrMalformed, len(data), headerSize)
	}
	r := &reader{b: data}
	if string(r.take(4, "magic")) != binaryMagic {
		return nil, fmt.Errorf("dna: %w: bad magic %q", ErrMalformed, data[:4])
	}
	if v := r.u8("version"); v != binaryVersion {
		return nil, fmt.Errorf("dna: %w: encoding version %d, this build reads %d", ErrMalformed, v, binaryVersion)
	}
	g := &Genome{}
	g.LearningRate = math.Float64frombits(r.u64("learning rate"))
	g.Input.H = int(r.u16("input"))
	g.Input.W = int(r.u16("input"))
	g.Input.C = int(r.u16("input"))
	g.Classes = int(r.u32("classes"))
	copy(g.Parent[:], r.take(32, "parent"))
	g.Mutation = Kind(r.u8("mutation"))
	g.Nonce = r.u64("nonce")
	g.NextID = r.u32("next id")
	g.FCWeightID = r.u32("fc weight id")
	g.InputVertex = r.u32("input vertex")
	g.OutputVertex = r.u32("output vertex")
	nv := int(r.u16("vertex count"))
	if r.err == nil && nv*vertexSize > len(r.b) {
		return nil, fmt.Errorf("dna: %w: truncated: %d vertices do not fit in %d bytes", ErrMalformed, nv, len(r.b))
	}
	if nv > maxVertices {
		return nil, fmt.Errorf("dna: %w: %d vertices, the limit is %d", ErrMalformed, nv, maxVertices)
	}
	g.Vertices = make([]Vertex, nv)
	for i := range g.Vertices {
		v := &g.Vertices[i]
		v.ID = r.u32("vertex")
		v.Type = VertexType(r.u8("vertex"))
		flags := r.u8("vertex")
		if flags&^3 != 0 {
			return nil, fmt.Errorf("dna: %w: vertex %d has unknown flags %#x", ErrMalformed, v.ID, flags)
		}
		v.InputsMutable, v.OutputsMutable = flags&1 != 0, flags&2 != 0
		v.WeightID = r.u32("vertex")
	}
	ne := int(r.u16("edge count"))
	if r.err == nil && ne*edgeSize > len(r.b) {
		return nil, fmt.Errorf("dna: %w: truncated: %d edges do not fit in %d bytes", ErrMalformed, ne, len(r.b))
	}
	g.Edges = make([]Edge, ne)
	for i := range g.Edges {
		e := &g.Edges[i]
		e.ID = r.u32("edge")
		e.From = r.u32("edge")
		e.To = r.u32("edge")
		e.Type = EdgeType(r.u8("edge"))
		e.Channels = int(r.u32("edge"))
		e.FilterH = int(r.u8("edge"))
		e.FilterW = int(r.u8("edge"))
		e.StrideLog2 = int(r.u8("edge"))
		e.WeightID = r.u32("edge")
		e.DepthPrecedence = int(r.u16("edge"))
		e.ScalePrecedence = int(r.u16("edge"))
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("dna: %w: %d trailing bytes", ErrMalformed, len(r.b))
	}
	if err := g.checkStructure(); err != nil {
		return nil, fmt.Errorf("%w (%w)", err, ErrMalformed)
	}
	return g, nil
}
