/*
 * kernels.cu: the element-wise kernels of the GPU training backend.
 *
 * Each kernel implements one method of device.Kernels (train/device); the
 * doc comments there are the specification, and the CPU kernels of
 * train/kernels (NCHW) are the arithmetic these agree with: the same
 * nearest-neighbour rule for reconciling shapes, the same batch-norm
 * formulas (biased variance to normalise, unbiased for the running
 * variance, the ReLU mask taken from the output y > 0).
 *
 * Layout. Activations are CNHW: a tensor of N images of C channels of
 * H x W pixels is a C x (N*H*W) row-major matrix, so a channel's values
 * are contiguous and "p" (values per channel) is N*H*W.
 *
 * Shape of every kernel. Each is one-dimensional over a fixed number of
 * "work items" (stated in its comment) and walks them with a grid-stride
 * loop (EV_LOOP), so the launcher may use any grid and block size. Each
 * work item writes only its own outputs: there is no shared memory, no
 * __syncthreads and no atomics. Reductions over a channel (BN sums) are
 * two kernels, ev_chan_partial and ev_chan_finish, accumulating in double;
 * other reductions are a GEMM against a ones vector. Index arithmetic is
 * 64-bit.
 *
 * One source, three compilers:
 *   - nvcc (__CUDACC__ without clang's __CUDA__): the committed PTX;
 *   - clang in CUDA mode (__clang__ and __CUDA__), device-only, with
 *     -nocudainc -nocudalib: no CUDA headers and no libdevice, so the
 *     builtin variables come from __nvvm_read_ptx_sreg_* and exp/log from
 *     inline PTX;
 *   - a plain C compiler (neither): train/cuda/emu runs these very loops
 *     on the CPU to test them against train/kernels.
 * Keep the file self-contained: no CUDA headers, math.h only for C.
 */

#if defined(__clang__) && defined(__CUDA__)
/* ---- clang, CUDA mode (possibly without CUDA headers or libdevice) ---- */
#ifndef __global__
#define __global__ __attribute__((global))
#endif
#ifndef __device__
#define __device__ __attribute__((device))
#endif
#define EV_GLOBAL extern "C" __global__
#define EV_DEVICE static __device__ __inline__ __attribute__((always_inline))
#define EV_LOOP(i, total)                                                          \
	for (long long i = (long long)__nvvm_read_ptx_sreg_ctaid_x() *                  \
	                       __nvvm_read_ptx_sreg_ntid_x() +                          \
	                   __nvvm_read_ptx_sreg_tid_x();                                \
	     i < (long long)(total);                                                    \
	     i += (long long)__nvvm_read_ptx_sreg_ntid_x() * __nvvm_read_ptx_sreg_nctaid_x())
#ifdef __CUDA_ARCH__
/* exp(x) = 2^(x*log2(e)), log(x) = log2(x)*ln(2), with the PTX approximate
 * base-2 instructions (about 2 ulp; subnormals flushed to zero). */
EV_DEVICE float ev_exp(float x)
{
	float r;
	x *= 1.44269504088896340736f;
	asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
	return r;
}
EV_DEVICE float ev_log(float x)
{
	float r;
	asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
	return r * 0.69314718055994530942f;
}
/* Correctly rounded square root: sqrt.rn.f32. */
EV_DEVICE float ev_sqrt(float x)
{
	float r;
	asm("sqrt.rn.f32 %0, %1;" : "=f"(r) : "f"(x));
	return r;
}
#else /* clang's host-side pass over a CUDA file: never executed */
EV_DEVICE float ev_exp(float x) { return __builtin_expf(x); }
EV_DEVICE float ev_log(float x) { return __builtin_logf(x); }
EV_DEVICE float ev_sqrt(float x) { return __builtin_sqrtf(x); }
#endif
#define EV_NAN __builtin_nanf("")

#elif defined(__CUDACC__)
/* ---- nvcc ---- */
#define EV_GLOBAL extern "C" __global__
#define EV_DEVICE static __device__ __forceinline__
#define EV_LOOP(i, total)                                                          \
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;            \
	     i < (long long)(total); i += (long long)blockDim.x * gridDim.x)
EV_DEVICE float ev_exp(float x) { return expf(x); }
EV_DEVICE float ev_log(float x) { return logf(x); }
EV_DEVICE float ev_sqrt(float x) { return sqrtf(x); }
#define EV_NAN __int_as_float(0x7fffffff)

#else
/* ---- plain C on the CPU (train/cuda/emu) ---- */
#include <math.h>
#define EV_GLOBAL
#define EV_DEVICE static inline
#define EV_LOOP(i, total) for (long long i = 0; i < (long long)(total); i++)
EV_DEVICE float ev_exp(float x) { return expf(x); }
EV_DEVICE float ev_log(float x) { return logf(x); }
EV_DEVICE float ev_sqrt(float x) { return sqrtf(x); }
#define EV_NAN ((float)NAN)
#endif

/* ------------------------------------------------------------------------ */
/* Basic                                                                     */
/* ------------------------------------------------------------------------ */

/* ev_fill sets x[i] = v. Work items: n. */
EV_GLOBAL void ev_fill(float* x, int n, float v)
{
	EV_LOOP(i, n) { x[i] = v; }
}

/* ev_add computes y[i] += x[i]. Work items: n. */
EV_GLOBAL void ev_add(float* y, const float* x, int n)
{
	EV_LOOP(i, n) { y[i] += x[i]; }
}

/* ev_to_cnhw copies x (n images of c channels of hw values, NCHW) into y in
 * CNHW order: y[ch][img][s] = x[img][ch][s]. Work items: n*c*hw, one per
 * output value (so writes are contiguous). */
EV_GLOBAL void ev_to_cnhw(const float* x, float* y, int n, int c, int hw)
{
	long long nhw = (long long)n * hw;
	EV_LOOP(i, (long long)c * nhw)
	{
		long long ch = i / nhw;
		long long r = i - ch * nhw;
		long long img = r / hw;
		long long s = r - img * hw;
		y[i] = x[(img * c + ch) * hw + s];
	}
}

/* ------------------------------------------------------------------------ */
/* Convolution: im2col and its adjoint                                       */
/* ------------------------------------------------------------------------ */

/* ev_im2col lays out images n0..n0+nb-1 of x (CNHW, N images of C x H x W)
 * as the columns of cols, a (C*KH*KW) x (nb*OH*OW) row-major matrix:
 *   cols[(ci*KH+ky)*KW+kx][(img-n0)*OH*OW + oy*OW + ox]
 *     = x[ci][img][oy*stride+ky-padH][ox*stride+kx-padW],
 * zero where that pixel lies in the padding. The convolution of the chunk
 * is then W (Cout x C*KH*KW) times cols. Work items: C*KH*KW*nb*OH*OW, one
 * per element of cols. */
EV_GLOBAL void ev_im2col(const float* x, float* cols, int N, int C, int H, int W, int KH, int KW,
                         int stride, int padH, int padW, int OH, int OW, int n0, int nb)
{
	long long ohw = (long long)OH * OW;
	long long ld = (long long)nb * ohw; /* row length of cols */
	long long hw = (long long)H * W;
	long long khw = (long long)KH * KW;
	EV_LOOP(i, (long long)C * khw * ld)
	{
		long long row = i / ld;
		long long col = i - row * ld;
		long long ci = row / khw;
		long long kk = row - ci * khw;
		long long ky = kk / KW;
		long long kx = kk - ky * KW;
		long long img = col / ohw;
		long long q = col - img * ohw;
		long long oy = q / OW;
		long long ox = q - oy * OW;
		long long iy = oy * stride + ky - padH;
		long long ix = ox * stride + kx - padW;
		float v = 0.0f;
		if (iy >= 0 && iy < H && ix >= 0 && ix < W)
			v = x[(ci * N + n0 + img) * hw + iy * W + ix];
		cols[i] = v;
	}
}

/* ev_col2im is the adjoint of ev_im2col: it adds the columns of cols (laid
 * out as ev_im2col's) back into images n0..n0+nb-1 of dx (CNHW, N images):
 * dx += col2im(cols). It is written in gather form: each dx value sums,
 * over the filter taps (ky, kx) in order, the cols entries that im2col
 * would have read from it, and adds that sum to what dx holds. Work items:
 * C*nb*H*W, one per dx value of the chunk. */
EV_GLOBAL void ev_col2im(const float* cols, float* dx, int N, int C, int H, int W, int KH, int KW,
                         int stride, int padH, int padW, int OH, int OW, int n0, int nb)
{
	long long ohw = (long long)OH * OW;
	long long ld = (long long)nb * ohw;
	long long hw = (long long)H * W;
	long long nbhw = (long long)nb * hw;
	EV_LOOP(i, (long long)C * nbhw)
	{
		long long ci = i / nbhw;
		long long r = i - ci * nbhw;
		long long img = r / hw;
		long long s = r - img * hw;
		long long y = s / W;
		long long x = s - y * W;
		float sum = 0.0f;
		for (long long ky = 0; ky < KH; ky++) {
			long long ty = y + padH - ky; /* = oy*stride */
			if (ty < 0 || ty % stride != 0)
				continue;
			long long oy = ty / stride;
			if (oy >= OH)
				continue;
			for (long long kx = 0; kx < KW; kx++) {
				long long tx = x + padW - kx; /* = ox*stride */
				if (tx < 0 || tx % stride != 0)
					continue;
				long long ox = tx / stride;
				if (ox >= OW)
					continue;
				sum += cols[((ci * KH + ky) * KW + kx) * ld + img * ohw + oy * OW + ox];
			}
		}
		dx[(ci * N + n0 + img) * hw + s] += sum;
	}
}

/* ------------------------------------------------------------------------ */
/* Batch normalisation (+ ReLU)                                              */
/* ------------------------------------------------------------------------ */

/* ev_bn_center_sq writes t = (x - mean)^2 with mean = sum[ch]/p, for c
 * channels of p values; summed per channel by the caller, it gives the
 * squared deviations for the variance (two-pass, no cancellation). Work
 * items: c*p. */
EV_GLOBAL void ev_bn_center_sq(const float* x, const float* sum, float* t, int c, int p)
{
	EV_LOOP(i, (long long)c * p)
	{
		long long ch = i / p;
		float d = x[i] - sum[ch] / (float)p;
		t[i] = d * d;
	}
}

/* ev_bn_finalize turns, per channel, the sum of p values and the sum of
 * their squared deviations (sq) into
 *   mean   = sum/p
 *   invstd = 1/sqrt(sq/p + eps)                  (biased variance)
 * and moves the running statistics towards the batch's:
 *   run_mean = (1-momentum)*run_mean + momentum*mean
 *   run_var  = (1-momentum)*run_var  + momentum*sq/(p-1)   (unbiased; sq/p
 *                                                           when p == 1)
 * Work items: c. */
EV_GLOBAL void ev_bn_finalize(const float* sum, const float* sq, float* mean, float* invstd,
                              float* run_mean, float* run_var, int c, int p, float momentum,
                              float eps)
{
	EV_LOOP(ch, c)
	{
		float m = sum[ch] / (float)p;
		float var = sq[ch] / (float)p;
		float unbiased = p > 1 ? sq[ch] / (float)(p - 1) : var;
		mean[ch] = m;
		invstd[ch] = 1.0f / ev_sqrt(var + eps);
		run_mean[ch] = (1.0f - momentum) * run_mean[ch] + momentum * m;
		run_var[ch] = (1.0f - momentum) * run_var[ch] + momentum * unbiased;
	}
}

/* ev_bn_infer_stats writes invstd = 1/sqrt(run_var + eps), for inference
 * with the running statistics. Work items: c. */
EV_GLOBAL void ev_bn_infer_stats(const float* run_var, float* invstd, int c, float eps)
{
	EV_LOOP(ch, c) { invstd[ch] = 1.0f / ev_sqrt(run_var[ch] + eps); }
}

/* ev_bn_relu writes y = max(0, scale*xhat + offset), xhat = (x-mean)*invstd,
 * per channel (a NaN passes through, as in train/kernels). Work items:
 * c*p. */
EV_GLOBAL void ev_bn_relu(const float* x, const float* mean, const float* invstd,
                          const float* scale, const float* offset, float* y, int c, int p)
{
	EV_LOOP(i, (long long)c * p)
	{
		long long ch = i / p;
		float h = (x[i] - mean[ch]) * invstd[ch];
		float v = scale[ch] * h + offset[ch];
		if (v < 0.0f)
			v = 0.0f;
		y[i] = v;
	}
}

/* ev_bn_backward_prep writes g1 = dy where the output y > 0 (else 0), the
 * gradient through the ReLU, and g2 = g1*xhat with xhat = (x-mean)*invstd.
 * Their per-channel sums (by the caller) are dOffset and dScale. Work
 * items: c*p. */
EV_GLOBAL void ev_bn_backward_prep(const float* dy, const float* y, const float* x,
                                   const float* mean, const float* invstd, float* g1, float* g2,
                                   int c, int p)
{
	EV_LOOP(i, (long long)c * p)
	{
		long long ch = i / p;
		float g = y[i] > 0.0f ? dy[i] : 0.0f;
		g1[i] = g;
		g2[i] = g * ((x[i] - mean[ch]) * invstd[ch]);
	}
}

/* ev_bn_backward_data adds the gradient through batch norm to dx:
 *   dx += scale*invstd/p * (p*g1 - doffset - xhat*dscale),
 * xhat = (x-mean)*invstd, with dscale and doffset the per-channel sums of
 * g2 and g1. Work items: c*p. */
EV_GLOBAL void ev_bn_backward_data(const float* g1, const float* x, const float* mean,
                                   const float* invstd, const float* scale, const float* dscale,
                                   const float* doffset, float* dx, int c, int p)
{
	float fp = (float)p;
	EV_LOOP(i, (long long)c * p)
	{
		long long ch = i / p;
		float f = scale[ch] * invstd[ch] / fp;
		float h = (x[i] - mean[ch]) * invstd[ch];
		dx[i] += f * (fp * g1[i] - doffset[ch] - h * dscale[ch]);
	}
}

/* ------------------------------------------------------------------------ */
/* Reconciling shapes                                                        */
/* ------------------------------------------------------------------------ */

/* ev_reconcile writes x (c1 channels of n images of h1 x w1, CNHW) resized
 * to c channels of h x w into y (CNHW): output pixel (i, j) copies source
 * row floor(i*h1/h) and column floor(j*w1/w) (exact integer arithmetic, as
 * train/kernels.Reconcile); channels beyond c1 are zero, channels beyond c
 * dropped. Every y value is written. Work items: c*n*h*w. */
EV_GLOBAL void ev_reconcile(const float* x, float* y, int n, int c1, int h1, int w1, int c, int h,
                            int w)
{
	long long hw = (long long)h * w;
	long long nhw = (long long)n * hw;
	long long hw1 = (long long)h1 * w1;
	EV_LOOP(i, (long long)c * nhw)
	{
		long long ch = i / nhw;
		float v = 0.0f;
		if (ch < c1) {
			long long r = i - ch * nhw;
			long long img = r / hw;
			long long s = r - img * hw;
			long long oi = s / w;
			long long oj = s - oi * w;
			long long si = oi * h1 / h;
			long long sj = oj * w1 / w;
			v = x[(ch * n + img) * hw1 + si * w1 + sj];
		}
		y[i] = v;
	}
}

/* ev_reconcile_backward adds ev_reconcile's gradient to dx (c1 channels of
 * n images of h1 x w1): each source pixel (si, sj) of a kept channel gets
 * the sum of dy over the outputs that copied it, rows i in
 * [ceil(si*h/h1), ceil((si+1)*h/h1)) and columns j in
 * [ceil(sj*w/w1), ceil((sj+1)*w/w1)) (those with floor(i*h1/h) == si; the
 * range is empty for sources no output copied). Gather form, summed row by
 * row as train/kernels does. Channels of dx beyond c are left as they are.
 * Work items: min(c,c1)*n*h1*w1. */
EV_GLOBAL void ev_reconcile_backward(const float* dy, float* dx, int n, int c1, int h1, int w1,
                                     int c, int h, int w)
{
	long long cc = c < c1 ? c : c1;
	long long hw = (long long)h * w;
	long long hw1 = (long long)h1 * w1;
	long long nhw1 = (long long)n * hw1;
	EV_LOOP(k, cc * nhw1)
	{
		long long ch = k / nhw1;
		long long r = k - ch * nhw1;
		long long img = r / hw1;
		long long s = r - img * hw1;
		long long si = s / w1;
		long long sj = s - si * w1;
		/* ceil(a/b) for a >= 0, b > 0 */
		long long i0 = (si * h + h1 - 1) / h1, i1 = ((si + 1) * h + h1 - 1) / h1;
		long long j0 = (sj * w + w1 - 1) / w1, j1 = ((sj + 1) * w + w1 - 1) / w1;
		const float* src = dy + (ch * n + img) * hw;
		float sum = 0.0f;
		for (long long i = i0; i < i1; i++)
			for (long long j = j0; j < j1; j++)
				sum += src[i * w + j];
		dx[(ch * n + img) * hw1 + s] += sum;
	}
}

/* ------------------------------------------------------------------------ */
/* Head: global average pooling, dense bias, softmax cross-entropy           */
/* ------------------------------------------------------------------------ */

/* ev_gap_backward spreads the gradient of a global average pool: for each
 * of rows rows (rows = c*n in CNHW) of hw values, dx += dg[row]/hw
 * (computed as dg[row] * (1/hw), as train/kernels does). Work items:
 * rows*hw. */
EV_GLOBAL void ev_gap_backward(const float* dg, float* dx, int rows, int hw)
{
	float inv = 1.0f / (float)hw;
	EV_LOOP(i, (long long)rows * hw) { dx[i] += dg[i / hw] * inv; }
}

/* ev_add_bias adds b[row] to each of the n values of each of rows rows of
 * y. Work items: rows*n. */
EV_GLOBAL void ev_add_bias(float* y, const float* b, int rows, int n)
{
	EV_LOOP(i, (long long)rows * n) { y[i] += b[i / n]; }
}

/* ev_softmax_xent takes logits as a k x n row-major matrix (column s is
 * sample s) and int32 labels; for each sample it writes
 *   loss[s]        = logsumexp(logits[:,s]) - logits[label,s]
 *   dlogits[j][s]  = (softmax_j - [j == label]) / n,
 * max-subtracted, accumulated in float. A label outside [0, k) gives NaN
 * loss and gradient for that sample. Work items: n, one per sample. */
EV_GLOBAL void ev_softmax_xent(const float* logits, const int* labels, float* loss,
                               float* dlogits, int k, int n)
{
	EV_LOOP(s, n)
	{
		const float* l = logits + s;
		float* d = dlogits + s;
		int label = labels[s];
		float f = 1.0f / (float)n;
		if (label < 0 || label >= k) {
			loss[s] = EV_NAN;
			for (long long j = 0; j < k; j++)
				d[j * n] = EV_NAN;
			continue;
		}
		float m = l[0];
		for (long long j = 1; j < k; j++)
			if (l[j * n] > m)
				m = l[j * n];
		float z = 0.0f;
		for (long long j = 0; j < k; j++)
			z += ev_exp(l[j * n] - m);
		loss[s] = ev_log(z) - (l[(long long)label * n] - m);
		float inv = 1.0f / z;
		for (long long j = 0; j < k; j++) {
			float g = f * (ev_exp(l[j * n] - m) * inv);
			if (j == label)
				g -= f;
			d[j * n] = g;
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Per-channel sums                                                          */
/* ------------------------------------------------------------------------ */

/* ev_chan_partial sums each of c rows of p values of x in k strided parts,
 * in double: part[j*c + ch] = sum of x[ch*p + t] for t = j, j+k, j+2k, ...
 * below p. Adjacent work items read adjacent values.
 * Work items: c*k. */
EV_GLOBAL void ev_chan_partial(const float* x, double* part, int c, int p, int k)
{
	EV_LOOP(i, (long long)c * k)
	{
		long long ch = i / k, j = i % k;
		const float* row = x + ch * (long long)p;
		double s = 0;
		for (long long t = j; t < p; t += k)
			s += row[t];
		part[j * c + ch] = s;
	}
}

/* ev_chan_finish adds up the k parts of each of c rows from
 * ev_chan_partial, in double, and writes alpha times the sum:
 * out[ch] = alpha * sum over j of part[j*c + ch].
 * Work items: c. */
EV_GLOBAL void ev_chan_finish(const double* part, float* out, int c, int k, float alpha)
{
	EV_LOOP(ch, c)
	{
		double s = 0;
		for (long long j = 0; j < k; j++)
			s += part[j * c + ch];
		out[ch] = (float)(alpha * s);
	}
}

/* ------------------------------------------------------------------------ */
/* Optimiser                                                                 */
/* ------------------------------------------------------------------------ */

/* ev_sgd applies one step of SGD with momentum and weight decay added to
 * the gradient, as torch.optim.SGD:
 *   d = g + decay*w;  v = momentum*v + d;  w -= lr*v.
 * Work items: n. */
EV_GLOBAL void ev_sgd(float* w, float* v, const float* g, int n, float lr, float momentum,
                      float decay)
{
	EV_LOOP(i, n)
	{
		float d = g[i] + decay * w[i];
		float vi = momentum * v[i] + d;
		v[i] = vi;
		w[i] -= lr * vi;
	}
}
