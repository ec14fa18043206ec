package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Finite-difference gradient checks. For a kernel y = f(x) and a fixed
// random r, the objective L = sum(y * r) has dL/dx = backward(r); each
// analytic gradient is compared with a central difference of L.

func randSlice(rng *rand.Rand, n int, scale float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64() * scale)
	}
	return s
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// checkGrad perturbs each of up to 40 random entries of x by ±h and checks
// (L(x+h)-L(x-h))/2h against analytic.
func checkGrad(t *testing.T, name string, x []float32, analytic []float32, objective func() float64) {
	t.Helper()
	const h = 1e-2
	rng := rand.New(rand.NewPCG(9, 9))
	n := min(40, len(x))
	worst := 0.0
	for range n {
		i := rng.IntN(len(x))
		orig := x[i]
		x[i] = orig + h
		lp := objective()
		x[i] = orig - h
		lm := objective()
		x[i] = orig
		num := (lp - lm) / (2 * h)
		err := math.Abs(num-float64(analytic[i])) / math.Max(1, math.Abs(num))
		worst = math.Max(worst, err)
		if err > 5e-3 {
			t.Errorf("%s: d/dx[%d]: analytic %.6g, numeric %.6g", name, i, analytic[i], num)
			return
		}
	}
	t.Logf("%s: worst relative error %.2g over %d entries", name, worst, n)
}

func TestConvGradients(t *testing.T) {
	for _, tc := range []struct{ b, cin, h, w, cout, kh, kw, stride int }{
		{2, 3, 7, 6, 4, 3, 3, 1},
		{2, 2, 8, 8, 3, 3, 3, 2},
		{3, 2, 5, 7, 2, 1, 3, 1},
		{2, 3, 6, 6, 2, 5, 3, 2},
		{2, 4, 5, 5, 3, 1, 1, 1}, // direct: no im2col
		{1, 1, 3, 3, 2, 7, 7, 4}, // filter and stride larger than the image
	} {
		name := fmt.Sprintf("conv b%d %dx%dx%d -> %d %dx%d/%d", tc.b, tc.cin, tc.h, tc.w, tc.cout, tc.kh, tc.kw, tc.stride)
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			k := NewConv(tc.b, tc.cin, tc.h, tc.w, tc.cout, tc.kh, tc.kw, tc.stride, 2)
			x := randSlice(rng, tc.b*tc.cin*tc.h*tc.w, 1)
			w := randSlice(rng, tc.cout*k.K(), 0.5)
			out := make([]float32, tc.b*tc.cout*k.OH*k.OW)
			r := randSlice(rng, len(out), 1)
			L := func() float64 { k.Forward(x, w, out); return dot(out, r) }
			dx := make([]float32, len(x))
			dw := make([]float32, len(w))
			k.BackwardData(w, r, dx)
			k.BackwardFilter(x, r, dw)
			checkGrad(t, "dx", x, dx, L)
			checkGrad(t, "dw", w, dw, L)
			// Against a naive convolution.
			k.Forward(x, w, out)
			for b := range tc.b {
				for co := range tc.cout {
					for oy := range k.OH {
						for ox := range k.OW {
							var s float64
							for ci := range tc.cin {
								for ky := range tc.kh {
									for kx := range tc.kw {
										iy, ix := oy*tc.stride+ky-k.PadH, ox*tc.stride+kx-k.PadW
										if iy >= 0 && iy < tc.h && ix >= 0 && ix < tc.w {
											s += float64(x[((b*tc.cin+ci)*tc.h+iy)*tc.w+ix]) * float64(w[((co*tc.cin+ci)*tc.kh+ky)*tc.kw+kx])
										}
									}
								}
							}
							got := out[((b*tc.cout+co)*k.OH+oy)*k.OW+ox]
							if math.Abs(float64(got)-s) > 1e-4*math.Max(1, math.Abs(s)) {
								t.Fatalf("out[%d,%d,%d,%d] = %g, naive %g", b, co, oy, ox, got, s)
							}
						}
					}
				}
			}
		})
	}
}

func TestBatchNormGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	b, c, hw := 4, 3, 5
	k := NewBatchNorm(b, c, hw, 0.1, 1e-3, 2)
	x := randSlice(rng, b*c*hw, 1.5)
	scale := randSlice(rng, c, 1)
	offset := randSlice(rng, c, 1)
	mean, variance := make([]float32, c), make([]float32, c)
	out := make([]float32, len(x))
	r := randSlice(rng, len(out), 1)
	L := func() float64 { k.ForwardTrain(x, scale, offset, mean, variance, out); return dot(out, r) }
	L()
	dx := make([]float32, len(x))
	k.Backward(r, out, scale, dx)
	ds := append([]float32(nil), k.ScaleGrad()...)
	do := append([]float32(nil), k.OffsetGrad()...)
	checkGrad(t, "bn dx", x, dx, L)
	checkGrad(t, "bn dscale", scale, ds, L)
	checkGrad(t, "bn doffset", offset, do, L)
}

func TestBatchNormStatistics(t *testing.T) {
	// One channel, values 1..4: mean 2.5, biased variance 1.25, unbiased 5/3.
	k := NewBatchNorm(2, 1, 2, 1, 0, 2)
	x := []float32{1, 2, 3, 4}
	mean, variance := []float32{0}, []float32{1}
	out := make([]float32, 4)
	k.ForwardTrain(x, []float32{1}, []float32{0}, mean, variance, out)
	if math.Abs(float64(mean[0])-2.5) > 1e-6 || math.Abs(float64(variance[0])-5.0/3) > 1e-6 {
		t.Errorf("running statistics with momentum 1: mean %g var %g, want 2.5 and 5/3", mean[0], variance[0])
	}
	inv := 1 / math.Sqrt(1.25)
	for i, v := range x {
		want := math.Max(0, (float64(v)-2.5)*inv)
		if math.Abs(float64(out[i])-want) > 1e-6 {
			t.Errorf("out[%d] = %g, want %g", i, out[i], want)
		}
	}
	// Inference uses the running statistics.
	k.ForwardInfer(x, []float32{2}, []float32{1}, []float32{1}, []float32{4}, out, 2)
	for i, v := range x {
		want := math.Max(0, 2*(float64(v)-1)/2+1)
		if math.Abs(float64(out[i])-want) > 1e-6 {
			t.Errorf("inference out[%d] = %g, want %g", i, out[i], want)
		}
	}
}

func TestReconcileGradients(t *testing.T) {
	for _, tc := range []struct{ c1, h1, w1, c, h, w int }{
		{3, 8, 8, 5, 4, 4}, // downsample, zero-pad channels
		{5, 7, 5, 2, 3, 3}, // odd downsample, truncate channels
		{2, 3, 3, 2, 7, 6}, // upsample
		{4, 6, 6, 4, 6, 6}, // same shape
	} {
		rng := rand.New(rand.NewPCG(5, 6))
		b := 2
		k := NewReconcile(b, tc.c1, tc.h1, tc.w1, tc.c, tc.h, tc.w)
		x := randSlice(rng, b*tc.c1*tc.h1*tc.w1, 1)
		out := make([]float32, b*tc.c*tc.h*tc.w)
		r := randSlice(rng, len(out), 1)
		L := func() float64 { k.Forward(x, out, b); return dot(out, r) }
		dx := make([]float32, len(x))
		k.Backward(r, dx)
		checkGrad(t, fmt.Sprintf("reconcile %v", tc), x, dx, L)
		// Nearest neighbour: out[i][j] = x[floor(i*h1/h)][floor(j*w1/w)].
		L()
		for i := range tc.h {
			for j := range tc.w {
				want := x[(i*tc.h1/tc.h)*tc.w1+j*tc.w1/tc.w]
				if out[i*tc.w+j] != want {
					t.Fatalf("%v: out[0,0,%d,%d] = %g, want %g", tc, i, j, out[i*tc.w+j], want)
				}
			}
		}
		if tc.c > tc.c1 {
			for _, v := range out[tc.c1*tc.h*tc.w : tc.c*tc.h*tc.w] {
				if v != 0 {
					t.Fatalf("%v: padded channel holds %g, want 0", tc, v)
				}
			}
		}
	}
}

func TestPoolDenseLossGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	b, c, hw, n := 3, 4, 6, 5
	x := randSlice(rng, b*c*hw, 1)
	pooled := make([]float32, b*c)
	r := randSlice(rng, b*c, 1)
	dx := make([]float32, len(x))
	GlobalAvgPoolBackward(r, dx, b*c, hw)
	checkGrad(t, "gap", x, dx, func() float64 { GlobalAvgPool(x, pooled, b*c, hw); return dot(pooled, r) })

	w := randSlice(rng, n*c, 1)
	bias := randSlice(rng, n, 1)
	out := make([]float32, b*n)
	r2 := randSlice(rng, b*n, 1)
	L := func() float64 { Dense(pooled, w, bias, out, b, c, n); return dot(out, r2) }
	dp, dw, db := make([]float32, len(pooled)), make([]float32, len(w)), make([]float32, n)
	DenseBackward(pooled, w, r2, dp, dw, db, b, c, n)
	checkGrad(t, "dense dx", pooled, dp, L)
	checkGrad(t, "dense dw", w, dw, L)
	checkGrad(t, "dense db", bias, db, L)

	logits := randSlice(rng, b*n, 2)
	lab := []int32{0, 3, 4}
	probs := make([]float32, b*n)
	dl := make([]float32, b*n)
	SoftmaxCrossEntropy(logits, lab, probs, b, n)
	SoftmaxCrossEntropyBackward(probs, lab, dl, b, n, 1)
	checkGrad(t, "softmax cross-entropy", logits, dl, func() float64 { return SoftmaxCrossEntropy(logits, lab, probs, b, n) })
}
