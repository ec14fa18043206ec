package kernels

import "math"

// BatchNorm is batch normalisation over (B, C, HW) followed by ReLU: the
// BN_RELU vertex. Scale and offset are per channel. Training mode
// normalises with the batch's statistics (biased variance) and updates the
// running statistics with the unbiased variance, as PyTorch does; inference
// mode uses the running statistics.
type BatchNorm struct {
	B, C, HW int
	Momentum float32 // weight of the new batch in the running averages (0.1 = decay 0.9)
	Eps      float32
	Workers  int       // goroutines that split the channels (at least 1)
	xhat     []float32 // saved normalised input, for backward
	invStd   []float32
	dscale   []float32
	doffset  []float32
}

// NewBatchNorm returns a BN-ReLU kernel for activations of shape (b, c, hw)
// whose channels are split over workers goroutines.
func NewBatchNorm(b, c, hw int, momentum, eps float32, workers int) *BatchNorm {
	return &BatchNorm{B: b, C: c, HW: hw, Momentum: momentum, Eps: eps, Workers: max(workers, 1)}
}

// WorkspaceFloats is the scratch memory the kernel holds in training, in floats.
func (k *BatchNorm) WorkspaceFloats() int { return k.B*k.C*k.HW + 3*k.C }

// ForwardTrain computes out = relu(scale*xhat + offset) with batch
// statistics, saves what backward needs, and updates runMean and runVar.
func (k *BatchNorm) ForwardTrain(x, scale, offset, runMean, runVar, out []float32) {
	if k.xhat == nil {
		k.xhat = make([]float32, k.B*k.C*k.HW)
		k.invStd = make([]float32, k.C)
	}
	n := float64(k.B * k.HW)
	parallel(k.Workers, k.C, func(_, lo, hi int) {
		for c := lo; c < hi; c++ {
			var sum float64
			for b := range k.B {
				for _, v := range x[(b*k.C+c)*k.HW:][:k.HW] {
					sum += float64(v)
				}
			}
			mean := sum / n
			var ss float64
			for b := range k.B {
				for _, v := range x[(b*k.C+c)*k.HW:][:k.HW] {
					d := float64(v) - mean
					ss += d * d
				}
			}
			variance := ss / n
			inv := 1 / math.Sqrt(variance+float64(k.Eps))
			k.invStd[c] = float32(inv)
			m := k.Momentum
			runMean[c] = (1-m)*runMean[c] + m*float32(mean)
			unbiased := variance
			if n > 1 {
				unbiased = ss / (n - 1)
			}
			runVar[c] = (1-m)*runVar[c] + m*float32(unbiased)
			g, o := scale[c], offset[c]
			mf, invf := float32(mean), float32(inv)
			for b := range k.B {
				off := (b*k.C + c) * k.HW
				xs, hs, os := x[off:][:k.HW], k.xhat[off:][:k.HW], out[off:][:k.HW]
				for i, v := range xs {
					h := (v - mf) * invf
					hs[i] = h
					y := g*h + o
					if y < 0 {
						y = 0
					}
					os[i] = y
				}
			}
		}
	})
}

// ForwardInfer computes out = relu(scale*(x-runMean)/sqrt(runVar+eps) + offset).
func (k *BatchNorm) ForwardInfer(x, scale, offset, runMean, runVar, out []float32, batch int) {
	parallel(k.Workers, k.C, func(_, lo, hi int) {
		for c := lo; c < hi; c++ {
			inv := float32(1 / math.Sqrt(float64(runVar[c])+float64(k.Eps)))
			a := scale[c] * inv
			bias := offset[c] - runMean[c]*a
			for b := range batch {
				off := (b*k.C + c) * k.HW
				xs, os := x[off:][:k.HW], out[off:][:k.HW]
				for i, v := range xs {
					y := a*v + bias
					if y < 0 {
						y = 0
					}
					os[i] = y
				}
			}
		}
	})
}

// Backward computes dx, and the gradients of scale and offset, from dout
// and the forward output out (for the ReLU mask). It must follow
// ForwardTrain on the same batch. The parameter gradients are kept until the
// next call; ScaleGrad and OffsetGrad return them.
func (k *BatchNorm) Backward(dout, out, scale, dx []float32) {
	if k.dscale == nil {
		k.dscale = make([]float32, k.C)
		k.doffset = make([]float32, k.C)
	}
	n := float32(k.B * k.HW)
	parallel(k.Workers, k.C, func(_, lo, hi int) {
		for c := lo; c < hi; c++ {
			var dg, db float64
			for b := range k.B {
				off := (b*k.C + c) * k.HW
				ds, os, hs := dout[off:][:k.HW], out[off:][:k.HW], k.xhat[off:][:k.HW]
				for i, d := range ds {
					if os[i] > 0 {
						dg += float64(d * hs[i])
						db += float64(d)
					}
				}
			}
			k.dscale[c], k.doffset[c] = float32(dg), float32(db)
			f := scale[c] * k.invStd[c] / n
			dgf, dbf := float32(dg), float32(db)
			for b := range k.B {
				off := (b*k.C + c) * k.HW
				ds, os, hs, dxs := dout[off:][:k.HW], out[off:][:k.HW], k.xhat[off:][:k.HW], dx[off:][:k.HW]
				for i, d := range ds {
					if os[i] <= 0 {
						d = 0
					}
					dxs[i] = f * (n*d - dbf - hs[i]*dgf)
				}
			}
		}
	})
}

// ScaleGrad returns the scale gradient of the last Backward.
func (k *BatchNorm) ScaleGrad() []float32 { return k.dscale }

// OffsetGrad returns the offset gradient of the last Backward.
func (k *BatchNorm) OffsetGrad() []float32 { return k.doffset }
