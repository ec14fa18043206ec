package dna

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
)

// The JSON form is for people and tools. It carries the same content as the
// binary encoding, in the same canonical order, so JSON -> binary -> JSON is
// the identity.

type jsonGenome struct {
	Format       int          `json:"format"`
	LearningRate float64      `json:"learning_rate"`
	Input        jsonShape    `json:"input"`
	Classes      int          `json:"classes"`
	InputVertex  uint32       `json:"input_vertex"`
	OutputVertex uint32       `json:"output_vertex"`
	FCWeightID   uint32       `json:"fc_weight_id"`
	NextID       uint32       `json:"next_id"`
	Parent       string       `json:"parent,omitempty"`
	Mutation     string       `json:"mutation,omitempty"`
	Nonce        uint64       `json:"nonce"`
	Vertices     []jsonVertex `json:"vertices"`
	Edges        []jsonEdge   `json:"edges"`
}

type jsonShape struct {
	H int `json:"h"`
	W int `json:"w"`
	C int `json:"c"`
}

type jsonVertex struct {
	ID             uint32 `json:"id"`
	Type           string `json:"type"`
	InputsMutable  bool   `json:"inputs_mutable"`
	OutputsMutable bool   `json:"outputs_mutable"`
	WeightID       uint32 `json:"weight_id,omitempty"`
}

type jsonEdge struct {
	ID              uint32 `json:"id"`
	From            uint32 `json:"from"`
	To              uint32 `json:"to"`
	Type            string `json:"type"`
	Channels        int    `json:"channels,omitempty"`
	FilterH         int    `json:"filter_h,omitempty"`
	FilterW         int    `json:"filter_w,omitempty"`
	Stride          int    `json:"stride,omitempty"`
	WeightID        uint32 `json:"weight_id,omitempty"`
	DepthPrecedence int    `json:"depth_precedence"`
	ScalePrecedence int    `json:"scale_precedence"`
}

// MarshalJSON returns the canonical JSON form.
func (g *Genome) MarshalJSON() ([]byte, error) {
	if err := g.checkStructure(); err != nil {
		return nil, err
	}
	j := jsonGenome{
		Format:       binaryVersion,
		LearningRate: g.LearningRate,
		Input:        jsonShape{g.Input.H, g.Input.W, g.Input.C},
		Classes:      g.Classes,
		InputVertex:  g.InputVertex,
		OutputVertex: g.OutputVertex,
		FCWeightID:   g.FCWeightID,
		NextID:       g.NextID,
		Nonce:        g.Nonce,
		Vertices:     make([]jsonVertex, len(g.Vertices)),
		Edges:        make([]jsonEdge, len(g.Edges)),
	}
	if !g.Parent.IsZero() {
		j.Parent = g.Parent.String()
		j.Mutation = g.Mutation.String()
	}
	for i, v := range g.Vertices {
		j.Vertices[i] = jsonVertex{ID: v.ID, Type: v.Type.String(), InputsMutable: v.InputsMutable, OutputsMutable: v.OutputsMutable, WeightID: v.WeightID}
	}
	for i, e := range g.Edges {
		je := jsonEdge{ID: e.ID, From: e.From, To: e.To, Type: e.Type.String(), DepthPrecedence: e.DepthPrecedence, ScalePrecedence: e.ScalePrecedence}
		if e.Type == Conv {
			je.Channels, je.FilterH, je.FilterW, je.Stride, je.WeightID = e.Channels, e.FilterH, e.FilterW, e.Stride(), e.WeightID
		}
		j.Edges[i] = je
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes the JSON form with the same checks as
// UnmarshalBinary: unknown fields, oversized or malformed input, and
// structurally unsound genomes are refused.
func (g *Genome) UnmarshalJSON(data []byte) error {
	d, err := DecodeJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	*g = *d
	return nil
}

// DecodeJSON reads one genome in JSON form from r, reading at most
// MaxEncodedSize bytes.
func DecodeJSON(r io.Reader) (*Genome, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxEncodedSize+1))
	if err != nil {
		return nil, fmt.Errorf("dna: reading genome: %w", err)
	}
	if len(data) > MaxEncodedSize {
		return nil, fmt.Errorf("dna: %w: JSON is over the %d-byte limit", ErrMalformed, MaxEncodedSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var j jsonGenome
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("dna: %w: %s", ErrMalformed, jsonReason(err, data))
	}
	if dec.More() {
		return nil, fmt.Errorf("dna: %w: trailing data after the genome", ErrMalformed)
	}
	if j.Format != binaryVersion {
		return nil, fmt.Errorf("dna: %w: format %d, this build reads %d", ErrMalformed, j.Format, binaryVersion)
	}
	if len(j.Vertices) > maxVertices || len(j.Edges) > maxEdges {
		return nil, fmt.Errorf("dna: %w: %d vertices and %d edges exceed the limits %d and %d", ErrMalformed, len(j.Vertices), len(j.Edges), maxVertices, maxEdges)
	}
	g := &Genome{
		LearningRate: j.LearningRate,
		Input:        Shape{H: j.Input.H, W: j.Input.W, C: j.Input.C},
		Classes:      j.Classes,
		InputVertex:  j.InputVertex,
		OutputVertex: j.OutputVertex,
		FCWeightID:   j.FCWeightID,
		NextID:       j.NextID,
		Nonce:        j.Nonce,
		Vertices:     make([]Vertex, len(j.Vertices)),
		Edges:        make([]Edge, len(j.Edges)),
	}
	if j.Parent != "" {
		if g.Parent, err = ParseID(j.Parent); err != nil {
			return nil, fmt.Errorf("%w (%w)", err, ErrMalformed)
		}
	}
	if j.Mutation != "" {
		if g.Mutation, err = ParseKind(j.Mutation); err != nil {
			return nil, fmt.Errorf("%w (%w)", err, ErrMalformed)
		}
	}
	for i, v := range j.Vertices {
		var t VertexType
		switch v.Type {
		case "linear":
			t = Linear
		case "bn_relu":
			t = BNReLU
		default:
			return nil, fmt.Errorf("dna: %w: vertex %d has unknown type %q (want linear or bn_relu)", ErrMalformed, v.ID, v.Type)
		}
		g.Vertices[i] = Vertex{ID: v.ID, Type: t, InputsMutable: v.InputsMutable, OutputsMutable: v.OutputsMutable, WeightID: v.WeightID}
	}
	for i, e := range j.Edges {
		ge := Edge{ID: e.ID, From: e.From, To: e.To, DepthPrecedence: e.DepthPrecedence, ScalePrecedence: e.ScalePrecedence}
		switch e.Type {
		case "identity":
			ge.Type = Identity
			if e.Channels != 0 || e.FilterH != 0 || e.FilterW != 0 || e.Stride != 0 || e.WeightID != 0 {
				return nil, fmt.Errorf("dna: %w: edge %d is an identity edge with conv parameters", ErrMalformed, e.ID)
			}
		case "conv":
			ge.Type = Conv
			if e.Stride < 1 || e.Stride > 1<<maxStrideLog2 || e.Stride&(e.Stride-1) != 0 {
				return nil, fmt.Errorf("dna: %w: edge %d has stride %d; it must be a power of two up to %d", ErrMalformed, e.ID, e.Stride, 1<<maxStrideLog2)
			}
			ge.Channels, ge.FilterH, ge.FilterW, ge.WeightID = e.Channels, e.FilterH, e.FilterW, e.WeightID
			ge.StrideLog2 = bits.TrailingZeros(uint(e.Stride))
		default:
			return nil, fmt.Errorf("dna: %w: edge %d has unknown type %q (want identity or conv)", ErrMalformed, e.ID, e.Type)
		}
		g.Edges[i] = ge
	}
	if err := g.checkStructure(); err != nil {
		return nil, fmt.Errorf("%w (%w)", err, ErrMalformed)
	}
	return g, nil
}

// jsonReason turns a decoding error into one line that says where.
func jsonReason(err error, data []byte) string {
	switch e := err.(type) {
	case *json.SyntaxError:
		return fmt.Sprintf("invalid JSON at byte %d: %v", e.Offset, e)
	case *json.UnmarshalTypeError:
		return fmt.Sprintf("field %q: %v value where %v was expected", e.Field, e.Value, e.Type)
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		if len(bytes.TrimSpace(data)) == 0 {
			return "empty input"
		}
		return "truncated JSON"
	}
	return err.Error()
}
