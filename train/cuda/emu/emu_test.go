//go:build cgo

package emu

import (
	"math"
	"testing"

	"github.com/evoswarm/evoswarm/train/device"
)

// Tests of each kernel, and of Gemm, against Go written here from
// device.go's specification. layers_test.go composes them into the
// training engine's operations and compares with train/kernels.

func TestFillAdd(t *testing.T) {
	d := newDev(t)
	r := newRand(1)
	x0 := uniform(r, 37, -1, 1)
	x := up(t, d, x0)
	d.Fill(d.View(x, 5, 20), 19, 2.5) // the last value of the view, and what is outside, stay
	want := append([]float32(nil), x0...)
	for i := 5; i < 24; i++ {
		want[i] = 2.5
	}
	exact(t, "Fill", down(t, d, x), want)

	a0, b0 := uniform(r, 1000, -1, 1), uniform(r, 1000, -1, 1)
	a, b := up(t, d, a0), up(t, d, b0)
	d.Add(d.View(a, 1, 999), d.View(b, 0, 999), 998)
	want = append([]float32(nil), a0...)
	for i := range 998 {
		want[1+i] = a0[1+i] + b0[i]
	}
	exact(t, "Add", down(t, d, a), want)
}

func TestToCNHW(t *testing.T) {
	d := newDev(t)
	r := newRand(2)
	for _, s := range [][3]int{{3, 4, 35}, {1, 5, 7}, {6, 1, 9}, {2, 3, 1}} {
		n, c, hw := s[0], s[1], s[2]
		x0 := uniform(r, n*c*hw, -1, 1)
		y := up(t, d, uniform(r, n*c*hw, 5, 6))
		d.ToCNHW(up(t, d, x0), y, n, c, hw)
		want := make([]float32, n*c*hw)
		for b := range n {
			for ch := range c {
				for s := range hw {
					want[ch*n*hw+b*hw+s] = x0[(b*c+ch)*hw+s]
				}
			}
		}
		exact(t, name("ToCNHW %v", s), down(t, d, y), want)
	}
}

func TestGemm(t *testing.T) {
	d := newDev(t)
	r := newRand(3)
	for _, sz := range [][3]int{{7, 5, 9}, {1, 13, 3}, {16, 1, 8}, {4, 6, 1}, {33, 17, 65}, {3, 4, 0}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				for _, beta := range []float32{0, 0.5, 1} {
					what := name("Gemm m=%d n=%d k=%d transA=%v transB=%v beta=%v", m, n, k, tA, tB, beta)
					const alpha = 0.75
					ar, ac := m, k
					if tA {
						ar, ac = k, m
					}
					br, bc := k, n
					if tB {
						br, bc = n, k
					}
					// Stored with leading dimensions wider than the
					// rows, at an offset inside a larger buffer.
					lda, ldb, ldc := ac+3, bc+2, n+4
					offA, offB, offC := 5, 2, 7
					spanA := max(0, (ar-1)*lda+ac)
					spanB := max(0, (br-1)*ldb+bc)
					spanC := (m-1)*ldc + n
					A0 := uniform(r, offA+spanA+3, -1, 1)
					B0 := uniform(r, offB+spanB+3, -1, 1)
					C0 := uniform(r, offC+spanC+3, -1, 1)
					if beta == 0 { // C is not read: NaN must not leak
						for i := range m {
							C0[offC+i*ldc] = float32(math.NaN())
						}
					}
					a, b, c := up(t, d, A0), up(t, d, B0), up(t, d, C0)
					// The views are as short as the matrices allow.
					d.Gemm(tA, tB, m, n, k, alpha, d.View(a, offA, spanA), lda, d.View(b, offB, spanB), ldb,
						beta, d.View(c, offC, spanC), ldc)
					want := append([]float32(nil), C0...)
					for i := range m {
						for j := range n {
							var s float64
							for p := range k {
								var av, bv float32
								if tA {
									av = A0[offA+p*lda+i]
								} else {
									av = A0[offA+i*lda+p]
								}
								if tB {
									bv = B0[offB+j*ldb+p]
								} else {
									bv = B0[offB+p*ldb+j]
								}
								s += float64(av) * float64(bv)
							}
							cv := float64(beta) * float64(C0[offC+i*ldc+j])
							if beta == 0 {
								cv = 0
							}
							want[offC+i*ldc+j] = float32(alpha*s + cv)
						}
					}
					got := down(t, d, c)
					near(t, what, got, want, 1e-5)
					// What lies outside the m x n matrix is untouched.
					for i := range got {
						q := i - offC
						if q < 0 || q >= spanC || q%ldc >= n {
							if math.Float32bits(got[i]) != math.Float32bits(C0[i]) {
								t.Errorf("%s: C[%d] outside the matrix changed", what, i)
								break
							}
						}
					}
				}
			}
		}
	}
}

// convGeoms are geometries for im2col and col2im: "same" and "valid"
// padding, strides 1 to 3, square and non-square filters, odd sizes.
var convGeoms = []device.ConvGeom{
	{N: 4, C: 3, H: 7, W: 5, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1},
	{N: 4, C: 3, H: 7, W: 5, KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1},
	{N: 3, C: 2, H: 9, W: 6, KH: 5, KW: 5, Stride: 2, PadH: 2, PadW: 2},
	{N: 3, C: 2, H: 9, W: 6, KH: 5, KW: 5, Stride: 1, PadH: 2, PadW: 2},
	{N: 3, C: 4, H: 5, W: 5, KH: 1, KW: 1, Stride: 1},
	{N: 3, C: 4, H: 7, W: 7, KH: 1, KW: 1, Stride: 2},
	{N: 2, C: 3, H: 6, W: 7, KH: 1, KW: 3, Stride: 1, PadW: 1},
	{N: 2, C: 2, H: 8, W: 7, KH: 3, KW: 3, Stride: 2}, // valid
	{N: 2, C: 2, H: 11, W: 10, KH: 5, KW: 5, Stride: 3, PadH: 2, PadW: 2},
	{N: 1, C: 1, H: 1, W: 1, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1}, // all but the centre is padding
}

func withOut(g device.ConvGeom) device.ConvGeom {
	g.OH = (g.H+2*g.PadH-g.KH)/g.Stride + 1
	g.OW = (g.W+2*g.PadW-g.KW)/g.Stride + 1
	return g
}

// chunks are the (n0, nb) image ranges to test for n images.
func chunks(n int) [][2]int {
	c := [][2]int{{0, n}, {n - 1, 1}}
	if n >= 3 {
		c = append(c, [2]int{1, n - 2})
	}
	return c
}

// im2colRef is Im2col's specification, on CNHW x.
func im2colRef(x []float32, g device.ConvGeom, n0, nb int) []float32 {
	ohw := g.OH * g.OW
	ld := nb * ohw
	cols := make([]float32, g.K()*ld)
	for ci := range g.C {
		for ky := range g.KH {
			for kx := range g.KW {
				row := (ci*g.KH+ky)*g.KW + kx
				for img := range nb {
					for oy := range g.OH {
						for ox := range g.OW {
							iy, ix := oy*g.Stride+ky-g.PadH, ox*g.Stride+kx-g.PadW
							if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
								cols[row*ld+img*ohw+oy*g.OW+ox] = x[(ci*g.N+n0+img)*g.H*g.W+iy*g.W+ix]
							}
						}
					}
				}
			}
		}
	}
	return cols
}

// col2imRef scatters cols back onto a zero CNHW tensor of g.N images.
func col2imRef(cols []float32, g device.ConvGeom, n0, nb int) []float32 {
	ohw := g.OH * g.OW
	ld := nb * ohw
	dx := make([]float32, g.C*g.N*g.H*g.W)
	for ci := range g.C {
		for ky := range g.KH {
			for kx := range g.KW {
				row := (ci*g.KH+ky)*g.KW + kx
				for img := range nb {
					for oy := range g.OH {
						for ox := range g.OW {
							iy, ix := oy*g.Stride+ky-g.PadH, ox*g.Stride+kx-g.PadW
							if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
								dx[(ci*g.N+n0+img)*g.H*g.W+iy*g.W+ix] += cols[row*ld+img*ohw+oy*g.OW+ox]
							}
						}
					}
				}
			}
		}
	}
	return dx
}

func TestIm2colCol2im(t *testing.T) {
	d := newDev(t)
	r := newRand(4)
	for _, g := range convGeoms {
		g = withOut(g)
		for _, ch := range chunks(g.N) {
			n0, nb := ch[0], ch[1]
			what := name("%+v n0=%d nb=%d", g, n0, nb)
			nx, nc := g.C*g.N*g.H*g.W, g.K()*nb*g.OH*g.OW
			x0 := uniform(r, nx, -1, 1)
			// cols starts as garbage: Im2col writes every value.
			cols := up(t, d, uniform(r, nc, 7, 8))
			d.Im2col(up(t, d, x0), cols, g, n0, nb)
			colsGot := down(t, d, cols)
			exact(t, "Im2col "+what, colsGot, im2colRef(x0, g, n0, nb))

			// Col2im adds onto what dx holds.
			c0 := uniform(r, nc, -1, 1)
			dx0 := uniform(r, nx, -1, 1)
			dx := up(t, d, dx0)
			d.Col2im(up(t, d, c0), dx, g, n0, nb)
			dxGot := down(t, d, dx)
			near(t, "Col2im "+what, dxGot, plus(dx0, col2imRef(c0, g, n0, nb)), 1e-6)

			// Col2im is Im2col's adjoint: <im2col(x), c> = <x, col2im(c)>.
			var lhs, rhs float64
			for i, v := range colsGot {
				lhs += float64(v) * float64(c0[i])
			}
			for i := range x0 {
				rhs += float64(x0[i]) * float64(dxGot[i]-dx0[i])
			}
			if math.Abs(lhs-rhs) > 1e-4*(1+math.Abs(lhs)) {
				t.Errorf("%s: <im2col(x), c> = %g, <x, col2im(c)> = %g", what, lhs, rhs)
			}
		}
	}
}

func TestBNCenterSqFinalize(t *testing.T) {
	d := newDev(t)
	r := newRand(5)
	for _, p := range []int{1, 2, 7, 300} {
		const c = 5
		const momentum, eps = 0.1, 1e-5
		x0 := uniform(r, c*p, -2, 4)
		sum0 := make([]float32, c)
		for ch := range c {
			for _, v := range x0[ch*p:][:p] {
				sum0[ch] += v
			}
		}
		t0 := up(t, d, uniform(r, c*p, 7, 8))
		d.BNCenterSq(up(t, d, x0), up(t, d, sum0), t0, c, p)
		wantT := make([]float32, c*p)
		sq0 := make([]float32, c)
		for i, v := range x0 {
			m := float64(sum0[i/p]) / float64(p)
			dv := float64(v) - m
			wantT[i] = float32(dv * dv)
			sq0[i/p] += wantT[i]
		}
		near(t, name("BNCenterSq p=%d", p), down(t, d, t0), wantT, 1e-5)

		rm0, rv0 := uniform(r, c, -1, 1), uniform(r, c, 0.5, 2)
		mean, inv, rm, rv := mk(t, d, c), mk(t, d, c), up(t, d, rm0), up(t, d, rv0)
		d.BNFinalize(up(t, d, sum0), up(t, d, sq0), mean, inv, rm, rv, c, p, momentum, eps)
		wm, wi, wrm, wrv := make([]float32, c), make([]float32, c), make([]float32, c), make([]float32, c)
		for ch := range c {
			m := float64(sum0[ch]) / float64(p)
			v := float64(sq0[ch]) / float64(p)
			u := v
			if p > 1 {
				u = float64(sq0[ch]) / float64(p-1)
			}
			wm[ch] = float32(m)
			wi[ch] = float32(1 / math.Sqrt(v+eps))
			wrm[ch] = float32((1-momentum)*float64(rm0[ch]) + momentum*m)
			wrv[ch] = float32((1-momentum)*float64(rv0[ch]) + momentum*u)
		}
		what := name("BNFinalize p=%d", p)
		near(t, what+" mean", down(t, d, mean), wm, 1e-5)
		near(t, what+" invStd", down(t, d, inv), wi, 1e-5)
		near(t, what+" runMean", down(t, d, rm), wrm, 1e-5)
		near(t, what+" runVar", down(t, d, rv), wrv, 1e-5)

		d.BNInferStats(rv, inv, c, eps)
		for ch := range c {
			wi[ch] = float32(1 / math.Sqrt(float64(wrv[ch])+eps))
		}
		near(t, what+" BNInferStats", down(t, d, inv), wi, 1e-5)
	}
}

func TestBNReLUAndBackward(t *testing.T) {
	d := newDev(t)
	r := newRand(6)
	const c, p = 4, 50
	x0 := uniform(r, c*p, -2, 2)
	m0, i0 := uniform(r, c, -0.5, 0.5), uniform(r, c, 0.5, 2)
	s0, o0 := uniform(r, c, -1.5, 1.5), uniform(r, c, -0.5, 0.5)
	x, mean, inv, scale, off := up(t, d, x0), up(t, d, m0), up(t, d, i0), up(t, d, s0), up(t, d, o0)
	y := up(t, d, uniform(r, c*p, 7, 8))
	d.BNReLU(x, mean, inv, scale, off, y, c, p)
	wantY := make([]float32, c*p)
	for i, v := range x0 {
		ch := i / p
		wantY[i] = float32(max(0, float64(s0[ch])*(float64(v)-float64(m0[ch]))*float64(i0[ch])+float64(o0[ch])))
	}
	yGot := down(t, d, y)
	near(t, "BNReLU", yGot, wantY, 1e-5)
	zeros := 0
	for _, v := range yGot {
		if v == 0 {
			zeros++
		}
	}
	if zeros == 0 || zeros == len(yGot) {
		t.Fatalf("BNReLU: %d of %d outputs zero; the test needs both sides of the ReLU", zeros, len(yGot))
	}

	dy0 := uniform(r, c*p, -1, 1)
	g1, g2 := up(t, d, uniform(r, c*p, 7, 8)), up(t, d, uniform(r, c*p, 7, 8))
	d.BNBackwardPrep(up(t, d, dy0), y, x, mean, inv, g1, g2, c, p)
	w1, w2 := make([]float32, c*p), make([]float32, c*p)
	for i := range dy0 {
		ch := i / p
		if yGot[i] > 0 {
			w1[i] = dy0[i]
		}
		w2[i] = float32(float64(w1[i]) * (float64(x0[i]) - float64(m0[ch])) * float64(i0[ch]))
	}
	g1Got, g2Got := down(t, d, g1), down(t, d, g2)
	exact(t, "BNBackwardPrep g1", g1Got, w1)
	near(t, "BNBackwardPrep g2", g2Got, w2, 1e-5)

	ds0, do0 := uniform(r, c, -3, 3), uniform(r, c, -3, 3)
	dx0 := uniform(r, c*p, -1, 1)
	dx := up(t, d, dx0)
	d.BNBackwardData(g1, x, mean, inv, scale, up(t, d, ds0), up(t, d, do0), dx, c, p)
	want := make([]float32, c*p)
	for i := range want {
		ch := i / p
		xh := (float64(x0[i]) - float64(m0[ch])) * float64(i0[ch])
		f := float64(s0[ch]) * float64(i0[ch]) / p
		want[i] = float32(float64(dx0[i]) + f*(p*float64(g1Got[i])-float64(do0[ch])-xh*float64(ds0[ch])))
	}
	near(t, "BNBackwardData (accumulating)", down(t, d, dx), want, 1e-5)
}

// reconcileShapes are (c1, h1, w1) -> (c, h, w): growing, shrinking,
// non-integer ratios, channel padding and truncation.
var reconcileShapes = [][6]int{
	{3, 7, 7, 3, 3, 3},
	{3, 3, 3, 3, 7, 7},
	{2, 28, 28, 2, 14, 14},
	{2, 14, 14, 2, 28, 28},
	{2, 5, 5, 4, 5, 5},
	{5, 5, 5, 2, 5, 5},
	{3, 7, 5, 2, 3, 9},
	{2, 6, 4, 3, 4, 6},
	{1, 1, 1, 2, 4, 3},
	{2, 5, 7, 2, 1, 1},
}

func TestReconcile(t *testing.T) {
	d := newDev(t)
	r := newRand(7)
	const n = 3
	for _, s := range reconcileShapes {
		c1, h1, w1, c, h, w := s[0], s[1], s[2], s[3], s[4], s[5]
		what := name("Reconcile %dx%dx%d -> %dx%dx%d", c1, h1, w1, c, h, w)
		x0 := uniform(r, c1*n*h1*w1, -1, 1)
		y := up(t, d, uniform(r, c*n*h*w, 7, 8)) // every value is written
		d.Reconcile(up(t, d, x0), y, n, c1, h1, w1, c, h, w)
		want := make([]float32, c*n*h*w)
		for ch := range min(c, c1) {
			for b := range n {
				for i := range h {
					for j := range w {
						want[((ch*n+b)*h+i)*w+j] = x0[((ch*n+b)*h1+i*h1/h)*w1+j*w1/w]
					}
				}
			}
		}
		exact(t, what, down(t, d, y), want)

		// The backward pass adds onto dx; channels beyond c stay.
		dy0 := uniform(r, c*n*h*w, -1, 1)
		dx0 := uniform(r, c1*n*h1*w1, -1, 1)
		dx := up(t, d, dx0)
		d.ReconcileBackward(up(t, d, dy0), dx, n, c1, h1, w1, c, h, w)
		grad := make([]float32, len(dx0))
		for ch := range min(c, c1) {
			for b := range n {
				for i := range h {
					for j := range w {
						grad[((ch*n+b)*h1+i*h1/h)*w1+j*w1/w] += dy0[((ch*n+b)*h+i)*w+j]
					}
				}
			}
		}
		near(t, what+" backward", down(t, d, dx), plus(dx0, grad), 1e-6)
	}
}

func TestGAPBackwardAddBias(t *testing.T) {
	d := newDev(t)
	r := newRand(8)
	const rows, hw = 6, 49
	dg0, dx0 := uniform(r, rows, -1, 1), uniform(r, rows*hw, -1, 1)
	dx := up(t, d, dx0)
	d.GAPBackward(up(t, d, dg0), dx, rows, hw)
	want := make([]float32, rows*hw)
	for i := range want {
		want[i] = float32(float64(dx0[i]) + float64(dg0[i/hw])/hw)
	}
	near(t, "GAPBackward (accumulating)", down(t, d, dx), want, 1e-6)

	const n = 11
	y0, b0 := uniform(r, rows*n, -1, 1), uniform(r, rows, -1, 1)
	y := up(t, d, y0)
	d.AddBias(y, up(t, d, b0), rows, n)
	for i := range y0 {
		want[i] = y0[i] + b0[i/n]
	}
	exact(t, "AddBias", down(t, d, y), want[:rows*n])
}

func TestSoftmaxXent(t *testing.T) {
	d := newDev(t)
	r := newRand(9)
	const k, n = 10, 13
	l0 := uniform(r, k*n, -3, 3)
	l0[2*n+4], l0[7*n+4] = 60, -40 // max-subtraction keeps this finite
	l0[0*n+5] = 85
	labels := make([]int32, n)
	for i := range labels {
		labels[i] = int32(r.IntN(k))
	}
	labels[4], labels[5] = 2, 3
	loss, dl := mk(t, d, n), mk(t, d, k*n)
	d.SoftmaxXent(up(t, d, l0), upInt32(t, d, labels), loss, dl, k, n)
	wantLoss, wantD := make([]float32, n), make([]float32, k*n)
	for s := range n {
		m := math.Inf(-1)
		for j := range k {
			m = max(m, float64(l0[j*n+s]))
		}
		var z float64
		for j := range k {
			z += math.Exp(float64(l0[j*n+s]) - m)
		}
		wantLoss[s] = float32(m + math.Log(z) - float64(l0[int(labels[s])*n+s]))
		for j := range k {
			g := math.Exp(float64(l0[j*n+s])-m) / z
			if j == int(labels[s]) {
				g--
			}
			wantD[j*n+s] = float32(g / n)
		}
	}
	near(t, "SoftmaxXent loss", down(t, d, loss), wantLoss, 1e-5)
	near(t, "SoftmaxXent dLogits", down(t, d, dl), wantD, 1e-5)

	// A label out of range poisons its sample, and only it.
	labels[3] = k
	d.SoftmaxXent(up(t, d, l0), upInt32(t, d, labels), loss, dl, k, n)
	lg, dg := down(t, d, loss), down(t, d, dl)
	for s := range n {
		if math.IsNaN(float64(lg[s])) != (s == 3) || math.IsNaN(float64(dg[s])) != (s == 3) {
			t.Errorf("label %d of sample %d: loss %v, dLogits[0] %v", labels[s], s, lg[s], dg[s])
		}
	}
}

func TestSGD(t *testing.T) {
	d := newDev(t)
	r := newRand(10)
	const n = 257
	const lr, momentum, decay = 0.05, 0.9, 5e-4
	w0, v0, g0 := uniform(r, n, -1, 1), uniform(r, n, -1, 1), uniform(r, n, -1, 1)
	w, v := up(t, d, w0), up(t, d, v0)
	d.SGD(w, v, up(t, d, g0), n, lr, momentum, decay)
	ww, wv := make([]float32, n), make([]float32, n)
	for i := range n {
		dd := float64(g0[i]) + decay*float64(w0[i])
		vi := momentum*float64(v0[i]) + dd
		wv[i] = float32(vi)
		ww[i] = float32(float64(w0[i]) - lr*vi)
	}
	near(t, "SGD v", down(t, d, v), wv, 1e-6)
	near(t, "SGD w", down(t, d, w), ww, 1e-6)
}
