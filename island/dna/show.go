package dna

import (
	"fmt"
	"io"
	"strings"
)

// WriteSummary writes a summary for people: lineage, counts, cost, and every
// vertex with its resolved shape and inputs.
func (g *Genome) WriteSummary(w io.Writer) error {
	r, err := g.Resolve()
	if err != nil {
		return err
	}
	skips := len(g.Edges) - len(g.backboneEdges(r))
	var b strings.Builder
	fmt.Fprintf(&b, "id          %s\n", g.ID())
	if !g.Parent.IsZero() {
		fmt.Fprintf(&b, "parent      %s (%s)\n", g.Parent, g.Mutation)
	}
	fmt.Fprintf(&b, "input       %v, %d classes, learning rate %.4g\n", g.Input, g.Classes, g.LearningRate)
	fmt.Fprintf(&b, "graph       %d vertices, %d convolutions, %d skips\n", len(g.Vertices), g.NumConvs(), skips)
	fmt.Fprintf(&b, "cost        %d parameters, %d FLOPs per image (forward)\n", g.params(r), g.flops(r))
	fmt.Fprintf(&b, "vertices (topological order):\n")
	for _, i := range r.Order {
		v := g.Vertices[i]
		role := ""
		switch v.ID {
		case g.InputVertex:
			role = " (input)"
		case g.OutputVertex:
			role = " (output -> global average pool -> fc -> softmax)"
		}
		fmt.Fprintf(&b, "  v%-4d %-8s %-12v%s\n", v.ID, v.Type, r.VertexShape[i], role)
		for k, j := range r.In[i] {
			e := g.Edges[j]
			kind := "skip"
			if k == 0 {
				kind = "primary"
			}
			fmt.Fprintf(&b, "        <- e%-4d from v%-4d %s (%s)\n", e.ID, e.From, describeEdge(&e), kind)
		}
	}
	_, err = io.WriteString(w, b.String())
	return err
}

func describeEdge(e *Edge) string {
	if e.Type == Identity {
		return "identity"
	}
	return fmt.Sprintf("conv %dx%d/%d, %d channels", e.FilterH, e.FilterW, e.Stride(), e.Channels)
}

// WriteDOT writes the genome as a Graphviz digraph: vertices labelled with
// type and shape, convs with their size, stride and channels, skips dashed.
func (g *Genome) WriteDOT(w io.Writer) error {
	r, err := g.Resolve()
	if err != nil {
		return err
	}
	onBackbone := map[uint32]bool{}
	for _, id := range g.backboneEdges(r) {
		onBackbone[id] = true
	}
	var b strings.Builder
	fmt.Fprintf(&b, "digraph genome {\n  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\"];\n")
	fmt.Fprintf(&b, "  label=%q;\n", fmt.Sprintf("%s  lr %.4g  %d params  %d FLOPs/image", g.ID().Short(), g.LearningRate, g.params(r), g.flops(r)))
	for _, i := range r.Order {
		v := g.Vertices[i]
		label := fmt.Sprintf("v%d %s\\n%v", v.ID, v.Type, r.VertexShape[i])
		switch v.ID {
		case g.InputVertex:
			label = fmt.Sprintf("input\\n%v", r.VertexShape[i])
		case g.OutputVertex:
			label = fmt.Sprintf("output\\n%v\\nGAP -> FC(%d) -> softmax", r.VertexShape[i], g.Classes)
		}
		fmt.Fprintf(&b, "  v%d [label=\"%s\"];\n", v.ID, label)
	}
	for _, e := range g.Edges {
		style := ""
		if !onBackbone[e.ID] {
			style = ", style=dashed"
		}
		fmt.Fprintf(&b, "  v%d -> v%d [label=%q%s];\n", e.From, e.To, describeEdge(&e), style)
	}
	b.WriteString("}\n")
	_, err = io.WriteString(w, b.String())
	return err
}

// ParseShape parses "HxWxC", as in "28x28x1".
func ParseShape(s string) (Shape, error) {
	var sh Shape
	if n, err := fmt.Sscanf(s, "%dx%dx%d", &sh.H, &sh.W, &sh.C); err != nil || n != 3 || sh.String() != s {
		return Shape{}, fmt.Errorf("dna: shape %q: want HxWxC, as in 28x28x1", s)
	}
	if sh.H < 1 || sh.W < 1 || sh.C < 1 || sh.H > maxInputDim || sh.W > maxInputDim || sh.C > maxInputC {
		return Shape{}, fmt.Errorf("dna: shape %q is outside [1x1x1, %dx%dx%d]", s, maxInputDim, maxInputDim, maxInputC)
	}
	return sh, nil
}
