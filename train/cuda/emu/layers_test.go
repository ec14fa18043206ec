//go:build cgo

package emu

import (
	"math"
	"testing"

	"github.com/evoswarm/evoswarm/train/device"
	"github.com/evoswarm/evoswarm/train/kernels"
)

// The training engine's operations composed from the device's kernels and
// Gemm, as the GPU backend runs them on CNHW activations, against the CPU
// kernels of train/kernels (NCHW), which are the reference arithmetic.

// ones returns a buffer of n ones, the vector a per-channel sum is a GEMM
// with.
func ones(t *testing.T, d *Device, n int) device.Buf {
	b := mk(t, d, n)
	d.Fill(b, n, 1)
	return b
}

// rowSums writes the sums of the rows of the c x p matrix x into s (c).
func rowSums(d *Device, x device.Buf, c, p int, one, s device.Buf) {
	d.Gemm(false, false, c, 1, p, 1, x, p, one, 1, 0, s, 1)
}

func TestConvAgainstKernels(t *testing.T) {
	d := newDev(t)
	r := newRand(20)
	const B, cin, h, w, cout = 3, 4, 7, 6, 5
	for _, k := range []int{1, 3, 5} {
		for _, stride := range []int{1, 2} {
			for _, nb := range []int{B, 2} { // the whole batch, or chunks of 2 (2 + 1)
				what := name("conv %dx%d stride %d chunks of %d", k, k, stride, nb)
				cv := kernels.NewConv(B, cin, h, w, cout, k, k, stride, 2)
				g := device.ConvGeom{N: B, C: cin, H: h, W: w, KH: k, KW: k, Stride: stride,
					PadH: cv.PadH, PadW: cv.PadW, OH: cv.OH, OW: cv.OW}
				ohw, K := g.OH*g.OW, g.K()

				x0 := uniform(r, B*cin*h*w, -1, 1)
				w0 := uniform(r, cout*K, -0.5, 0.5)
				dout0 := uniform(r, B*cout*ohw, -1, 1)
				wantOut := make([]float32, B*cout*ohw)
				cv.Forward(x0, w0, wantOut)
				wantDx := make([]float32, len(x0))
				cv.BackwardData(w0, dout0, wantDx)
				wantDw := make([]float32, len(w0))
				cv.BackwardFilter(x0, dout0, wantDw)

				// The input arrives NCHW and is turned to CNHW on the device.
				xn, x := up(t, d, x0), mk(t, d, len(x0))
				d.ToCNHW(xn, x, B, cin, h*w)
				wb := up(t, d, w0)
				dout := up(t, d, toCNHW(dout0, B, cout, ohw))
				out, dx, dw := mk(t, d, B*cout*ohw), mk(t, d, len(x0)), mk(t, d, len(w0))
				cols := mk(t, d, K*nb*ohw)
				for n0 := 0; n0 < B; n0 += nb {
					m := min(nb, B-n0)
					// The chunk's columns of out and dout: rows of
					// B*ohw values, from column n0*ohw.
					outv := d.View(out, n0*ohw, out.Len()-n0*ohw)
					doutv := d.View(dout, n0*ohw, dout.Len()-n0*ohw)

					d.Im2col(x, cols, g, n0, m)
					// out (cout x m*ohw) = w (cout x K) cols (K x m*ohw)
					d.Gemm(false, false, cout, m*ohw, K, 1, wb, K, cols, m*ohw, 0, outv, B*ohw)
					// dw (cout x K) += dout (cout x m*ohw) cols^T
					beta := float32(1)
					if n0 == 0 {
						beta = 0
					}
					d.Gemm(false, true, cout, K, m*ohw, 1, doutv, B*ohw, cols, m*ohw, beta, dw, K)
					// cols (K x m*ohw) = w^T dout; dx += col2im(cols)
					d.Gemm(true, false, K, m*ohw, cout, 1, wb, K, doutv, B*ohw, 0, cols, m*ohw)
					d.Col2im(cols, dx, g, n0, m)
				}
				near(t, what+" forward", toNCHW(down(t, d, out), B, cout, ohw), wantOut, 1e-4)
				near(t, what+" backward data", toNCHW(down(t, d, dx), B, cin, h*w), wantDx, 1e-4)
				near(t, what+" backward filter", down(t, d, dw), wantDw, 1e-4)
			}
		}
	}
}

func TestBatchNormAgainstKernels(t *testing.T) {
	d := newDev(t)
	r := newRand(21)
	for _, s := range [][3]int{{3, 5, 42}, {8, 3, 1}, {1, 2, 9}} {
		B, c, hw := s[0], s[1], s[2]
		p := B * hw
		const momentum, eps = 0.1, 1e-5
		what := name("batch norm B=%d C=%d HW=%d", B, c, hw)
		x0 := uniform(r, B*c*hw, -1, 1)
		for i := range x0 { // channel means away from zero
			x0[i] = 3*x0[i] + float32((i/hw)%c) - 1
		}
		scale0, offset0 := uniform(r, c, 0.5, 1.5), uniform(r, c, -0.3, 0.3)
		rm0, rv0 := uniform(r, c, -1, 1), uniform(r, c, 0.5, 2)
		dy0 := uniform(r, B*c*hw, -1, 1)

		bn := kernels.NewBatchNorm(B, c, hw, momentum, eps, 2)
		wantRM, wantRV := append([]float32(nil), rm0...), append([]float32(nil), rv0...)
		wantY := make([]float32, len(x0))
		bn.ForwardTrain(x0, scale0, offset0, wantRM, wantRV, wantY)
		wantDx := make([]float32, len(x0))
		bn.Backward(dy0, wantY, scale0, wantDx)
		wantInfer := make([]float32, len(x0))
		bn.ForwardInfer(x0, scale0, offset0, wantRM, wantRV, wantInfer, B)

		x := up(t, d, toCNHW(x0, B, c, hw))
		scale, offset := up(t, d, scale0), up(t, d, offset0)
		rm, rv := up(t, d, rm0), up(t, d, rv0)
		one := ones(t, d, p)
		sum, sq, mean, inv := mk(t, d, c), mk(t, d, c), mk(t, d, c), mk(t, d, c)
		tmp, y := mk(t, d, c*p), mk(t, d, c*p)

		// Training forward: sums, squared deviations, statistics, BN-ReLU.
		rowSums(d, x, c, p, one, sum)
		d.BNCenterSq(x, sum, tmp, c, p)
		rowSums(d, tmp, c, p, one, sq)
		d.BNFinalize(sum, sq, mean, inv, rm, rv, c, p, momentum, eps)
		d.BNReLU(x, mean, inv, scale, offset, y, c, p)
		near(t, what+" forward", toNCHW(down(t, d, y), B, c, hw), wantY, 1e-4)
		near(t, what+" running mean", down(t, d, rm), wantRM, 1e-4)
		near(t, what+" running variance", down(t, d, rv), wantRV, 1e-4)

		// Backward: ReLU mask and x-hat products, their sums, then dx
		// (accumulated onto zero).
		g1, g2, dScale, dOffset := mk(t, d, c*p), mk(t, d, c*p), mk(t, d, c), mk(t, d, c)
		dx := mk(t, d, c*p)
		d.BNBackwardPrep(up(t, d, toCNHW(dy0, B, c, hw)), y, x, mean, inv, g1, g2, c, p)
		rowSums(d, g2, c, p, one, dScale)
		rowSums(d, g1, c, p, one, dOffset)
		d.BNBackwardData(g1, x, mean, inv, scale, dScale, dOffset, dx, c, p)
		near(t, what+" scale gradient", down(t, d, dScale), bn.ScaleGrad(), 1e-4)
		near(t, what+" offset gradient", down(t, d, dOffset), bn.OffsetGrad(), 1e-4)
		near(t, what+" backward data", toNCHW(down(t, d, dx), B, c, hw), wantDx, 1e-4)

		// Inference with the running statistics just updated.
		d.BNInferStats(rv, inv, c, eps)
		d.BNReLU(x, rm, inv, scale, offset, y, c, p)
		near(t, what+" inference", toNCHW(down(t, d, y), B, c, hw), wantInfer, 1e-4)
	}
}

func TestReconcileAgainstKernels(t *testing.T) {
	d := newDev(t)
	r := newRand(22)
	const n = 2
	for _, s := range reconcileShapes {
		c1, h1, w1, c, h, w := s[0], s[1], s[2], s[3], s[4], s[5]
		what := name("reconcile %dx%dx%d -> %dx%dx%d", c1, h1, w1, c, h, w)
		rc := kernels.NewReconcile(n, c1, h1, w1, c, h, w)
		x0 := uniform(r, n*c1*h1*w1, -1, 1)
		dy0 := uniform(r, n*c*h*w, -1, 1)
		wantY := make([]float32, n*c*h*w)
		rc.Forward(x0, wantY, n)
		wantDx := make([]float32, len(x0))
		rc.Backward(dy0, wantDx)

		y, dx := mk(t, d, len(wantY)), mk(t, d, len(x0))
		d.Reconcile(up(t, d, toCNHW(x0, n, c1, h1*w1)), y, n, c1, h1, w1, c, h, w)
		d.ReconcileBackward(up(t, d, toCNHW(dy0, n, c, h*w)), dx, n, c1, h1, w1, c, h, w)
		exact(t, what+" forward", toNCHW(down(t, d, y), n, c, h*w), wantY)
		near(t, what+" backward", toNCHW(down(t, d, dx), n, c1, h1*w1), wantDx, 1e-6)
	}
}

// TestHeadAgainstKernels runs the classifier head: global average pooling
// (a GEMM with 1/hw), a dense layer (GEMM and AddBias), softmax
// cross-entropy, and back, with logits k classes x n samples on the device
// and n x k on the CPU.
func TestHeadAgainstKernels(t *testing.T) {
	d := newDev(t)
	r := newRand(23)
	const n, c, hw, k = 6, 8, 12, 10
	x0 := uniform(r, n*c*hw, -1, 2)
	w0, b0 := uniform(r, k*c, -1, 1), uniform(r, k, -0.5, 0.5)
	labels := make([]int32, n)
	for i := range labels {
		labels[i] = int32(r.IntN(k))
	}

	pooled := make([]float32, n*c)
	kernels.GlobalAvgPool(x0, pooled, n*c, hw)
	logits := make([]float32, n*k)
	kernels.Dense(pooled, w0, b0, logits, n, c, k)
	probs := make([]float32, n*k)
	wantLoss := kernels.SoftmaxCrossEntropy(logits, labels, probs, n, k)
	dlogits := make([]float32, n*k)
	kernels.SoftmaxCrossEntropyBackward(probs, labels, dlogits, n, k, 1)
	dpooled, dw, db := make([]float32, n*c), make([]float32, k*c), make([]float32, k)
	kernels.DenseBackward(pooled, w0, dlogits, dpooled, dw, db, n, c, k)
	dx := make([]float32, n*c*hw)
	kernels.GlobalAvgPoolBackward(dpooled, dx, n*c, hw)

	// transpose turns an a x b row-major matrix into b x a.
	transpose := func(m []float32, a, b int) []float32 {
		o := make([]float32, len(m))
		for i := range a {
			for j := range b {
				o[j*a+i] = m[i*b+j]
			}
		}
		return o
	}

	x := up(t, d, toCNHW(x0, n, c, hw))
	feat := mk(t, d, c*n) // c x n
	d.Gemm(false, false, c*n, 1, hw, 1/float32(hw), x, hw, ones(t, d, hw), 1, 0, feat, 1)
	near(t, "global average pool", transpose(down(t, d, feat), c, n), pooled, 1e-5)

	wb := up(t, d, w0)
	lg := mk(t, d, k*n)
	d.Gemm(false, false, k, n, c, 1, wb, c, feat, n, 0, lg, n)
	d.AddBias(lg, up(t, d, b0), k, n)
	near(t, "dense", transpose(down(t, d, lg), k, n), logits, 1e-5)

	loss, dlg := mk(t, d, n), mk(t, d, k*n)
	d.SoftmaxXent(lg, upInt32(t, d, labels), loss, dlg, k, n)
	var mean float64
	for _, v := range down(t, d, loss) {
		mean += float64(v) / n
	}
	if math.Abs(mean-wantLoss) > 1e-5*(1+math.Abs(wantLoss)) {
		t.Errorf("mean loss %.7g, want %.7g", mean, wantLoss)
	}
	near(t, "softmax cross-entropy gradient", transpose(down(t, d, dlg), k, n), dlogits, 1e-5)

	dwb, dbb, dfeat := mk(t, d, k*c), mk(t, d, k), mk(t, d, c*n)
	d.Gemm(false, true, k, c, n, 1, dlg, n, feat, n, 0, dwb, c)
	rowSums(d, dlg, k, n, ones(t, d, n), dbb)
	d.Gemm(true, false, c, n, k, 1, wb, c, dlg, n, 0, dfeat, n)
	near(t, "dense weight gradient", down(t, d, dwb), dw, 1e-4)
	near(t, "dense bias gradient", down(t, d, dbb), db, 1e-4)
	near(t, "dense input gradient", transpose(down(t, d, dfeat), c, n), dpooled, 1e-4)

	dxb := mk(t, d, c*n*hw)
	d.GAPBackward(dfeat, dxb, c*n, hw)
	near(t, "global average pool backward", toNCHW(down(t, d, dxb), n, c, hw), dx, 1e-4)
}

// TestChannelSum: per-row sums in float64, for rows shorter and longer than
// the number of parts, against a float64 reference; on a row whose float32
// running sum visibly drifts, the result is the float64 sum rounded once.
func TestChannelSum(t *testing.T) {
	d := newDev(t)
	for _, tc := range []struct{ c, p int }{{1, 1}, {3, 7}, {5, 1024}, {4, 1500}, {2, 200_000}} {
		r := newRand(uint64(tc.c*31 + tc.p))
		x := uniform(r, tc.c*tc.p, -1, 3)
		want := make([]float32, tc.c)
		for ch := range tc.c {
			var s float64
			for _, v := range x[ch*tc.p:][:tc.p] {
				s += float64(v)
			}
			want[ch] = float32(0.5 * s)
		}
		out := mk(t, d, tc.c)
		d.ChannelSum(up(t, d, x), mk(t, d, device.PartFloats(tc.c, tc.p)), out, tc.c, tc.p, 0.5)
		near(t, name("ChannelSum c=%d p=%d", tc.c, tc.p), down(t, d, out), want, 1e-6)
	}
}
