// Package onnx exports a genome and its trained weights as an ONNX model
// for inference (opset 13, IR version 7, float32).
//
// The graph is the one train builds: vertices in dna.Resolve's order, a
// Conv per conv edge ("same" padding (k-1)/2, stride 2^s, no bias), inputs
// reconciled to the vertex's shape (nearest-neighbour resize by Gather with
// source index floor(i*H1/H) on axes 2 and 3, then channel truncation by
// Slice or zero padding by Pad), summed by Sum, then BatchNormalization on
// the running statistics and Relu for bn_relu vertices. The output vertex
// is followed by GlobalAveragePool, Flatten and Gemm (transB=1). The input
// is "images" (N, C, H, W) with a symbolic batch dimension "N"; the output
// is "logits" (N, classes), before softmax.
package onnx

import (
	"fmt"
	"io"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train"
)

const (
	irVersion = 7
	opset     = 13
	// InputName and OutputName are the graph's input and output.
	InputName  = "images"
	OutputName = "logits"
)

// builder accumulates the graph's nodes and initializers.
type builder struct {
	nodes []msg
	inits []msg
	names map[string]bool // initializer names already added
	n     int             // counter for unique value names
}

func (b *builder) fresh(prefix string) string {
	b.n++
	return fmt.Sprintf("%s_%d", prefix, b.n)
}

func (b *builder) node(op string, inputs []string, out string, attrs ...attribute) string {
	b.nodes = append(b.nodes, nodeProto(out, op, inputs, []string{out}, attrs...))
	return out
}

func (b *builder) floatInit(name string, t *train.Tensor) string {
	if !b.names[name] {
		b.names[name] = true
		b.inits = append(b.inits, floatTensor(name, t.Shape, t.Data))
	}
	return name
}

func (b *builder) int64Init(name string, data []int64) string {
	if !b.names[name] {
		b.names[name] = true
		b.inits = append(b.inits, int64Tensor(name, data))
	}
	return name
}

// tensor returns weights' tensor key, checking its shape.
func tensor(w *train.Weights, key string, shape ...int) (*train.Tensor, error) {
	t, ok := w.Tensors[key]
	if !ok {
		return nil, fmt.Errorf("onnx: the weights lack tensor %s", key)
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	if len(t.Shape) != len(shape) || len(t.Data) != n {
		return nil, fmt.Errorf("onnx: tensor %s has shape %v and %d values, want %v", key, t.Shape, len(t.Data), shape)
	}
	for i := range shape {
		if t.Shape[i] != shape[i] {
			return nil, fmt.Errorf("onnx: tensor %s has shape %v, want %v", key, t.Shape, shape)
		}
	}
	return t, nil
}

// nearest returns the source indices floor(i*from/to) for i in [0, to).
func nearest(from, to int) []int64 {
	idx := make([]int64, to)
	for i := range idx {
		idx[i] = int64(i * from / to)
	}
	return idx
}

// reconcile resizes x of shape src to dst (spatially by nearest neighbour,
// channels by truncation or zero padding).
func (b *builder) reconcile(x string, src, dst dna.Shape) string {
	if src.H != dst.H {
		idx := b.int64Init(fmt.Sprintf("resize/h/%d_%d", src.H, dst.H), nearest(src.H, dst.H))
		x = b.node("Gather", []string{x, idx}, b.fresh("resize_h"), intAttr("axis", 2))
	}
	if src.W != dst.W {
		idx := b.int64Init(fmt.Sprintf("resize/w/%d_%d", src.W, dst.W), nearest(src.W, dst.W))
		x = b.node("Gather", []string{x, idx}, b.fresh("resize_w"), intAttr("axis", 3))
	}
	switch {
	case src.C > dst.C:
		starts := b.int64Init("const/0", []int64{0})
		ends := b.int64Init(fmt.Sprintf("const/%d", dst.C), []int64{int64(dst.C)})
		axes := b.int64Init("const/1", []int64{1})
		x = b.node("Slice", []string{x, starts, ends, axes}, b.fresh("truncate"))
	case src.C < dst.C:
		pads := b.int64Init(fmt.Sprintf("pad/c/%d", dst.C-src.C), []int64{0, 0, 0, 0, 0, int64(dst.C - src.C), 0, 0})
		x = b.node("Pad", []string{x, pads}, b.fresh("zero_pad"))
	}
	return x
}

// Write writes g with weights as an ONNX model for inference. bnEpsilon is
// batch norm's epsilon (train.Config.BNEpsilon). It fails if the genome
// does not resolve or the weights lack a tensor or have one of the wrong
// shape.
func Write(w io.Writer, g *dna.Genome, weights *train.Weights, bnEpsilon float64) error {
	if weights == nil {
		return fmt.Errorf("onnx: no weights")
	}
	r, err := g.Resolve()
	if err != nil {
		return err
	}
	b := &builder{names: map[string]bool{}}
	vals := make([]string, len(g.Vertices))
	for _, i := range r.Order {
		v := g.Vertices[i]
		if v.ID == g.InputVertex {
			vals[i] = InputName
			continue
		}
		shape := r.VertexShape[i]
		var terms []string
		for _, j := range r.In[i] {
			e := g.Edges[j]
			src := g.VertexIndex(e.From)
			x := vals[src]
			if e.Type == dna.Conv {
				cin := r.VertexShape[src].C
				key := fmt.Sprintf("conv/%d", e.WeightID)
				t, err := tensor(weights, key, r.EdgeShape[j].C, cin, e.FilterH, e.FilterW)
				if err != nil {
					return err
				}
				ph, pw := int64((e.FilterH-1)/2), int64((e.FilterW-1)/2)
				s := int64(e.Stride())
				x = b.node("Conv", []string{x, b.floatInit(key, t)}, fmt.Sprintf("edge_%d_conv", e.ID),
					intsAttr("kernel_shape", int64(e.FilterH), int64(e.FilterW)),
					intsAttr("pads", ph, pw, ph, pw),
					intsAttr("strides", s, s))
			}
			if es := r.EdgeShape[j]; es != shape {
				x = b.reconcile(x, es, shape)
			}
			terms = append(terms, x)
		}
		var x string
		if len(terms) == 1 {
			x = terms[0]
		} else {
			x = b.node("Sum", terms, fmt.Sprintf("vertex_%d_sum", v.ID))
		}
		if v.Type == dna.BNReLU {
			var ins []string
			for _, role := range []string{"scale", "offset", "mean", "var"} {
				key := fmt.Sprintf("bn/%d/%s", v.WeightID, role)
				t, err := tensor(weights, key, shape.C)
				if err != nil {
					return err
				}
				ins = append(ins, b.floatInit(key, t))
			}
			x = b.node("BatchNormalization", append([]string{x}, ins...), fmt.Sprintf("vertex_%d_bn", v.ID),
				floatAttr("epsilon", float32(bnEpsilon)))
			x = b.node("Relu", []string{x}, fmt.Sprintf("vertex_%d_relu", v.ID))
		}
		vals[i] = x
	}
	out := g.VertexIndex(g.OutputVertex)
	c := r.VertexShape[out].C
	fw, err := tensor(weights, fmt.Sprintf("fc/%d/weight", g.FCWeightID), g.Classes, c)
	if err != nil {
		return err
	}
	fb, err := tensor(weights, fmt.Sprintf("fc/%d/bias", g.FCWeightID), g.Classes)
	if err != nil {
		return err
	}
	x := b.node("GlobalAveragePool", []string{vals[out]}, "pooled")
	x = b.node("Flatten", []string{x}, "flat", intAttr("axis", 1))
	b.node("Gemm", []string{x, b.floatInit(fmt.Sprintf("fc/%d/weight", g.FCWeightID), fw), b.floatInit(fmt.Sprintf("fc/%d/bias", g.FCWeightID), fb)},
		OutputName, intAttr("transB", 1))

	in := g.Input
	var graph msg
	for _, n := range b.nodes {
		graph = graph.sub(graphNode, n)
	}
	graph = graph.str(graphName, "evoswarm_"+g.ID().Short())
	for _, t := range b.inits {
		graph = graph.sub(graphInitializer, t)
	}
	graph = graph.sub(graphInput, valueInfo(InputName, []dim{{param: "N"}, {value: int64(in.C)}, {value: int64(in.H)}, {value: int64(in.W)}}))
	graph = graph.sub(graphOutput, valueInfo(OutputName, []dim{{param: "N"}, {value: int64(g.Classes)}}))

	model := msg(nil).int(modelIRVersion, irVersion).
		str(modelProducerName, "evoswarm").
		sub(modelGraph, graph).
		sub(modelOpsetImport, msg(nil).str(opsetDomain, "").int(opsetVersion, opset))
	_, err = w.Write(model)
	return err
}
