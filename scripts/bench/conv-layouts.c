// conv-layouts: time one convolution's three directions and the batch norm
// after it in a given activation layout, with oneDNN 2.x, one primitive at
// a time. scripts/bench/conv-layouts.sh builds and runs it; see there.
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_version.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if DNNL_VERSION_MAJOR != 2
#error "conv-layouts is written against oneDNN 2.x (Debian 12's libdnnl-dev)"
#endif

#define C(x)                                                                        \
	do {                                                                            \
		dnnl_status_t st_ = (x);                                                    \
		if (st_ != dnnl_success) {                                                  \
			fprintf(stderr, "conv-layouts: %s: status %d\n", #x, (int)st_);        \
			exit(1);                                                                \
		}                                                                           \
	} while (0)

static dnnl_engine_t eng;
static dnnl_stream_t str;

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

// mem allocates memory of md filled with a fixed pattern in [-0.5, 0.5).
static dnnl_memory_t mem(const dnnl_memory_desc_t *md) {
	dnnl_memory_t m;
	void *p;
	C(dnnl_memory_create(&m, md, eng, DNNL_MEMORY_ALLOCATE));
	C(dnnl_memory_get_data_handle(m, &p));
	float *f = p;
	for (size_t i = 0; i < dnnl_memory_desc_get_size(md) / sizeof(float); i++) f[i] = (float)((i * 7919) % 1000) / 1000.f - 0.5f;
	return m;
}

// timed runs p iters times after three warm-up runs; ms per run.
static double timed(const_dnnl_primitive_desc_t pd, int nargs, const dnnl_exec_arg_t *args, int iters) {
	dnnl_primitive_t p;
	C(dnnl_primitive_create(&p, pd));
	for (int i = 0; i < 3; i++) C(dnnl_primitive_execute(p, str, nargs, args));
	C(dnnl_stream_wait(str));
	double t = now();
	for (int i = 0; i < iters; i++) C(dnnl_primitive_execute(p, str, nargs, args));
	C(dnnl_stream_wait(str));
	t = (now() - t) / iters * 1e3;
	dnnl_primitive_destroy(p);
	return t;
}

static const char *impl(const_dnnl_primitive_desc_t pd) {
	const char *s = "?";
	dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s);
	return s;
}

static const dnnl_memory_desc_t *q(const_dnnl_primitive_desc_t pd, dnnl_query_t what, int i) {
	return dnnl_primitive_desc_query_md(pd, what, i);
}

int main(int argc, char **argv) {
	if (argc != 10) {
		fprintf(stderr, "usage: conv-layouts LAYOUT IC OC KH KW H W BATCH ITERS (LAYOUT: b16, b8, nhwc, nchw)\n");
		return 2;
	}
	const char *lay = argv[1];
	int ic = atoi(argv[2]), oc = atoi(argv[3]), kh = atoi(argv[4]), kw = atoi(argv[5]);
	int h = atoi(argv[6]), w = atoi(argv[7]), mb = atoi(argv[8]), iters = atoi(argv[9]);
	dnnl_format_tag_t tag = !strcmp(lay, "b16") ? dnnl_nChw16c : !strcmp(lay, "b8") ? dnnl_nChw8c
		: !strcmp(lay, "nhwc") ? dnnl_nhwc : !strcmp(lay, "nchw") ? dnnl_nchw : dnnl_format_tag_undef;
	if (tag == dnnl_format_tag_undef || ic < 1 || oc < 1 || kh < 1 || kw < 1 || h < 1 || w < 1 || mb < 1 || iters < 1) {
		fprintf(stderr, "conv-layouts: bad arguments\n");
		return 2;
	}
	C(dnnl_engine_create(&eng, dnnl_cpu, 0));
	C(dnnl_stream_create(&str, eng, dnnl_stream_default_flags));

	// A stride-1 "same" convolution, as evolution's.
	dnnl_dims_t sd = {mb, ic, h, w}, dd = {mb, oc, h, w}, wd = {oc, ic, kh, kw}, strides = {1, 1};
	dnnl_dims_t pl = {(kh - 1) / 2, (kw - 1) / 2}, pr = {kh - 1 - (kh - 1) / 2, kw - 1 - (kw - 1) / 2};
	dnnl_memory_desc_t s, d, wany;
	C(dnnl_memory_desc_init_by_tag(&s, 4, sd, dnnl_f32, tag));
	C(dnnl_memory_desc_init_by_tag(&d, 4, dd, dnnl_f32, tag));
	C(dnnl_memory_desc_init_by_tag(&wany, 4, wd, dnnl_f32, dnnl_format_tag_any));

	dnnl_convolution_desc_t fd, bd, bw;
	dnnl_primitive_desc_t fpd, bpd, wpd, npd;
	C(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct, &s, &wany, NULL, &d, strides, pl, pr));
	C(dnnl_primitive_desc_create(&fpd, &fd, NULL, eng, NULL));
	dnnl_memory_t src = mem(&s), dst = mem(&d), wts = mem(q(fpd, dnnl_query_weights_md, 0));
	dnnl_exec_arg_t fa[] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wts}, {DNNL_ARG_DST, dst}};
	double tf = timed(fpd, 3, fa, iters);

	C(dnnl_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &s, &wany, &d, strides, pl, pr));
	C(dnnl_primitive_desc_create(&bpd, &bd, NULL, eng, fpd));
	dnnl_memory_t bwts = mem(q(bpd, dnnl_query_weights_md, 0)), dsrc = mem(&s), ddst = mem(&d);
	dnnl_exec_arg_t ba[] = {{DNNL_ARG_DIFF_SRC, dsrc}, {DNNL_ARG_WEIGHTS, bwts}, {DNNL_ARG_DIFF_DST, ddst}};
	double tb = timed(bpd, 3, ba, iters);

	C(dnnl_convolution_backward_weights_desc_init(&bw, dnnl_convolution_direct, &s, &wany, NULL, &d, strides, pl, pr));
	C(dnnl_primitive_desc_create(&wpd, &bw, NULL, eng, fpd));
	dnnl_memory_t dw = mem(q(wpd, dnnl_query_diff_weights_md, 0));
	dnnl_exec_arg_t wa[] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_DIFF_WEIGHTS, dw}};
	double tw = timed(wpd, 3, wa, iters);

	// The BN-ReLU after it: batch norm forward (training) with scale and shift.
	dnnl_batch_normalization_desc_t nd;
	C(dnnl_batch_normalization_forward_desc_init(&nd, dnnl_forward_training, &d, 1e-5f, dnnl_use_scaleshift));
	C(dnnl_primitive_desc_create(&npd, &nd, NULL, eng, NULL));
	dnnl_memory_t mean = mem(q(npd, dnnl_query_dst_md, 1)), var = mem(q(npd, dnnl_query_dst_md, 2));
	dnnl_memory_t ss = mem(q(npd, dnnl_query_weights_md, 0)), bnout = mem(&d);
	dnnl_exec_arg_t na[] = {{DNNL_ARG_SRC, dst}, {DNNL_ARG_DST, bnout}, {DNNL_ARG_MEAN, mean}, {DNNL_ARG_VARIANCE, var}, {DNNL_ARG_SCALE_SHIFT, ss}};
	double tn = timed(npd, 5, na, iters);

	printf("%-5s %3d->%-3d %dx%d at %dx%d, batch %d: forward %6.3f ms (%s)  backward data %6.3f (%s)  backward weights %6.3f (%s)  "
		"convolution total %6.3f  batch norm forward %6.3f (%s)\n",
		lay, ic, oc, kh, kw, h, w, mb, tf, impl(fpd), tb, impl(bpd), tw, impl(wpd), tf + tb + tw, tn, impl(npd));
	return 0;
}
