package kernels

import (
	"math"

	"gonum.org/v1/gonum/blas"
)

// Reconcile resizes a (B, C1, H1, W1) activation to (B, C, H, W): spatially
// by nearest-neighbour interpolation (source index floor(i*H1/H) in exact
// integer arithmetic; PyTorch's F.interpolate "nearest" multiplies by a
// float scale and picks another row for some sizes, so the cross-check
// selects indices explicitly), channel-wise by truncation or zero padding. It is
// how a vertex's non-primary inputs are made to fit its primary one.
type Reconcile struct {
	B, C1, H1, W1 int
	C, H, W       int
	rows, cols    []int
}

// NewReconcile returns the kernel for the given input and output shapes.
func NewReconcile(b, c1, h1, w1, c, h, w int) *Reconcile {
	r := &Reconcile{B: b, C1: c1, H1: h1, W1: w1, C: c, H: h, W: w, rows: make([]int, h), cols: make([]int, w)}
	for i := range h {
		r.rows[i] = i * h1 / h
	}
	for j := range w {
		r.cols[j] = j * w1 / w
	}
	return r
}

// Forward writes the reconciled x into out.
func (r *Reconcile) Forward(x, out []float32, batch int) {
	cc := min(r.C, r.C1)
	for b := range batch {
		for c := range r.C {
			dst := out[((b*r.C)+c)*r.H*r.W:][:r.H*r.W]
			if c >= cc {
				clear(dst)
				continue
			}
			src := x[((b*r.C1)+c)*r.H1*r.W1:][:r.H1*r.W1]
			for i, si := range r.rows {
				row := src[si*r.W1:][:r.W1]
				d := dst[i*r.W:][:r.W]
				for j, sj := range r.cols {
					d[j] = row[sj]
				}
			}
		}
	}
}

// Backward writes the gradient with respect to x, overwriting dx.
func (r *Reconcile) Backward(dout, dx []float32) {
	clear(dx)
	cc := min(r.C, r.C1)
	for b := range r.B {
		for c := range cc {
			src := dout[((b*r.C)+c)*r.H*r.W:][:r.H*r.W]
			dst := dx[((b*r.C1)+c)*r.H1*r.W1:][:r.H1*r.W1]
			for i, si := range r.rows {
				d := dst[si*r.W1:][:r.W1]
				s := src[i*r.W:][:r.W]
				for j, sj := range r.cols {
					d[sj] += s[j]
				}
			}
		}
	}
}

// Sum writes the element-wise sum of xs into out.
func Sum(out []float32, xs ...[]float32) {
	copy(out, xs[0])
	for _, x := range xs[1:] {
		for i, v := range x[:len(out)] {
			out[i] += v
		}
	}
}

// GlobalAvgPool averages each (b, c) plane of HW values: (B, C, HW) -> (B, C).
func GlobalAvgPool(x, out []float32, bc, hw int) {
	inv := 1 / float32(hw)
	for i := range bc {
		var s float32
		for _, v := range x[i*hw:][:hw] {
			s += v
		}
		out[i] = s * inv
	}
}

// GlobalAvgPoolBackward spreads each (b, c) gradient evenly over its plane.
func GlobalAvgPoolBackward(dout, dx []float32, bc, hw int) {
	inv := 1 / float32(hw)
	for i := range bc {
		g := dout[i] * inv
		plane := dx[i*hw:][:hw]
		for j := range plane {
			plane[j] = g
		}
	}
}

// Dense computes out (B, N) = x (B, C) w^T + bias, with w stored (N, C) as
// PyTorch's Linear.
func Dense(x, w, bias, out []float32, b, c, n int) {
	for i := range b {
		copy(out[i*n:(i+1)*n], bias)
	}
	gemm(blas.NoTrans, blas.Trans, b, n, c, x, c, w, c, 1, out, n)
}

// DenseBackward computes dx = dout w, dw = dout^T x and dbias = column sums
// of dout, overwriting them; a nil destination is skipped.
func DenseBackward(x, w, dout, dx, dw, dbias []float32, b, c, n int) {
	if dx != nil {
		gemm(blas.NoTrans, blas.NoTrans, b, c, n, dout, n, w, c, 0, dx, c)
	}
	if dw != nil {
		gemm(blas.Trans, blas.NoTrans, n, c, b, dout, n, x, c, 0, dw, c)
	}
	if dbias != nil {
		clear(dbias)
		for i := range b {
			for j, v := range dout[i*n : (i+1)*n] {
				dbias[j] += v
			}
		}
	}
}

// SoftmaxCrossEntropy returns the mean cross-entropy of logits (B, N)
// against integer labels, and writes the softmax probabilities into probs.
func SoftmaxCrossEntropy(logits []float32, labels []int32, probs []float32, b, n int) float64 {
	var loss float64
	for i := range b {
		row, p := logits[i*n:(i+1)*n], probs[i*n:(i+1)*n]
		m := row[0]
		for _, v := range row[1:] {
			m = max(m, v)
		}
		var z float64
		for j, v := range row {
			e := math.Exp(float64(v - m))
			p[j] = float32(e)
			z += e
		}
		inv := 1 / z
		for j := range p {
			p[j] = float32(float64(p[j]) * inv)
		}
		loss -= float64(row[labels[i]]-m) - math.Log(z)
	}
	return loss / float64(b)
}

// SoftmaxCrossEntropyBackward writes dlogits = scale*(probs - onehot)/B.
func SoftmaxCrossEntropyBackward(probs []float32, labels []int32, dlogits []float32, b, n int, scale float32) {
	f := scale / float32(b)
	for i := range b {
		p, d := probs[i*n:(i+1)*n], dlogits[i*n:(i+1)*n]
		for j, v := range p {
			d[j] = f * v
		}
		d[labels[i]] -= f
	}
}
