// Prototypes of the kernels in ../kernels.cu, as compiled for the CPU by
// emu_kernels.c (where the compiler checks them against the definitions).
#ifndef EVOSWARM_EMU_H
#define EVOSWARM_EMU_H

void ev_fill(float* x, int n, float v);
void ev_add(float* y, const float* x, int n);
void ev_to_cnhw(const float* x, float* y, int n, int c, int hw);
void ev_im2col(const float* x, float* cols, int N, int C, int H, int W, int KH, int KW,
               int stride, int padH, int padW, int OH, int OW, int n0, int nb);
void ev_col2im(const float* cols, float* dx, int N, int C, int H, int W, int KH, int KW,
               int stride, int padH, int padW, int OH, int OW, int n0, int nb);
void ev_bn_center_sq(const float* x, const float* sum, float* t, int c, int p);
void ev_bn_finalize(const float* sum, const float* sq, float* mean, float* invstd,
                    float* run_mean, float* run_var, int c, int p, float momentum, float eps);
void ev_bn_infer_stats(const float* run_var, float* invstd, int c, float eps);
void ev_bn_relu(const float* x, const float* mean, const float* invstd, const float* scale,
                const float* offset, float* y, int c, int p);
void ev_bn_backward_prep(const float* dy, const float* y, const float* x, const float* mean,
                         const float* invstd, float* g1, float* g2, int c, int p);
void ev_bn_backward_data(const float* g1, const float* x, const float* mean,
                         const float* invstd, const float* scale, const float* dscale,
                         const float* doffset, float* dx, int c, int p);
void ev_reconcile(const float* x, float* y, int n, int c1, int h1, int w1, int c, int h, int w);
void ev_reconcile_backward(const float* dy, float* dx, int n, int c1, int h1, int w1, int c,
                           int h, int w);
void ev_gap_backward(const float* dg, float* dx, int rows, int hw);
void ev_add_bias(float* y, const float* b, int rows, int n);
void ev_softmax_xent(const float* logits, const int* labels, float* loss, float* dlogits, int k,
                     int n);
void ev_chan_partial(const float* x, double* part, int c, int p, int k);
void ev_chan_finish(const double* part, float* out, int c, int k, float alpha);
void ev_sgd(float* w, float* v, const float* g, int n, float lr, float momentum, float decay);

#endif
