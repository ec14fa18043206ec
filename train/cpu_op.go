package train

import (
	"fmt"
	"hash"
	"hash/fnv"
	"sync/atomic"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// kernelOp adapts one of our kernels to gorgonia's Op interface, so that a
// network is an ordinary gorgonia expression graph run by a TapeMachine and
// differentiated by gorgonia.Grad. Each op owns its output buffer and
// reuses it every step. Ops never merge: each has a unique ID in its hash,
// because gorgonia deduplicates nodes whose ops hash equal and whose
// inputs match, and our ops carry state (workspaces, batch statistics).
type kernelOp struct {
	id     uint64
	name   string
	inDims []int        // dimensions of each input; 0 is a scalar
	shape  tensor.Shape // output shape; nil for a scalar
	out    G.Value
	fwd    func(in []G.Value, out G.Value) error
	// wrt and diff make the op differentiable; nil for gradient ops.
	wrt  []bool
	diff func(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error)
}

var opIDs atomic.Uint64

// newOp returns an op producing a float32 tensor of the given shape (nil for
// a scalar).
func newOp(name string, inDims []int, shape tensor.Shape, fwd func(in []G.Value, out G.Value) error) *kernelOp {
	op := &kernelOp{id: opIDs.Add(1), name: name, inDims: inDims, shape: shape, fwd: fwd}
	if shape == nil {
		op.out = G.NewF32(0)
	} else {
		op.out = tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(shape...))
	}
	return op
}

func dimsType(d int) hm.Type {
	if d == 0 {
		return tensor.Float32
	}
	return G.TensorType{Dims: d, Of: tensor.Float32}
}

func (op *kernelOp) Arity() int { return len(op.inDims) }

func (op *kernelOp) Type() hm.Type {
	ts := make(hm.Types, 0, len(op.inDims)+1)
	for _, d := range op.inDims {
		ts = append(ts, dimsType(d))
	}
	ts = append(ts, dimsType(len(op.shape)))
	return hm.NewFnType(ts...)
}

func (op *kernelOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	if op.shape == nil {
		return tensor.ScalarShape(), nil
	}
	return op.shape.Clone(), nil
}

func (op *kernelOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != len(op.inDims) {
		return nil, fmt.Errorf("train: op %s: got %d inputs, want %d", op.name, len(in), len(op.inDims))
	}
	if err := op.fwd(in, op.out); err != nil {
		return nil, err
	}
	return op.out, nil
}

func (op *kernelOp) ReturnsPtr() bool      { return true }
func (op *kernelOp) CallsExtern() bool     { return false }
func (op *kernelOp) OverwritesInput() int  { return -1 }
func (op *kernelOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "evoswarm.%s#%d", op.name, op.id) }
func (op *kernelOp) String() string        { return op.name }

func (op *kernelOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

func (op *kernelOp) DiffWRT(n int) []bool {
	if op.wrt != nil {
		return op.wrt
	}
	return make([]bool, n)
}

func (op *kernelOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if op.diff == nil {
		return nil, fmt.Errorf("train: op %s is not differentiable", op.name)
	}
	return op.diff(inputs, output, grad)
}

// f32s returns a tensor value's float32 backing slice.
func f32s(v G.Value) []float32 {
	switch t := v.(type) {
	case *tensor.Dense:
		return t.Float32s()
	case *G.F32:
		return []float32{float32(*t)}
	}
	panic(fmt.Sprintf("train: unexpected value %T", v))
}

// apply adds op to the graph over inputs.
func apply(op *kernelOp, inputs ...*G.Node) (*G.Node, error) {
	n, err := G.ApplyOp(op, inputs...)
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", op.name, err)
	}
	return n, nil
}
