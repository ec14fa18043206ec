package train

import (
	"fmt"

	"github.com/evoswarm/evoswarm/train/kernels"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The op layer: each function adds one operation of a genome's network to a
// gorgonia graph, backed by a kernel from train/kernels, and wires its
// gradient through SymDiff. needDX is false where the input is the data
// (no gradient is wanted, so none is computed).

// convNode is a "same"-padded convolution without bias.
func convNode(x, w *G.Node, stride int, needDX bool, workers int) (*G.Node, error) {
	xs, ws := x.Shape(), w.Shape()
	k := kernels.NewConv(xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], stride, workers)
	op := newOp(fmt.Sprintf("conv%dx%d/%d", k.KH, k.KW, stride), []int{4, 4},
		tensor.Shape{k.B, k.Cout, k.OH, k.OW},
		func(in []G.Value, out G.Value) error {
			k.Forward(f32s(in[0]), f32s(in[1]), f32s(out))
			return nil
		})
	op.wrt = []bool{needDX, true}
	op.diff = func(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		var dx *G.Node
		if needDX {
			back := newOp("conv_dx", []int{4, 4}, xs.Clone(), func(in []G.Value, out G.Value) error {
				k.BackwardData(f32s(in[0]), f32s(in[1]), f32s(out))
				return nil
			})
			var err error
			if dx, err = apply(back, inputs[1], grad); err != nil {
				return nil, err
			}
		}
		backW := newOp("conv_dw", []int{4, 4}, ws.Clone(), func(in []G.Value, out G.Value) error {
			k.BackwardFilter(f32s(in[0]), f32s(in[1]), f32s(out))
			return nil
		})
		dw, err := apply(backW, inputs[0], grad)
		if err != nil {
			return nil, err
		}
		return G.Nodes{dx, dw}, nil
	}
	return apply(op, x, w)
}

// bnReLUNode is batch norm then ReLU. In training it normalises with the
// batch statistics and updates the running ones in st; otherwise it uses them.
func bnReLUNode(x, scale, offset *G.Node, st *bnState, training bool, workers int) (*G.Node, error) {
	xs := x.Shape()
	b, c, hw := xs[0], xs[1], xs[2]*xs[3]
	k := kernels.NewBatchNorm(b, c, hw, st.momentum, st.eps, workers)
	op := newOp("bn_relu", []int{4, 1, 1}, xs.Clone(), func(in []G.Value, out G.Value) error {
		if training {
			k.ForwardTrain(f32s(in[0]), f32s(in[1]), f32s(in[2]), st.mean, st.variance, f32s(out))
		} else {
			k.ForwardInfer(f32s(in[0]), f32s(in[1]), f32s(in[2]), st.mean, st.variance, f32s(out), b)
		}
		return nil
	})
	if !training {
		return apply(op, x, scale, offset)
	}
	op.wrt = []bool{true, true, true}
	op.diff = func(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
		back := newOp("bn_relu_dx", []int{4, 4, 1}, xs.Clone(), func(in []G.Value, out G.Value) error {
			k.Backward(f32s(in[0]), f32s(in[1]), f32s(in[2]), f32s(out))
			return nil
		})
		dx, err := apply(back, grad, output, inputs[1])
		if err != nil {
			return nil, err
		}
		// The parameter gradients come out of the same backward pass; these
		// ops hand them on, after it (they take dx as input for ordering).
		fetch := func(name string, get func() []float32) (*G.Node, error) {
			op := newOp(name, []int{4}, tensor.Shape{c}, func(_ []G.Value, out G.Value) error {
				copy(f32s(out), get())
				return nil
			})
			return apply(op, dx)
		}
		dscale, err := fetch("bn_dscale", k.ScaleGrad)
		if err != nil {
			return nil, err
		}
		doffset, err := fetch("bn_doffset", k.OffsetGrad)
		if err != nil {
			return nil, err
		}
		return G.Nodes{dx, dscale, doffset}, nil
	}
	return apply(op, x, scale, offset)
}

// reconcileNode resizes x to (C, H, W) with the primary-edge rule.
func reconcileNode(x *G.Node, c, h, w int, needDX bool) (*G.Node, error) {
	xs := x.Shape()
	k := kernels.NewReconcile(xs[0], xs[1], xs[2], xs[3], c, h, w)
	op := newOp("reconcile", []int{4}, tensor.Shape{xs[0], c, h, w}, func(in []G.Value, out G.Value) error {
		k.Forward(f32s(in[0]), f32s(out), xs[0])
		return nil
	})
	op.wrt = []bool{needDX}
	op.diff = func(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		if !needDX {
			return G.Nodes{nil}, nil
		}
		back := newOp("reconcile_dx", []int{4}, xs.Clone(), func(in []G.Value, out G.Value) error {
			k.Backward(f32s(in[0]), f32s(out))
			return nil
		})
		dx, err := apply(back, grad)
		return G.Nodes{dx}, err
	}
	return apply(op, x)
}

// sumNode adds same-shaped inputs; the gradient passes to each unchanged.
func sumNode(xs []*G.Node, need []bool) (*G.Node, error) {
	dims := make([]int, len(xs))
	for i := range dims {
		dims[i] = 4
	}
	op := newOp(fmt.Sprintf("sum%d", len(xs)), dims, xs[0].Shape().Clone(), func(in []G.Value, out G.Value) error {
		parts := make([][]float32, len(in))
		for i, v := range in {
			parts[i] = f32s(v)
		}
		kernels.Sum(f32s(out), parts...)
		return nil
	})
	op.wrt = need
	op.diff = func(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		out := make(G.Nodes, len(inputs))
		for i := range out {
			if need[i] {
				out[i] = grad
			}
		}
		return out, nil
	}
	return apply(op, xs...)
}

// gapNode is global average pooling: (B, C, H, W) -> (B, C).
func gapNode(x *G.Node, needDX bool) (*G.Node, error) {
	xs := x.Shape()
	bc, hw := xs[0]*xs[1], xs[2]*xs[3]
	op := newOp("gap", []int{4}, tensor.Shape{xs[0], xs[1]}, func(in []G.Value, out G.Value) error {
		kernels.GlobalAvgPool(f32s(in[0]), f32s(out), bc, hw)
		return nil
	})
	op.wrt = []bool{needDX}
	op.diff = func(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		if !needDX {
			return G.Nodes{nil}, nil
		}
		back := newOp("gap_dx", []int{2}, xs.Clone(), func(in []G.Value, out G.Value) error {
			kernels.GlobalAvgPoolBackward(f32s(in[0]), f32s(out), bc, hw)
			return nil
		})
		dx, err := apply(back, grad)
		return G.Nodes{dx}, err
	}
	return apply(op, x)
}

// denseNode is the fully connected layer: x (B, C) w^T + bias, w (N, C).
func denseNode(x, w, bias *G.Node, needDX bool) (*G.Node, error) {
	b, c, n := x.Shape()[0], x.Shape()[1], w.Shape()[0]
	op := newOp("dense", []int{2, 2, 1}, tensor.Shape{b, n}, func(in []G.Value, out G.Value) error {
		kernels.Dense(f32s(in[0]), f32s(in[1]), f32s(in[2]), f32s(out), b, c, n)
		return nil
	})
	op.wrt = []bool{needDX, true, true}
	op.diff = func(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		part := func(name string, shape tensor.Shape, pick func(out []float32) (dx, dw, db []float32)) (*G.Node, error) {
			op := newOp(name, []int{2, 2, 2}, shape, func(in []G.Value, out G.Value) error {
				dx, dw, db := pick(f32s(out))
				kernels.DenseBackward(f32s(in[0]), f32s(in[1]), f32s(in[2]), dx, dw, db, b, c, n)
				return nil
			})
			return apply(op, inputs[0], inputs[1], grad)
		}
		var dx *G.Node
		var err error
		if needDX {
			if dx, err = part("dense_dx", tensor.Shape{b, c}, func(o []float32) ([]float32, []float32, []float32) { return o, nil, nil }); err != nil {
				return nil, err
			}
		}
		dw, err := part("dense_dw", tensor.Shape{n, c}, func(o []float32) ([]float32, []float32, []float32) { return nil, o, nil })
		if err != nil {
			return nil, err
		}
		db, err := part("dense_db", tensor.Shape{n}, func(o []float32) ([]float32, []float32, []float32) { return nil, nil, o })
		if err != nil {
			return nil, err
		}
		return G.Nodes{dx, dw, db}, nil
	}
	return apply(op, x, w, bias)
}

// lossNode is the mean softmax cross-entropy of logits (B, N) against the
// labels held in lb (class indices, filled by the trainer before each run).
func lossNode(logits *G.Node, lb *labels) (*G.Node, error) {
	b, n := logits.Shape()[0], logits.Shape()[1]
	probs := make([]float32, b*n)
	op := newOp("softmax_xent", []int{2}, nil, func(in []G.Value, out G.Value) error {
		loss := kernels.SoftmaxCrossEntropy(f32s(in[0]), lb.y, probs, b, n)
		*(out.(*G.F32)) = G.F32(loss)
		return nil
	})
	op.wrt = []bool{true}
	op.diff = func(_ G.Nodes, output, grad *G.Node) (G.Nodes, error) {
		back := newOp("softmax_xent_dx", []int{0, 0}, tensor.Shape{b, n}, func(in []G.Value, out G.Value) error {
			kernels.SoftmaxCrossEntropyBackward(probs, lb.y, f32s(out), b, n, f32s(in[1])[0])
			return nil
		})
		d, err := apply(back, output, grad)
		return G.Nodes{d}, err
	}
	return apply(op, logits)
}

// labels holds the class indices of the batch being run.
type labels struct{ y []int32 }

// bnState is a BN_RELU vertex's running statistics, shared by the training
// and the evaluation graphs of one network.
type bnState struct {
	mean, variance []float32
	momentum, eps  float32
}
