package kernels

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Conv is the geometry of a 2-D convolution with "same" padding and no bias:
// input (B, Cin, H, W), kernel (Cout, Cin, KH, KW), output (B, Cout, OH, OW)
// with OH = ceil(H/Stride). KH and KW are odd; padding is (K-1)/2.
type Conv struct {
	B, Cin, H, W int
	Cout, KH, KW int
	Stride       int
	OH, OW       int
	PadH, PadW   int
	// Workers is how many goroutines split the batch (at least 1).
	Workers         int
	direct          bool // a 1x1, stride-1 conv needs no im2col
	workspace       [][]float32
	filterGradParts [][]float32
}

// NewConv returns the geometry of a conv whose batch is split over workers
// goroutines, each with its own im2col workspace.
func NewConv(b, cin, h, w, cout, kh, kw, stride, workers int) *Conv {
	c := &Conv{
		B: b, Cin: cin, H: h, W: w, Cout: cout, KH: kh, KW: kw, Stride: stride, Workers: max(workers, 1),
		OH: (h + stride - 1) / stride, OW: (w + stride - 1) / stride,
		PadH: (kh - 1) / 2, PadW: (kw - 1) / 2,
	}
	c.direct = kh == 1 && kw == 1 && stride == 1
	return c
}

// K is the length of one im2col column: Cin*KH*KW.
func (c *Conv) K() int { return c.Cin * c.KH * c.KW }

// WorkspaceFloats is the scratch memory the conv holds, in floats.
func (c *Conv) WorkspaceFloats() int {
	if c.direct {
		return c.Workers * c.Cout * c.K()
	}
	return c.Workers * (c.K()*c.OH*c.OW + c.Cout*c.K())
}

// prepare sizes the per-worker workspace table before workers start: they
// fill in only their own entries (a table made lazily inside the workers
// was a data race).
func (c *Conv) prepare() {
	if len(c.workspace) < c.Workers {
		c.workspace = append(c.workspace, make([][]float32, c.Workers-len(c.workspace))...)
	}
}

func (c *Conv) col(worker int) []float32 {
	if c.workspace[worker] == nil {
		c.workspace[worker] = make([]float32, c.K()*c.OH*c.OW)
	}
	return c.workspace[worker]
}

// im2col lays out one image's receptive fields as a (K, OH*OW) matrix.
func (c *Conv) im2col(x, col []float32) {
	ohw := c.OH * c.OW
	for ci := range c.Cin {
		plane := x[ci*c.H*c.W : (ci+1)*c.H*c.W]
		for ky := range c.KH {
			for kx := range c.KW {
				row := col[((ci*c.KH+ky)*c.KW+kx)*ohw:][:ohw]
				k := 0
				for oy := range c.OH {
					iy := oy*c.Stride + ky - c.PadH
					if iy < 0 || iy >= c.H {
						clear(row[k : k+c.OW])
						k += c.OW
						continue
					}
					src := plane[iy*c.W : (iy+1)*c.W]
					for ox := range c.OW {
						ix := ox*c.Stride + kx - c.PadW
						if ix < 0 || ix >= c.W {
							row[k] = 0
						} else {
							row[k] = src[ix]
						}
						k++
					}
				}
			}
		}
	}
}

// col2im adds a (K, OH*OW) matrix of gradients back onto one image.
func (c *Conv) col2im(col, dx []float32) {
	ohw := c.OH * c.OW
	for ci := range c.Cin {
		plane := dx[ci*c.H*c.W : (ci+1)*c.H*c.W]
		for ky := range c.KH {
			for kx := range c.KW {
				row := col[((ci*c.KH+ky)*c.KW+kx)*ohw:][:ohw]
				k := 0
				for oy := range c.OH {
					iy := oy*c.Stride + ky - c.PadH
					if iy < 0 || iy >= c.H {
						k += c.OW
						continue
					}
					dst := plane[iy*c.W : (iy+1)*c.W]
					for ox := range c.OW {
						ix := ox*c.Stride + kx - c.PadW
						if ix >= 0 && ix < c.W {
							dst[ix] += row[k]
						}
						k++
					}
				}
			}
		}
	}
}

func gemm(tA, tB blas.Transpose, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	blas32.Implementation().Sgemm(tA, tB, m, n, k, 1, a, lda, b, ldb, beta, c, ldc)
}

// Forward computes out = conv(x, w).
func (c *Conv) Forward(x, w, out []float32) {
	c.prepare()
	in, o, ohw, k := c.Cin*c.H*c.W, c.Cout*c.OH*c.OW, c.OH*c.OW, c.K()
	parallel(c.Workers, c.B, func(worker, lo, hi int) {
		for b := lo; b < hi; b++ {
			col := x[b*in : (b+1)*in]
			if !c.direct {
				col = c.col(worker)
				c.im2col(x[b*in:(b+1)*in], col)
			}
			// out_b (Cout, OHW) = w (Cout, K) x col (K, OHW)
			gemm(blas.NoTrans, blas.NoTrans, c.Cout, ohw, k, w, k, col, ohw, 0, out[b*o:(b+1)*o], ohw)
		}
	})
}

// BackwardData computes dx = conv^T(dout, w), overwriting dx.
func (c *Conv) BackwardData(w, dout, dx []float32) {
	c.prepare()
	in, o, ohw, k := c.Cin*c.H*c.W, c.Cout*c.OH*c.OW, c.OH*c.OW, c.K()
	parallel(c.Workers, c.B, func(worker, lo, hi int) {
		for b := lo; b < hi; b++ {
			dxb := dx[b*in : (b+1)*in]
			if c.direct {
				gemm(blas.Trans, blas.NoTrans, k, ohw, c.Cout, w, k, dout[b*o:(b+1)*o], ohw, 0, dxb, ohw)
				continue
			}
			col := c.col(worker)
			// col (K, OHW) = w^T (K, Cout) x dout_b (Cout, OHW)
			gemm(blas.Trans, blas.NoTrans, k, ohw, c.Cout, w, k, dout[b*o:(b+1)*o], ohw, 0, col, ohw)
			clear(dxb)
			c.col2im(col, dxb)
		}
	})
}

// BackwardFilter computes dw = sum over the batch of dout_b x col_b^T,
// overwriting dw.
func (c *Conv) BackwardFilter(x, dout, dw []float32) {
	c.prepare()
	in, o, ohw, k := c.Cin*c.H*c.W, c.Cout*c.OH*c.OW, c.OH*c.OW, c.K()
	if len(c.filterGradParts) < c.Workers {
		c.filterGradParts = append(c.filterGradParts, make([][]float32, c.Workers-len(c.filterGradParts))...)
	}
	used := make([]bool, c.Workers)
	parallel(c.Workers, c.B, func(worker, lo, hi int) {
		part := dw
		if worker > 0 {
			if c.filterGradParts[worker] == nil {
				c.filterGradParts[worker] = make([]float32, len(dw))
			}
			part = c.filterGradParts[worker]
		}
		used[worker] = true
		for b := lo; b < hi; b++ {
			col := x[b*in : (b+1)*in]
			if !c.direct {
				col = c.col(worker)
				c.im2col(x[b*in:(b+1)*in], col)
			}
			beta := float32(1)
			if b == lo {
				beta = 0
			}
			// dw (Cout, K) += dout_b (Cout, OHW) x col^T (OHW, K)
			gemm(blas.NoTrans, blas.Trans, c.Cout, k, ohw, dout[b*o:(b+1)*o], ohw, col, ohw, beta, part, k)
		}
	})
	for wk := 1; wk < c.Workers; wk++ {
		if used[wk] {
			for i, v := range c.filterGradParts[wk] {
				dw[i] += v
			}
		}
	}
}
