//go:build dnnl

// The oneDNN engine (see net.h). Convolutions and batch norm are oneDNN
// primitives over activations in oneDNN's blocked layout (nChw8c, or
// nChw16c where AVX-512 is there), kept blocked from layer to layer; the
// input stays plain NCHW, as do activations of few channels (vblk), and a
// network that blocks of 16 would pad much trains channels-last
// (choose_nhwc). Everything else (reconciling shapes, sums, the
// global average pool, the fully connected layer, the loss, SGD) is a loop
// here. A whole training step runs in one call from Go: issuing each
// primitive from Go costs microseconds of cgo scheduling apiece.
#include "net.h"

#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_version.h>

/* Written against oneDNN 2.6 and later 2.x (Debian 12's libdnnl-dev 2.6.3)
 * and 3.x (Debian 13's 3.7.2): the two APIs differ in how a primitive
 * descriptor is made (2.x through an operation descriptor, 3.x in one call)
 * and in what a memory descriptor is (a struct in 2.x, a handle to create
 * and destroy in 3.x); the few functions below the #if hide both. (The third
 * difference, batch-norm backward's shift argument, is in build_bn.) Releases
 * before 2.6 lack pieces of the API used here: say so, rather than fail on
 * the first missing symbol. */
#if DNNL_VERSION_MAJOR < 2 || (DNNL_VERSION_MAJOR == 2 && DNNL_VERSION_MINOR < 6) || DNNL_VERSION_MAJOR > 3
#error "evoswarm's oneDNN engine (-tags dnnl) needs oneDNN 2.6 to 3.x; this is another version: build without the dnnl tag (scripts/fast-tags.sh picks the tags this machine supports)"
#endif

#if DNNL_VERSION_MAJOR >= 3
// mdp points at a memory descriptor that something else owns (a memory
// object or a primitive descriptor); mdesc is one we make and free.
typedef const_dnnl_memory_desc_t mdp;
typedef dnnl_memory_desc_t mdesc;
#define MD(d) (d)
static dnnl_status_t md_make(mdesc *d, int nd, const dnnl_dims_t dims, dnnl_format_tag_t tag) {
	*d = NULL;
	return dnnl_memory_desc_create_with_tag(d, nd, dims, dnnl_f32, tag);
}
static void md_free(mdesc *d) {
	if (*d) dnnl_memory_desc_destroy(*d);
	*d = NULL;
}
#else
typedef const dnnl_memory_desc_t *mdp;
typedef dnnl_memory_desc_t mdesc;
#define MD(d) (&(d))
static dnnl_status_t md_make(mdesc *d, int nd, const dnnl_dims_t dims, dnnl_format_tag_t tag) {
	return dnnl_memory_desc_init_by_tag(d, nd, dims, dnnl_f32, tag);
}
static void md_free(mdesc *d) { (void)d; }
#endif

// md_of is the descriptor of a memory object, owned by it.
static mdp md_of(const_dnnl_memory_t m) {
	mdp d = NULL;
	if (dnnl_memory_get_memory_desc(m, &d) != dnnl_success) return NULL;
	return d;
}

// A convolution's primitive descriptor, either direction: what 2.x splits
// into an operation descriptor and a primitive descriptor.
enum { conv_fwd, conv_bwd_data, conv_bwd_weights };
typedef struct {
	int kind;
	dnnl_prop_kind_t prop; // forward only
	// src is the source (forward, backward weights) or its gradient
	// (backward data); w the weights or their gradient; bias the bias (or
	// NULL); dst the output or its gradient.
	mdp src, w, bias, dst;
	const dnnl_dim_t *strides, *padl, *padr;
} convspec;

static dnnl_status_t conv_pd(dnnl_engine_t eng, dnnl_primitive_desc_t *pd, const convspec *s,
	const_dnnl_primitive_desc_t hint, const_dnnl_primitive_attr_t attr) {
	*pd = NULL;
#if DNNL_VERSION_MAJOR >= 3
	const dnnl_dims_t nodil = {0, 0};
	switch (s->kind) {
	case conv_fwd:
		return dnnl_convolution_forward_primitive_desc_create(pd, eng, s->prop, dnnl_convolution_direct, s->src, s->w,
			s->bias, s->dst, s->strides, nodil, s->padl, s->padr, attr);
	case conv_bwd_data:
		return dnnl_convolution_backward_data_primitive_desc_create(pd, eng, dnnl_convolution_direct, s->src, s->w,
			s->dst, s->strides, nodil, s->padl, s->padr, hint, attr);
	default:
		return dnnl_convolution_backward_weights_primitive_desc_create(pd, eng, dnnl_convolution_direct, s->src, s->w,
			s->bias, s->dst, s->strides, nodil, s->padl, s->padr, hint, attr);
	}
#else
	dnnl_convolution_desc_t cd;
	dnnl_status_t st;
	switch (s->kind) {
	case conv_fwd:
		st = dnnl_convolution_forward_desc_init(&cd, s->prop, dnnl_convolution_direct, s->src, s->w, s->bias, s->dst,
			s->strides, s->padl, s->padr);
		break;
	case conv_bwd_data:
		st = dnnl_convolution_backward_data_desc_init(&cd, dnnl_convolution_direct, s->src, s->w, s->dst, s->strides,
			s->padl, s->padr);
		break;
	default:
		st = dnnl_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, s->src, s->w, s->bias, s->dst,
			s->strides, s->padl, s->padr);
	}
	if (st != dnnl_success) return st;
	return dnnl_primitive_desc_create(pd, &cd, attr, eng, hint);
#endif
}

// bn_pd makes a batch norm's primitive descriptor: forward (prop, src, dst)
// or backward (prop dnnl_backward; src, its gradient dsrc, the output's
// gradient ddst).
static dnnl_status_t bn_pd(dnnl_engine_t eng, dnnl_primitive_desc_t *pd, dnnl_prop_kind_t prop, mdp src, mdp dst,
	mdp dsrc, mdp ddst, float eps, unsigned flags, const_dnnl_primitive_desc_t hint, const_dnnl_primitive_attr_t attr) {
	*pd = NULL;
#if DNNL_VERSION_MAJOR >= 3
	if (prop == dnnl_backward)
		return dnnl_batch_normalization_backward_primitive_desc_create(pd, eng, prop, dsrc, ddst, src, eps, flags, hint,
			attr);
	(void)dsrc, (void)ddst;
	return dnnl_batch_normalization_forward_primitive_desc_create(pd, eng, prop, src, dst, eps, flags, attr);
#else
	// 2.x: one layout for the data and one for its gradients.
	dnnl_batch_normalization_desc_t bd;
	dnnl_status_t st = prop == dnnl_backward ? dnnl_batch_normalization_backward_desc_init(&bd, prop, ddst, src, eps, flags)
						 : dnnl_batch_normalization_forward_desc_init(&bd, prop, src, eps, flags);
	(void)dst, (void)dsrc;
	if (st != dnnl_success) return st;
	return dnnl_primitive_desc_create(pd, &bd, attr, eng, hint);
#endif
}

static dnnl_status_t relu_post_op(dnnl_post_ops_t po) {
#if DNNL_VERSION_MAJOR >= 3
	return dnnl_post_ops_append_eltwise(po, dnnl_eltwise_relu, 0.0f, 0.0f);
#else
	return dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
#endif
}

extern void omp_set_num_threads(int);

// A tensor: a buffer we own (or alias) with its oneDNN descriptor.
typedef struct {
	mdp md; // mem's descriptor (or, in an alias, the aliased tensor's)
	dnnl_memory_t mem;
	float *p;
	size_t n; // floats
	int blk;  // channel block: 1 (plain NCHW), 8 or 16; channels-last, c (one block of all)
	int c, h, w, batch;
	int owned;
} tens;

typedef struct {
	dnnl_primitive_t prim;
	dnnl_primitive_desc_t pd;
	dnnl_exec_arg_t args[12];
	int nargs;
	dnnl_memory_t scratch; // this op's view of the pass's scratchpad
	dnnl_stream_t strm;    // its pass's stream (not owned)
} op;

typedef struct {
	// forward
	tens *val;       // the term's value: rec, out or the source's value
	tens out;        // conv output (edge shape), when conv
	tens rec;        // reconciled to the vertex, when needed
	int need_rec;
	op fwd;
	tens wf;         // weights in the forward primitive's layout (may alias plain)
	op rw_fwd;       // plain -> wf, when the layouts differ
	dnnl_memory_t wplain;
	// backward (training pass)
	tens dout;       // gradient of the conv output (when rec is needed)
	op bwdd, bwdw;
	tens wb;         // weights in the backward-data layout
	op rw_bwdd;
	tens dw;         // weight gradient in the backward-weights layout
	op rw_dw;        // dw -> plain gradient
	tens bsrc, bdout; // the source and output gradient in the layouts backward-weights wants
	op rw_bsrc, rw_bdout;
	// Where oneDNN has no fast kernel for our layouts (a blocked source of
	// one channel, say), the forward and backward-data primitives choose
	// their own, with reorders around them.
	tens fsrc, fdst, bdd, bds;
	op rw_fsrc, rw_fdst, rw_bdd, rw_bds;
	dnnl_memory_t dwplain;
	dnnl_memory_t dsrc; // diff_src of bwdd (its handle is set per step)
	// Backward data into a plain source of few channels by our loops
	// (plain_bwd_data), not oneDNN's: cwt holds the weights as taps x
	// output channels, cols a sample's per-pixel tap sums.
	int cbwd, ctaps;
	float *cwt, *cols;
	// Inference: a convolution that alone feeds a BN-ReLU vertex runs with
	// the batch norm folded into its weights and a bias, and the ReLU as
	// its post-op, writing the vertex's value in one primitive.
	int fold;
	float *wfold, *bfold; // the folded weights (plain OIHW) and bias
	dnnl_memory_t bias;
} term_rt;

typedef struct {
	tens *val;     // value (own for sums and BN, else an alias)
	tens pre;      // summed terms (when more than one)
	tens bnout;    // BN output
	tens *prev;    // BN input
	tens mean, var; // batch statistics (training)
	tens ws;       // BN workspace (ReLU mask)
	op bnf, bnb;
	dnnl_memory_t scale, shift, rmean, rvar, dscale, dshift;
	tens dval;     // gradient of the value (training, needgrad)
	tens dpre;     // gradient of the BN input
	tens dscratch; // for a second contribution from a conv's backward-data
	int needgrad;
	int consumers;
	int reader, readby; // the last term that reads the value, and its vertex
	int first;     // a sum's term whose value already is prev (computed in place), or -1
	int dset;      // dval written this step
	int cbn;       // BN-ReLU by our loops (a plain or NHWC vertex), not oneDNN's
	double *cacc;  // their sums and parameters over NHWC (nhwc_scratch), else NULL
	int folded;    // BN-ReLU folded into its one convolution (inference)
} vert_rt;

typedef struct pass {
	int batch, train;
	int lane, threads; // an inference lane (0 otherwise) and its OpenMP team
	tens x;
	int32_t *labels;
	vert_rt *v;
	term_rt *t;
	float *pooled, *logits, *probs, *dlogits, *dpooled;
	struct pass *next;
	char impls[2048];
	// Every op of the pass, for the scratchpad: each primitive gets the
	// pass's one buffer (ops run one at a time), so nothing is shared with
	// other networks or other threads. oneDNN's own scratchpad is per OS
	// thread, and a goroutine moves between them.
	op **ops;
	int nops, capops;
	void *scratch;
	// Its own stream, like its scratchpad: the inference lanes run their
	// passes at once from several threads, and oneDNN does not promise
	// that one stream may be used so.
	dnnl_stream_t strm;
} pass;

struct esw_net {
	int nvert, nterm, nparam;
	esw_vertex *v;
	esw_term *t;
	int32_t *psize, *pflags;
	float **param, **grad, **vel;
	int *gset;
	int out, fcw, fcb, classes;
	float momentum, decay, bnm, eps;
	int blk;
	int nhwc;                 // the pass being built is channels-last
	int nhwc_train, nhwc_eval; // which passes are (choose_nhwc)
	int threads;
	dnnl_engine_t eng;
	dnnl_stream_t strm;
	dnnl_primitive_attr_t attr;
	pass *passes;
	pass *building;
	char err[512];
};

static void seterr(esw_net *n, const char *f, ...) {
	va_list ap;
	va_start(ap, f);
	vsnprintf(n->err, sizeof n->err, f, ap);
	va_end(ap);
}

const char *esw_error(esw_net *n) { return n->err; }

const char *esw_isa(void) {
	dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
	switch (isa) {
	case dnnl_cpu_isa_sse41: return "sse41";
	case dnnl_cpu_isa_avx: return "avx";
	case dnnl_cpu_isa_avx2: return "avx2";
	case dnnl_cpu_isa_avx512_core: return "avx512_core";
	case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
	case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
	case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
	default: // newer kinds (oneDNN 3.x: avx2_vnni, avx512_core_fp16, ...) by family
		if ((isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core) return "avx512_core (newer)";
		if ((isa & dnnl_cpu_isa_avx2) == dnnl_cpu_isa_avx2) return "avx2 (newer)";
		return "other";
	}
}

int esw_block(void) {
	dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
	return (isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core ? 16 : 8;
}

static float *falloc(size_t n) {
	size_t bytes = ((n * sizeof(float)) + 63) & ~(size_t)63;
	if (bytes == 0) bytes = 64;
	float *p = aligned_alloc(64, bytes);
	if (p) memset(p, 0, bytes);
	return p;
}

#define CHECK(call, what)                                                        \
	do {                                                                         \
		dnnl_status_t st_ = (call);                                              \
		if (st_ != dnnl_success) {                                               \
			seterr(n, "onednn: %s: status %d", what, (int)st_);                 \
			return -1;                                                           \
		}                                                                        \
	} while (0)

// vblk is the layout of an activation of c channels: blocked, except where
// fewer than PLAIN_BELOW channels (and fewer than a block) would leave most
// of every block padding (the one-channel BN-ReLU that evolution often puts
// on the input image), which stays plain NCHW: an eighth of the memory
// traffic and no reorder before a convolution, whose kernels read a plain
// one-channel source directly. From 8 channels up a block of 16 wins
// although half of it may be padding: oneDNN runs its blocked JIT kernels
// where over a plain layout it has only its GEMM convolution, and real
// children with 10-15-channel convolutions trained 1.13-1.64x faster
// (docs/performance.md). With AVX2 the block is 8: nothing changes there.
#ifndef PLAIN_BELOW // -DPLAIN_BELOW=16 gives the layouts before, to compare
#define PLAIN_BELOW 8
#endif
// In a network whose blocks would pad much (choose_nhwc) every activation
// is channels-last instead: "blk" is then the channel count, one block of
// all of them, which the loops below index the same way.
static int vblk(const esw_net *n, int c) {
	if (n->nhwc) return c;
	return c < (n->blk < PLAIN_BELOW ? n->blk : PLAIN_BELOW) ? 1 : n->blk;
}

static dnnl_format_tag_t tag_of(const esw_net *n, int blk) {
	if (n->nhwc) return dnnl_nhwc;
	return blk == 16 ? dnnl_nChw16c : blk == 8 ? dnnl_nChw8c : dnnl_nchw;
}

static int tens_md(esw_net *n, tens *t, mdp md);

// tens_init allocates an activation tensor of the given shape and layout.
static int tens_init_tag(esw_net *n, tens *t, int batch, int c, int h, int w, int blk, dnnl_format_tag_t tag) {
	dnnl_dims_t d = {batch, c, h, w};
	mdesc md = {0};
	CHECK(md_make(&md, 4, d, tag), "activation descriptor");
	int r = tens_md(n, t, MD(md));
	md_free(&md);
	t->blk = blk, t->c = c, t->h = h, t->w = w, t->batch = batch;
	return r;
}

static int tens_init(esw_net *n, tens *t, int batch, int c, int h, int w, int blk) {
	return tens_init_tag(n, t, batch, c, h, w, blk, tag_of(n, blk));
}

// tens_md allocates a buffer for a descriptor oneDNN chose.
static int tens_md(esw_net *n, tens *t, mdp md) {
	memset(t, 0, sizeof *t);
	t->n = dnnl_memory_desc_get_size(md) / sizeof(float);
	t->p = falloc(t->n);
	if (!t->p) {
		seterr(n, "onednn: out of memory (%zu floats)", t->n);
		return -1;
	}
	t->owned = 1;
	CHECK(dnnl_memory_create(&t->mem, md, n->eng, t->p), "memory");
	t->md = md_of(t->mem);
	return 0;
}

static void tens_free(tens *t) {
	if (t->owned) {
		if (t->mem) dnnl_memory_destroy(t->mem);
		free(t->p);
	}
	memset(t, 0, sizeof *t);
}

static void op_free(op *o) {
	if (o->scratch) dnnl_memory_destroy(o->scratch);
	if (o->prim) dnnl_primitive_destroy(o->prim);
	if (o->pd) dnnl_primitive_desc_destroy(o->pd);
	memset(o, 0, sizeof *o);
}

static void arg(op *o, int a, dnnl_memory_t m) {
	if (o->nargs >= (int)(sizeof o->args / sizeof o->args[0])) abort(); // a bug here, not bad input
	o->args[o->nargs].arg = a;
	o->args[o->nargs].memory = m;
	o->nargs++;
}

static int run(esw_net *n, op *o, const char *what) {
	CHECK(dnnl_primitive_execute(o->prim, o->strm ? o->strm : n->strm, o->nargs, o->args), what);
	return 0;
}

// track adds o to the pass being built, for its scratchpad.
static int track(esw_net *n, op *o) {
	pass *p = n->building;
	if (p->nops == p->capops) {
		int c = p->capops ? 2 * p->capops : 32;
		op **ops = realloc(p->ops, c * sizeof *ops);
		if (!ops) {
			seterr(n, "onednn: out of memory");
			return -1;
		}
		p->ops = ops;
		p->capops = c;
	}
	p->ops[p->nops++] = o;
	o->strm = p->strm;
	return 0;
}

static int make_reorder(esw_net *n, op *o, dnnl_memory_t from, mdp fmd, dnnl_memory_t to, mdp tmd);

// is_ref reports whether oneDNN picked a reference implementation: correct,
// and hundreds of times slower than its JIT kernels.
static int is_ref(const_dnnl_primitive_desc_t pd) {
	const char *s = NULL;
	if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s) != dnnl_success || !s) return 0;
	return strncmp(s, "ref", 3) == 0;
}

// make_fast creates o from desc, or, when that has no implementation or
// only a reference one, from alt (the same primitive with its layouts left to
// oneDNN).
static int make_fast(esw_net *n, op *o, const convspec *desc, const convspec *alt, const_dnnl_primitive_desc_t hint,
	const_dnnl_primitive_attr_t attr, const char *what) {
	if (conv_pd(n->eng, &o->pd, desc, hint, attr) != dnnl_success) {
		o->pd = NULL; // no implementation for our layouts at all: the alternative's
		CHECK(conv_pd(n->eng, &o->pd, alt, hint, attr), what);
	} else if (is_ref(o->pd)) {
		dnnl_primitive_desc_t pd = NULL;
		if (conv_pd(n->eng, &pd, alt, hint, attr) == dnnl_success) {
			if (is_ref(pd)) {
				dnnl_primitive_desc_destroy(pd);
			} else {
				dnnl_primitive_desc_destroy(o->pd);
				o->pd = pd;
			}
		}
	}
	CHECK(dnnl_primitive_create(&o->prim, o->pd), what);
	return track(n, o);
}

// adapt points *m at a buffer in the layout a primitive wants (md) when ours
// (t) differs, with a reorder from ours (in) or to ours (!in).
static int adapt(esw_net *n, mdp md, tens *t, tens *buf, op *ro, int in, dnnl_memory_t *m) {
	*m = t->mem;
	if (dnnl_memory_desc_equal(md, t->md)) return 0;
	if (tens_md(n, buf, md)) return -1;
	if (in ? make_reorder(n, ro, t->mem, t->md, buf->mem, md) : make_reorder(n, ro, buf->mem, md, t->mem, t->md)) return -1;
	*m = buf->mem;
	return 0;
}

// make_prim creates o's primitive from its descriptor, which made returned
// (the status of making o->pd).
static int make_prim(esw_net *n, op *o, dnnl_status_t made, const char *what) {
	CHECK(made, what);
	CHECK(dnnl_primitive_create(&o->prim, o->pd), what);
	return track(n, o);
}

// make_reorder builds a reorder between two memories when their layouts
// differ; it leaves o empty when they are the same.
static int make_reorder(esw_net *n, op *o, dnnl_memory_t from, mdp fmd, dnnl_memory_t to, mdp tmd) {
	memset(o, 0, sizeof *o);
	if (dnnl_memory_desc_equal(fmd, tmd)) return 0;
	CHECK(dnnl_reorder_primitive_desc_create(&o->pd, fmd, n->eng, tmd, n->eng, n->attr), "reorder");
	CHECK(dnnl_primitive_create(&o->prim, o->pd), "reorder");
	if (track(n, o)) return -1;
	arg(o, DNNL_ARG_FROM, from);
	arg(o, DNNL_ARG_TO, to);
	return 0;
}

static int run_opt(esw_net *n, op *o, const char *what) { return o->prim ? run(n, o, what) : 0; }

// reconcile copies src into dst's shape and layout: nearest-neighbour rows
// and columns (source index floor(i*H1/H)), channels truncated or
// zero-padded. dst is cleared first, so its padding stays zero.
static void accumulate(const tens *s, tens *d);

static void reconcile_fwd(const tens *s, tens *d) {
	memset(d->p, 0, d->n * sizeof(float));
	accumulate(s, d);
}

// reconcile_bwd adds the gradient of a reconcile's output (dd, in the
// output's shape) into ds, the gradient of its input.
static void reconcile_bwd(const tens *dd, tens *ds) {
	int cc = ds->c < dd->c ? ds->c : dd->c;
	size_t shw = (size_t)ds->h * ds->w, dhw = (size_t)dd->h * dd->w;
	int scb = (ds->c + ds->blk - 1) / ds->blk, dcb = (dd->c + dd->blk - 1) / dd->blk;
	const size_t sb = ds->blk, db = dd->blk;
	for (int b = 0; b < dd->batch; b++)
		for (int c = 0; c < cc; c++) {
			float *sp = ds->p + (((size_t)b * scb + c / ds->blk) * shw) * sb + c % ds->blk;
			const float *dp = dd->p + (((size_t)b * dcb + c / dd->blk) * dhw) * db + c % dd->blk;
			if (ds->h == dd->h && ds->w == dd->w) {
				for (size_t i = 0; i < dhw; i++) sp[i * sb] += dp[i * db];
				continue;
			}
			for (int i = 0; i < dd->h; i++) {
				float *row = sp + (size_t)(i * ds->h / dd->h) * ds->w * sb;
				const float *drow = dp + (size_t)i * dd->w * db;
				for (int j = 0; j < dd->w; j++) row[(size_t)(j * ds->w / dd->w) * sb] += drow[j * db];
			}
		}
}

static void add(float *restrict d, const float *restrict s, size_t k) {
	for (size_t i = 0; i < k; i++) d[i] += s[i];
}

// same_layout: s and d hold the same shape in the same layout, so a
// reconcile between them is the identity on their buffers.
static int same_layout(const tens *s, const tens *d) {
	return s->c == d->c && s->h == d->h && s->w == d->w && s->blk == d->blk && s->n == d->n;
}

// accumulate adds s, reconciled to d's shape and layout (as reconcile_fwd
// would), into d: a sum's terms go straight into it, with no reconciled
// copy of each first. Channel c of image b is a run of h*w values blk apart.
static void accumulate(const tens *s, tens *d) {
	if (same_layout(s, d)) {
		add(d->p, s->p, d->n);
		return;
	}
	int cc = s->c < d->c ? s->c : d->c;
	size_t shw = (size_t)s->h * s->w, dhw = (size_t)d->h * d->w;
	int scb = (s->c + s->blk - 1) / s->blk, dcb = (d->c + d->blk - 1) / d->blk;
	for (int b = 0; b < d->batch; b++)
		for (int c = 0; c < cc; c++) {
			const float *sp = s->p + (((size_t)b * scb + c / s->blk) * shw) * s->blk + c % s->blk;
			float *dp = d->p + (((size_t)b * dcb + c / d->blk) * dhw) * d->blk + c % d->blk;
			const size_t sb = s->blk, db = d->blk;
			if (s->h == d->h && s->w == d->w) {
				for (size_t i = 0; i < dhw; i++) dp[i * db] += sp[i * sb];
				continue;
			}
			for (int i = 0; i < d->h; i++) {
				const float *row = sp + (size_t)(i * s->h / d->h) * s->w * sb;
				float *drow = dp + (size_t)i * d->w * db;
				for (int j = 0; j < d->w; j++) drow[j * db] += row[(size_t)(j * s->w / d->w) * sb];
			}
		}
}

void esw_destroy(esw_net *n);

// Activations and workspaces come and go with every child. glibc raises its
// mmap threshold each time a large mmapped block is freed, after which such
// blocks come from the heap and stay in the process; a fixed threshold
// keeps them mmapped and returned on free.
static pthread_once_t malloc_once = PTHREAD_ONCE_INIT;
// oneDNN keeps up to 1,024 primitives (with their JIT code) in a process
// cache; evolution makes a new shape every few children, so a node's cache
// would grow into tens of MiB of kernels it rarely reuses. A child makes a
// few dozen primitives, and compiling one costs well under a millisecond.
// ONEDNN_PRIMITIVE_CACHE_CAPACITY, when set, wins.
static void malloc_setup(void) {
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	if (!getenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY")) dnnl_set_primitive_cache_capacity(64);
}

static int choose_nhwc(const esw_net *n, int *eval);
static size_t nhwc_scratch(int C);

esw_net *esw_create(const esw_vertex *v, int nvert, const esw_term *t, int nterm,
	const int32_t *param_size, const int32_t *param_flags, int nparam,
	int out_vertex, int fc_w, int fc_b, int classes,
	float momentum, float decay, float bn_momentum, float bn_eps, int threads,
	char *err, int errlen) {
	pthread_once(&malloc_once, malloc_setup);
	esw_net *n = calloc(1, sizeof *n);
	if (!n) {
		snprintf(err, errlen, "onednn: out of memory");
		return NULL;
	}
	n->nvert = nvert, n->nterm = nterm, n->nparam = nparam;
	n->v = malloc(sizeof(esw_vertex) * (nvert + 1));
	n->t = malloc(sizeof(esw_term) * (nterm + 1));
	n->psize = malloc(sizeof(int32_t) * (nparam + 1));
	n->pflags = malloc(sizeof(int32_t) * (nparam + 1));
	n->param = calloc(nparam + 1, sizeof(float *));
	n->grad = calloc(nparam + 1, sizeof(float *));
	n->vel = calloc(nparam + 1, sizeof(float *));
	n->gset = calloc(nparam + 1, sizeof(int));
	if (!n->v || !n->t || !n->psize || !n->pflags || !n->param || !n->grad || !n->vel || !n->gset) goto oom;
	memcpy(n->v, v, sizeof(esw_vertex) * nvert);
	memcpy(n->t, t, sizeof(esw_term) * nterm);
	memcpy(n->psize, param_size, sizeof(int32_t) * nparam);
	memcpy(n->pflags, param_flags, sizeof(int32_t) * nparam);
	for (int i = 0; i < nparam; i++) {
		n->param[i] = falloc(param_size[i]);
		if (!n->param[i]) goto oom;
	}
	n->threads = threads > 0 ? threads : 1;
	n->out = out_vertex, n->fcw = fc_w, n->fcb = fc_b, n->classes = classes;
	n->momentum = momentum, n->decay = decay, n->bnm = bn_momentum, n->eps = bn_eps;
	n->blk = esw_block();
	n->nhwc_train = choose_nhwc(n, &n->nhwc_eval);
	if (dnnl_engine_create(&n->eng, dnnl_cpu, 0) != dnnl_success ||
		dnnl_stream_create(&n->strm, n->eng, dnnl_stream_default_flags) != dnnl_success ||
		dnnl_primitive_attr_create(&n->attr) != dnnl_success ||
		dnnl_primitive_attr_set_scratchpad_mode(n->attr, dnnl_scratchpad_mode_user) != dnnl_success) {
		snprintf(err, errlen, "onednn: cannot create a CPU engine and stream");
		esw_destroy(n);
		return NULL;
	}
	return n;
oom:
	snprintf(err, errlen, "onednn: out of memory");
	esw_destroy(n);
	return NULL;
}

float *esw_param(esw_net *n, int i) { return n->param[i]; }

static void pass_free(esw_net *n, pass *p) {
	for (int k = 0; p->t && k < n->nterm; k++) {
		term_rt *tr = &p->t[k];
		tens_free(&tr->out), tens_free(&tr->rec), tens_free(&tr->wf), tens_free(&tr->dout);
		tens_free(&tr->wb), tens_free(&tr->dw), tens_free(&tr->bsrc), tens_free(&tr->bdout);
		op_free(&tr->rw_bsrc), op_free(&tr->rw_bdout);
		tens_free(&tr->fsrc), tens_free(&tr->fdst), tens_free(&tr->bdd), tens_free(&tr->bds);
		op_free(&tr->rw_fsrc), op_free(&tr->rw_fdst), op_free(&tr->rw_bdd), op_free(&tr->rw_bds);
		op_free(&tr->fwd), op_free(&tr->rw_fwd), op_free(&tr->bwdd), op_free(&tr->bwdw);
		op_free(&tr->rw_bwdd), op_free(&tr->rw_dw);
		if (tr->wplain) dnnl_memory_destroy(tr->wplain);
		if (tr->dwplain) dnnl_memory_destroy(tr->dwplain);
		if (tr->dsrc) dnnl_memory_destroy(tr->dsrc);
		if (tr->bias) dnnl_memory_destroy(tr->bias);
		free(tr->wfold), free(tr->bfold), free(tr->cwt), free(tr->cols);
	}
	for (int i = 0; p->v && i < n->nvert; i++) {
		vert_rt *vr = &p->v[i];
		tens_free(&vr->pre), tens_free(&vr->bnout), tens_free(&vr->mean), tens_free(&vr->var);
		tens_free(&vr->ws), tens_free(&vr->dval), tens_free(&vr->dpre), tens_free(&vr->dscratch);
		op_free(&vr->bnf), op_free(&vr->bnb);
		free(vr->cacc);
		dnnl_memory_t ms[] = {vr->scale, vr->shift, vr->rmean, vr->rvar, vr->dscale, vr->dshift};
		for (int k = 0; k < 6; k++)
			if (ms[k]) dnnl_memory_destroy(ms[k]);
	}
	tens_free(&p->x);
	free(p->labels), free(p->pooled), free(p->logits), free(p->probs), free(p->dlogits), free(p->dpooled);
	free(p->v), free(p->t), free(p->ops), free(p->scratch);
	if (p->strm) dnnl_stream_destroy(p->strm);
	free(p);
}

void esw_destroy(esw_net *n) {
	if (!n) return;
	while (n->passes) {
		pass *p = n->passes;
		n->passes = p->next;
		pass_free(n, p);
	}
	for (int i = 0; n->param && i < n->nparam; i++) {
		free(n->param[i]);
		if (n->grad) free(n->grad[i]);
		if (n->vel) free(n->vel[i]);
	}
	free(n->param), free(n->grad), free(n->vel), free(n->gset);
	free(n->v), free(n->t), free(n->psize), free(n->pflags);
	if (n->attr) dnnl_primitive_attr_destroy(n->attr);
	if (n->strm) dnnl_stream_destroy(n->strm);
	if (n->eng) dnnl_engine_destroy(n->eng);
	free(n);
}

static int vec_mem(esw_net *n, dnnl_memory_t *m, float *p, int c) {
	mdesc md = {0};
	dnnl_dims_t d = {c};
	CHECK(md_make(&md, 1, d, dnnl_x), "vector descriptor");
	dnnl_status_t st = dnnl_memory_create(m, MD(md), n->eng, p);
	md_free(&md);
	CHECK(st, "vector memory");
	return 0;
}

static void impl_name(pass *p, const char *s);

static void impl(pass *p, const op *o) {
	const char *s = NULL;
	if (!o->pd || dnnl_primitive_desc_query(o->pd, dnnl_query_impl_info_str, 0, &s) != dnnl_success || !s) return;
	impl_name(p, s);
}

// impl_name adds s to the pass's list of implementations.
static void impl_name(pass *p, const char *s) {
	size_t l = strlen(p->impls);
	if (l + strlen(s) + 2 < sizeof p->impls) {
		if (l) strcat(p->impls, ",");
		strcat(p->impls, s);
	}
}

static int grad_alloc(esw_net *n, int i) {
	if (!n->grad[i]) n->grad[i] = falloc(n->psize[i]);
	if (!n->vel[i]) n->vel[i] = falloc(n->psize[i]);
	if (!n->grad[i] || !n->vel[i]) {
		seterr(n, "onednn: out of memory");
		return -1;
	}
	return 0;
}

// fold_attr makes *attr the network's attributes with a ReLU post-op.
static int fold_attr(esw_net *n, dnnl_primitive_attr_t *attr) {
	dnnl_primitive_attr_t a = NULL;
	dnnl_post_ops_t po = NULL;
	dnnl_status_t st = dnnl_primitive_attr_clone(&a, n->attr);
	if (st == dnnl_success) st = dnnl_post_ops_create(&po);
	if (st == dnnl_success) st = relu_post_op(po);
	if (st == dnnl_success) st = dnnl_primitive_attr_set_post_ops(a, po);
	if (po) dnnl_post_ops_destroy(po);
	if (st != dnnl_success) {
		if (a) dnnl_primitive_attr_destroy(a);
		seterr(n, "onednn: ReLU post-op: status %d", (int)st);
		return -1;
	}
	*attr = a;
	return 0;
}

// fold_weights writes term k's folded weights and bias from the current
// parameters: the vertex's batch norm in inference, gamma (x - mean) /
// sqrt(var + eps) + beta per channel, is a scale s = gamma / sqrt(var +
// eps) of the convolution's filters and a bias beta - mean s. Cheap beside
// the convolution (one multiply per weight for a whole batch), so it runs
// before every folded forward: the parameters change between calls.
static void fold_weights(const esw_net *n, int k, term_rt *tr, const esw_vertex *v) {
	const esw_term *t = &n->t[k];
	const float *W = n->param[t->wparam], *g = n->param[v->scale], *b = n->param[v->shift];
	const float *m = n->param[v->mean], *var = n->param[v->var];
	size_t per = (size_t)n->psize[t->wparam] / t->c;
	for (int o = 0; o < t->c; o++) {
		float s = g[o] / sqrtf(var[o] + n->eps);
		const float *w = W + o * per;
		float *f = tr->wfold + o * per;
		for (size_t j = 0; j < per; j++) f[j] = w[j] * s;
		tr->bfold[o] = b[o] - m[o] * s;
	}
}

// The descriptors a convolution's primitives are made from, freed once
// they are made.
typedef struct {
	mdesc bias, wany, wplain, sany, dany;
} convmds;

static int build_conv_with(esw_net *n, pass *p, int k, int to, convmds *m);

// The most taps (source channels x kernel height x width) for which
// plain_bwd_data runs a convolution's backward data instead of oneDNN.
#ifndef PLAIN_BWD_MAX_TAPS // -DPLAIN_BWD_MAX_TAPS=0 turns it off, to compare
#define PLAIN_BWD_MAX_TAPS 64
#endif

// The least blocked / real convolution arithmetic at which a network runs
// channels-last (choose_nhwc), in hundredths.
#ifndef NHWC_WASTE
#define NHWC_WASTE 140
#endif

// choose_nhwc decides the layout of a network's training pass, and of its
// inference passes in *eval. Blocks of 16 pad an activation of 35 channels
// to 48, and a convolution from 35 to 35 channels then computes 1.88 times
// its arithmetic; oneDNN's channels-last kernels pad nothing, but they do
// about 0.7 of the blocked kernels' work a second, its channels-last
// batch norm is slow for such channel counts (ours runs instead), and a
// network mixing layouts pays reorders. So a network trains channels-last
// as a whole where its blocks would add NHWC_WASTE/100 or more to its
// convolutions' arithmetic; it evaluates blocked, where the folded
// batch norm leaves the convolutions alone and they ran 5-25% slower
// channels-last (docs/performance.md). With blocks of 8 (AVX2) the padding
// is smaller: always blocked. EVOSWARM_ONEDNN_LAYOUT=nhwc (both passes) or
// =blocked decides instead, for tests and measurement.
static int choose_nhwc(const esw_net *n, int *eval) {
	const char *e = getenv("EVOSWARM_ONEDNN_LAYOUT");
	*eval = e && strcmp(e, "nhwc") == 0;
	if (*eval) return 1;
	if ((e && strcmp(e, "blocked") == 0) || n->blk != 16) return 0;
	double real = 0, padded = 0;
	for (int k = 0; k < n->nterm; k++) {
		const esw_term *t = &n->t[k];
		if (!t->conv) continue;
		// (The input, vertex 0, stays plain whatever its channels.)
		int ic = n->v[t->src].c, icp = t->src > 0 && vblk(n, ic) > 1 ? (ic + 15) / 16 * 16 : ic;
		int ocp = vblk(n, t->c) > 1 ? (t->c + 15) / 16 * 16 : t->c;
		double taps = (double)t->h * t->w * t->kh * t->kw;
		real += taps * ic * t->c;
		padded += taps * icp * ocp;
	}
	return real > 0 && padded * 100 >= NHWC_WASTE * real;
}

// build_conv makes term k's convolution primitives for pass p.
static int build_conv(esw_net *n, pass *p, int k, int to) {
	convmds m = {0};
	int r = build_conv_with(n, p, k, to, &m);
	md_free(&m.bias), md_free(&m.wany), md_free(&m.wplain), md_free(&m.sany), md_free(&m.dany);
	return r;
}

static int build_conv_with(esw_net *n, pass *p, int k, int to, convmds *m) {
	const esw_term *t = &n->t[k];
	term_rt *tr = &p->t[k];
	tens *src = p->v[t->src].val;
	const esw_vertex *sv = &n->v[t->src];
	if (tens_init(n, &tr->out, p->batch, t->c, t->h, t->w, vblk(n, t->c))) return -1;
	dnnl_dims_t strides = {t->stride, t->stride};
	int plh = (t->kh - 1) / 2, plw = (t->kw - 1) / 2;
	int prh = (t->h - 1) * t->stride + t->kh - sv->h - plh;
	int prw = (t->w - 1) * t->stride + t->kw - sv->w - plw;
	dnnl_dims_t padl = {plh, plw}, padr = {prh > 0 ? prh : 0, prw > 0 ? prw : 0};
	dnnl_dims_t wd = {t->c, sv->c, t->kh, t->kw};
	const esw_vertex *tv = &n->v[to];
	tr->fold = !p->train && tv->bn && tv->nterms == 1 && vblk(n, tv->c) > 1 && t->c == tv->c && t->h == tv->h &&
		t->w == tv->w && (size_t)n->psize[t->wparam] == (size_t)t->c * sv->c * t->kh * t->kw;
	mdp bias = NULL;
	dnnl_primitive_attr_t attr = n->attr;
	if (tr->fold) {
		tr->wfold = falloc(n->psize[t->wparam]);
		tr->bfold = falloc(t->c);
		if (!tr->wfold || !tr->bfold) {
			seterr(n, "onednn: out of memory");
			return -1;
		}
		dnnl_dims_t bd = {t->c};
		CHECK(md_make(&m->bias, 1, bd, dnnl_x), "bias descriptor");
		CHECK(dnnl_memory_create(&tr->bias, MD(m->bias), n->eng, tr->bfold), "bias memory");
		bias = MD(m->bias);
		if (fold_attr(n, &attr)) return -1;
	}
	// The evaluation pass never runs a backward pass: inference primitives.
	dnnl_prop_kind_t prop = p->train ? dnnl_forward_training : dnnl_forward_inference;
	dnnl_status_t st = md_make(&m->wany, 4, wd, dnnl_format_tag_any);
	if (st == dnnl_success) st = md_make(&m->wplain, 4, wd, dnnl_oihw);
	dnnl_dims_t sd = {p->batch, sv->c, sv->h, sv->w}, dd = {p->batch, t->c, t->h, t->w};
	if (st == dnnl_success) st = md_make(&m->sany, 4, sd, dnnl_format_tag_any);
	if (st == dnnl_success) st = md_make(&m->dany, 4, dd, dnnl_format_tag_any);
	mdp wany = MD(m->wany), wplain = MD(m->wplain), sany = MD(m->sany), dany = MD(m->dany);
	convspec cd = {conv_fwd, prop, src->md, wany, bias, tr->out.md, strides, padl, padr};
	convspec cdany = {conv_fwd, prop, sany, wany, bias, dany, strides, padl, padr};
	int bad = st != dnnl_success;
	if (bad)
		seterr(n, "onednn: convolution descriptors: status %d", (int)st);
	else
		bad = make_fast(n, &tr->fwd, &cd, &cdany, NULL, attr, "convolution forward");
	if (attr != n->attr) dnnl_primitive_attr_destroy(attr);
	if (bad) return -1;
	impl(p, &tr->fwd);
	dnnl_memory_t fsrc, fdst;
	if (adapt(n, dnnl_primitive_desc_query_md(tr->fwd.pd, dnnl_query_src_md, 0), src, &tr->fsrc, &tr->rw_fsrc, 1, &fsrc) ||
		adapt(n, dnnl_primitive_desc_query_md(tr->fwd.pd, dnnl_query_dst_md, 0), &tr->out, &tr->fdst, &tr->rw_fdst, 0, &fdst))
		return -1;
	mdp wfmd = dnnl_primitive_desc_query_md(tr->fwd.pd, dnnl_query_weights_md, 0);
	CHECK(dnnl_memory_create(&tr->wplain, wplain, n->eng, tr->fold ? tr->wfold : n->param[t->wparam]), "weights memory");
	if (dnnl_memory_desc_equal(wfmd, wplain)) {
		tr->wf.mem = tr->wplain; // used directly; not ours to destroy
		tr->wf.md = md_of(tr->wplain);
	} else {
		if (tens_md(n, &tr->wf, wfmd)) return -1;
		if (make_reorder(n, &tr->rw_fwd, tr->wplain, wplain, tr->wf.mem, wfmd)) return -1;
	}
	arg(&tr->fwd, DNNL_ARG_SRC, fsrc);
	arg(&tr->fwd, DNNL_ARG_WEIGHTS, tr->wf.mem);
	arg(&tr->fwd, DNNL_ARG_DST, fdst);
	if (tr->fold) arg(&tr->fwd, DNNL_ARG_BIAS, tr->bias);
	if (!p->train) return 0;

	// Backward: the weight gradient always, the data gradient when the
	// source needs one.
	// The output's gradient: the vertex's own (its BN input's, or its
	// value's) when the conv feeds it unreconciled, else a buffer of ours.
	if (t->c == tv->c && t->h == tv->h && t->w == tv->w) {
		tens *g = tv->bn ? &p->v[to].dpre : &p->v[to].dval;
		tr->dout = *g;
		tr->dout.owned = 0;
	} else if (tens_init(n, &tr->dout, p->batch, t->c, t->h, t->w, vblk(n, t->c))) {
		return -1;
	}
	if (grad_alloc(n, t->wparam)) return -1;
	CHECK(dnnl_memory_create(&tr->dwplain, wplain, n->eng, n->grad[t->wparam]), "weights memory");
	// Backward weights chooses its own layouts for the source and the
	// output gradient: with a plain source (the input image) the blocked
	// ones have only a reference implementation, hundreds of times slower.
	// Channels-last, it takes ours as they are where it has a kernel for them.
	convspec bw = {conv_bwd_weights, 0, sany, wany, NULL, dany, strides, padl, padr};
	convspec bwl = {conv_bwd_weights, 0, src->md, wany, NULL, tr->dout.md, strides, padl, padr};
	if (n->nhwc ? make_fast(n, &tr->bwdw, &bwl, &bw, tr->fwd.pd, n->attr, "convolution backward weights")
				: make_prim(n, &tr->bwdw, conv_pd(n->eng, &tr->bwdw.pd, &bw, tr->fwd.pd, n->attr), "convolution backward weights"))
		return -1;
	impl(p, &tr->bwdw);
	mdp bsmd = dnnl_primitive_desc_query_md(tr->bwdw.pd, dnnl_query_src_md, 0);
	mdp bdmd = dnnl_primitive_desc_query_md(tr->bwdw.pd, dnnl_query_diff_dst_md, 0);
	dnnl_memory_t bsrc = src->mem, bdout = tr->dout.mem;
	if (!dnnl_memory_desc_equal(bsmd, src->md)) {
		if (tens_md(n, &tr->bsrc, bsmd) || make_reorder(n, &tr->rw_bsrc, src->mem, src->md, tr->bsrc.mem, bsmd)) return -1;
		bsrc = tr->bsrc.mem;
	}
	if (!dnnl_memory_desc_equal(bdmd, tr->dout.md)) {
		if (tens_md(n, &tr->bdout, bdmd) || make_reorder(n, &tr->rw_bdout, tr->dout.mem, tr->dout.md, tr->bdout.mem, bdmd)) return -1;
		bdout = tr->bdout.mem;
	}
	mdp dwmd = dnnl_primitive_desc_query_md(tr->bwdw.pd, dnnl_query_diff_weights_md, 0);
	if (dnnl_memory_desc_equal(dwmd, wplain)) {
		tr->dw.mem = tr->dwplain;
		tr->dw.md = md_of(tr->dwplain);
	} else {
		if (tens_md(n, &tr->dw, dwmd)) return -1;
		if (make_reorder(n, &tr->rw_dw, tr->dw.mem, dwmd, tr->dwplain, wplain)) return -1;
	}
	arg(&tr->bwdw, DNNL_ARG_SRC, bsrc);
	arg(&tr->bwdw, DNNL_ARG_DIFF_DST, bdout);
	arg(&tr->bwdw, DNNL_ARG_DIFF_WEIGHTS, tr->dw.mem);
	if (!p->v[t->src].needgrad) return 0;
	int taps = sv->c * t->kh * t->kw;
	if (src->blk == 1 && taps <= PLAIN_BWD_MAX_TAPS) {
		// See plain_bwd_data.
		int lanes = (taps + 15) / 16 * 16, oblk = tr->dout.blk;
		size_t ocpad = (size_t)(t->c + oblk - 1) / oblk * oblk;
		tr->cbwd = 1;
		tr->ctaps = taps;
		tr->cwt = falloc(ocpad * lanes);
		tr->cols = falloc((size_t)t->h * t->w * lanes);
		if (!tr->cwt || !tr->cols) {
			seterr(n, "onednn: out of memory");
			return -1;
		}
		impl_name(p, "evoswarm:plain_bwd_data");
		return 0;
	}
	convspec bd = {conv_bwd_data, 0, src->md, wany, NULL, tr->out.md, strides, padl, padr};
	convspec bdany = {conv_bwd_data, 0, sany, wany, NULL, dany, strides, padl, padr};
	if (make_fast(n, &tr->bwdd, &bd, &bdany, tr->fwd.pd, n->attr, "convolution backward data")) return -1;
	impl(p, &tr->bwdd);
	mdp wbmd = dnnl_primitive_desc_query_md(tr->bwdd.pd, dnnl_query_weights_md, 0);
	if (dnnl_memory_desc_equal(wbmd, wplain)) {
		tr->wb.mem = tr->wplain;
		tr->wb.md = md_of(tr->wplain);
	} else if (dnnl_memory_desc_equal(wbmd, wfmd)) {
		tr->wb.mem = tr->wf.mem;
		tr->wb.md = tr->wf.md;
	} else {
		if (tens_md(n, &tr->wb, wbmd)) return -1;
		if (make_reorder(n, &tr->rw_bwdd, tr->wplain, wplain, tr->wb.mem, wbmd)) return -1;
	}
	CHECK(dnnl_memory_create(&tr->dsrc, src->md, n->eng, p->v[t->src].dval.p), "memory");
	tens target = {.md = md_of(tr->dsrc), .mem = tr->dsrc}; // its handle is set each step
	dnnl_memory_t bdd, bds;
	if (adapt(n, dnnl_primitive_desc_query_md(tr->bwdd.pd, dnnl_query_diff_dst_md, 0), &tr->dout, &tr->bdd, &tr->rw_bdd, 1, &bdd) ||
		adapt(n, dnnl_primitive_desc_query_md(tr->bwdd.pd, dnnl_query_diff_src_md, 0), &target, &tr->bds, &tr->rw_bds, 0, &bds))
		return -1;
	arg(&tr->bwdd, DNNL_ARG_DIFF_DST, bdd);
	arg(&tr->bwdd, DNNL_ARG_WEIGHTS, tr->wb.mem);
	arg(&tr->bwdd, DNNL_ARG_DIFF_SRC, bds);
	return 0;
}

static int build_bn(esw_net *n, pass *p, int i) {
	const esw_vertex *v = &n->v[i];
	vert_rt *vr = &p->v[i];
	tens *x = vr->prev;
	if (tens_init(n, &vr->bnout, p->batch, v->c, v->h, v->w, vblk(n, v->c))) return -1;
	vr->val = &vr->bnout;
	if (vblk(n, v->c) == 1 || n->nhwc) {
		// oneDNN's batch norm over a plain layout is a generic loop, slower
		// on the one-channel input vertex than the blocked kernel over
		// eight times the data; ours is a few vectorised passes. Over
		// channels-last, 2.6's is a generic loop too for most channel
		// counts (8x slower than blocked for 19 or 35 channels).
		vr->cbn = 1;
		if (vblk(n, v->c) > 1) {
			vr->cacc = malloc(nhwc_scratch(v->c));
			if (!vr->cacc) {
				seterr(n, "onednn: out of memory");
				return -1;
			}
		}
		if (p->train) {
			vr->mean.p = falloc(v->c), vr->var.p = falloc(v->c);
			vr->mean.owned = vr->var.owned = 1;
			if (!vr->mean.p || !vr->var.p) {
				seterr(n, "onednn: out of memory");
				return -1;
			}
			if (grad_alloc(n, v->scale) || grad_alloc(n, v->shift)) return -1;
		}
		return 0;
	}
	if (vec_mem(n, &vr->scale, n->param[v->scale], v->c) || vec_mem(n, &vr->shift, n->param[v->shift], v->c))
		return -1;
	unsigned flags = dnnl_use_scale | dnnl_use_shift | dnnl_fuse_norm_relu;
	if (!p->train) {
		if (vec_mem(n, &vr->rmean, n->param[v->mean], v->c) || vec_mem(n, &vr->rvar, n->param[v->var], v->c))
			return -1;
		if (make_prim(n, &vr->bnf,
			    bn_pd(n->eng, &vr->bnf.pd, dnnl_forward_inference, x->md, vr->bnout.md, NULL, NULL, n->eps,
				    flags | dnnl_use_global_stats, NULL, n->attr),
			    "batch norm inference"))
			return -1;
		impl(p, &vr->bnf);
		arg(&vr->bnf, DNNL_ARG_SRC, x->mem);
		arg(&vr->bnf, DNNL_ARG_DST, vr->bnout.mem);
		arg(&vr->bnf, DNNL_ARG_SCALE, vr->scale);
		arg(&vr->bnf, DNNL_ARG_SHIFT, vr->shift);
		arg(&vr->bnf, DNNL_ARG_MEAN, vr->rmean);
		arg(&vr->bnf, DNNL_ARG_VARIANCE, vr->rvar);
		return 0;
	}
	if (make_prim(n, &vr->bnf,
		    bn_pd(n->eng, &vr->bnf.pd, dnnl_forward_training, x->md, vr->bnout.md, NULL, NULL, n->eps, flags, NULL, n->attr),
		    "batch norm forward"))
		return -1;
	impl(p, &vr->bnf);
	mdp mmd = dnnl_primitive_desc_query_md(vr->bnf.pd, dnnl_query_exec_arg_md, DNNL_ARG_MEAN);
	mdp vmd = dnnl_primitive_desc_query_md(vr->bnf.pd, dnnl_query_exec_arg_md, DNNL_ARG_VARIANCE);
	mdp wmd = dnnl_primitive_desc_query_md(vr->bnf.pd, dnnl_query_exec_arg_md, DNNL_ARG_WORKSPACE);
	if (!mmd || !vmd || !wmd) {
		seterr(n, "onednn: batch norm: no mean, variance or workspace descriptor");
		return -1;
	}
	if (tens_md(n, &vr->mean, mmd) || tens_md(n, &vr->var, vmd) || tens_md(n, &vr->ws, wmd)) return -1;
	arg(&vr->bnf, DNNL_ARG_SRC, x->mem);
	arg(&vr->bnf, DNNL_ARG_DST, vr->bnout.mem);
	arg(&vr->bnf, DNNL_ARG_SCALE, vr->scale);
	arg(&vr->bnf, DNNL_ARG_SHIFT, vr->shift);
	arg(&vr->bnf, DNNL_ARG_MEAN, vr->mean.mem);
	arg(&vr->bnf, DNNL_ARG_VARIANCE, vr->var.mem);
	arg(&vr->bnf, DNNL_ARG_WORKSPACE, vr->ws.mem);

	if (grad_alloc(n, v->scale) || grad_alloc(n, v->shift)) return -1;
	if (vec_mem(n, &vr->dscale, n->grad[v->scale], v->c) || vec_mem(n, &vr->dshift, n->grad[v->shift], v->c))
		return -1;
	if (make_prim(n, &vr->bnb,
		    bn_pd(n->eng, &vr->bnb.pd, dnnl_backward, x->md, NULL, vr->dpre.md, vr->dval.md, n->eps, flags, vr->bnf.pd,
			    n->attr),
		    "batch norm backward"))
		return -1;
	impl(p, &vr->bnb);
	arg(&vr->bnb, DNNL_ARG_SRC, x->mem);
	arg(&vr->bnb, DNNL_ARG_MEAN, vr->mean.mem);
	arg(&vr->bnb, DNNL_ARG_VARIANCE, vr->var.mem);
	arg(&vr->bnb, DNNL_ARG_DIFF_DST, vr->dval.mem);
	arg(&vr->bnb, DNNL_ARG_SCALE, vr->scale);
#if DNNL_VERSION_MAJOR < 3
	// The shift plays no part in the gradients: 2.x wants it all the
	// same, 3.x refuses it.
	arg(&vr->bnb, DNNL_ARG_SHIFT, vr->shift);
#endif
	arg(&vr->bnb, DNNL_ARG_WORKSPACE, vr->ws.mem);
	arg(&vr->bnb, DNNL_ARG_DIFF_SRC, vr->dpre.mem);
	arg(&vr->bnb, DNNL_ARG_DIFF_SCALE, vr->dscale);
	arg(&vr->bnb, DNNL_ARG_DIFF_SHIFT, vr->dshift);
	return 0;
}

static pass *build_pass(esw_net *n, int batch, int train) {
	n->nhwc = train ? n->nhwc_train : n->nhwc_eval; // what vblk and tag_of build
	pass *p = calloc(1, sizeof *p);
	if (!p) {
		seterr(n, "onednn: out of memory");
		return NULL;
	}
	p->batch = batch, p->train = train;
	n->building = p;
	if (dnnl_stream_create(&p->strm, n->eng, dnnl_stream_default_flags) != dnnl_success) {
		p->strm = NULL;
		seterr(n, "onednn: stream");
		goto fail;
	}
	p->v = calloc(n->nvert, sizeof(vert_rt));
	p->t = calloc(n->nterm + 1, sizeof(term_rt));
	int C = n->v[n->out].c, K = n->classes;
	p->labels = calloc(batch, sizeof(int32_t));
	p->pooled = falloc((size_t)batch * C);
	p->logits = falloc((size_t)batch * K);
	p->probs = falloc((size_t)batch * K);
	p->dlogits = falloc((size_t)batch * K);
	p->dpooled = falloc((size_t)batch * C);
	if (!p->v || !p->t || !p->labels || !p->pooled || !p->logits || !p->probs || !p->dlogits || !p->dpooled) {
		seterr(n, "onednn: out of memory");
		goto fail;
	}
	const esw_vertex *in = &n->v[0];
	// The input is plain NCHW, as Go writes it; of one channel that is the
	// same bytes as NHWC, so a channels-last network reads it as such.
	if (tens_init_tag(n, &p->x, batch, in->c, in->h, in->w, 1, n->nhwc && in->c == 1 ? dnnl_nhwc : dnnl_nchw)) goto fail;
	p->v[0].val = &p->x;
	// Which vertices need a gradient, and how many terms read each.
	for (int i = 1; i < n->nvert; i++) {
		const esw_vertex *v = &n->v[i];
		int need = v->bn;
		for (int k = v->term0; k < v->term0 + v->nterms; k++) {
			need |= n->t[k].conv | p->v[n->t[k].src].needgrad;
			vert_rt *sr = &p->v[n->t[k].src];
			sr->consumers++;
			sr->reader = k, sr->readby = i;
		}
		p->v[i].needgrad = need;
	}
	p->v[n->out].consumers++;
	// Gradients first: the terms' backward-data writes into them. Last
	// vertex first, so that a vertex whose one reader is an identity edge
	// of the same shape takes its reader's input gradient as its own
	// (the same buffer; contribute then copies nothing).
	for (int i = n->nvert - 1; i >= 1; i--) {
		const esw_vertex *v = &n->v[i];
		vert_rt *vr = &p->v[i];
		if (train && vr->needgrad) {
			const esw_vertex *rv = &n->v[vr->readby];
			// (The output vertex's one reader is the pool, not a term.)
			if (vr->consumers == 1 && i != n->out && !n->t[vr->reader].conv && v->c == rv->c && v->h == rv->h &&
				v->w == rv->w) {
				vert_rt *rr = &p->v[vr->readby];
				vr->dval = rv->bn ? rr->dpre : rr->dval;
				vr->dval.owned = 0;
			} else if (tens_init(n, &vr->dval, batch, v->c, v->h, v->w, vblk(n, v->c))) {
				goto fail;
			}
			if (v->bn && tens_init(n, &vr->dpre, batch, v->c, v->h, v->w, vblk(n, v->c))) goto fail;
			if (vr->consumers > 1 && tens_init(n, &vr->dscratch, batch, v->c, v->h, v->w, vblk(n, v->c))) goto fail;
		}
	}
	for (int i = 1; i < n->nvert; i++) {
		const esw_vertex *v = &n->v[i];
		vert_rt *vr = &p->v[i];
		for (int k = v->term0; k < v->term0 + v->nterms; k++) {
			const esw_term *t = &n->t[k];
			term_rt *tr = &p->t[k];
			if (t->conv) {
				if (build_conv(n, p, k, i)) goto fail;
				tr->val = &tr->out;
			} else {
				tr->val = p->v[t->src].val;
			}
			if (tr->val->c != v->c || tr->val->h != v->h || tr->val->w != v->w || tr->val->blk != vblk(n, v->c)) {
				// A vertex of several terms sums them reconciled as it
				// goes; a single term is reconciled into a buffer.
				tr->need_rec = 1;
				if (v->nterms == 1) {
					if (tens_init(n, &tr->rec, batch, v->c, v->h, v->w, vblk(n, v->c))) goto fail;
					tr->val = &tr->rec;
				}
			}
		}
		vr->first = -1;
		if (v->nterms == 1) {
			vr->prev = p->t[v->term0].val;
			vr->folded = p->t[v->term0].fold; // its value is the conv's output
		} else {
			// A sum is computed in place of one of its terms where that
			// term's buffer is read by nothing else: a convolution's output
			// in the vertex's shape (backward never reads it), or else the
			// BN-ReLU value of a vertex read only by this identity edge
			// (its batch-norm backward reads the BN input and the ReLU
			// mask, not the value; our own loops (plain or NHWC) read the value,
			// so not those). Otherwise it is a buffer of its own.
			for (int k = v->term0; k < v->term0 + v->nterms && vr->first < 0; k++)
				if (n->t[k].conv && !p->t[k].need_rec) vr->first = k;
			for (int k = v->term0; k < v->term0 + v->nterms && vr->first < 0; k++) {
				const vert_rt *sr = &p->v[n->t[k].src];
				if (!n->t[k].conv && !p->t[k].need_rec && n->t[k].src > 0 && sr->consumers == 1 &&
					sr->val == &sr->bnout && !sr->cbn)
					vr->first = k;
			}
			if (vr->first >= 0) {
				vr->prev = p->t[vr->first].val;
			} else {
				if (tens_init(n, &vr->pre, batch, v->c, v->h, v->w, vblk(n, v->c))) goto fail;
				vr->prev = &vr->pre;
			}
		}
		vr->val = vr->prev;
		if (v->bn && !vr->folded && build_bn(n, p, i)) goto fail;
	}
	if (train) {
		if (grad_alloc(n, n->fcw) || grad_alloc(n, n->fcb)) goto fail;
	}
	size_t most = 0;
	for (int k = 0; k < p->nops; k++) {
		mdp md = dnnl_primitive_desc_query_md(p->ops[k]->pd, dnnl_query_scratchpad_md, 0);
		size_t sz = md ? dnnl_memory_desc_get_size(md) : 0;
		most = sz > most ? sz : most;
	}
	if (most > 0) {
		p->scratch = falloc((most + 3) / 4);
		if (!p->scratch) {
			seterr(n, "onednn: out of memory (scratchpad of %zu bytes)", most);
			goto fail;
		}
		for (int k = 0; k < p->nops; k++) {
			op *o = p->ops[k];
			mdp md = dnnl_primitive_desc_query_md(o->pd, dnnl_query_scratchpad_md, 0);
			if (!md || dnnl_memory_desc_get_size(md) == 0) continue;
			if (dnnl_memory_create(&o->scratch, md, n->eng, p->scratch) != dnnl_success) {
				seterr(n, "onednn: scratchpad memory");
				goto fail;
			}
			arg(o, DNNL_ARG_SCRATCHPAD, o->scratch);
		}
	}
	return p;
fail:
	pass_free(n, p);
	return NULL;
}

// get_pass returns a pass, building it on first use. Every entry point
// comes through here, so it also sets the calling thread's OpenMP team size:
// oneDNN sizes a primitive's work split when it is created, and a primitive
// made for more threads than run it waits at its barriers. A pass is one
// batch size, training or not, lane and team size: the lanes of an
// evaluation split the network's threads and run concurrently, each on
// buffers and a scratchpad of its own.
static pass *find_pass(esw_net *n, int batch, int train, int lane, int threads) {
	omp_set_num_threads(threads);
	for (pass *p = n->passes; p; p = p->next)
		if (p->batch == batch && p->train == train && p->lane == lane && p->threads == threads) return p;
	pass *p = build_pass(n, batch, train);
	if (!p) return NULL;
	p->lane = lane;
	p->threads = threads;
	p->next = n->passes;
	n->passes = p;
	return p;
}

static pass *get_pass(esw_net *n, int batch, int train) { return find_pass(n, batch, train, 0, n->threads); }

static int forward(esw_net *n, pass *p);

// lane_pass is inference lane `lane` of `lanes`, with its share of the
// threads.
static pass *lane_pass(esw_net *n, int batch, int lane, int lanes) {
	if (lanes < 1 || lane < 0 || lane >= lanes) {
		seterr(n, "onednn: lane %d of %d", lane, lanes);
		return NULL;
	}
	int t = n->threads / lanes;
	return find_pass(n, batch, 0, lane, t > 0 ? t : 1);
}

float *esw_lane_input(esw_net *n, int batch, int lane, int lanes) {
	pass *p = lane_pass(n, batch, lane, lanes);
	return p ? p->x.p : NULL;
}

float *esw_lane_logits(esw_net *n, int batch, int lane, int lanes) {
	pass *p = lane_pass(n, batch, lane, lanes);
	return p ? p->logits : NULL;
}

int esw_lane_forward(esw_net *n, int batch, int lane, int lanes) {
	pass *p = lane_pass(n, batch, lane, lanes);
	if (!p) return -1;
	return forward(n, p);
}

void esw_release(esw_net *n, int train) {
	for (pass **pp = &n->passes; *pp;) {
		pass *p = *pp;
		if (p->train == train) {
			*pp = p->next;
			pass_free(n, p);
		} else {
			pp = &p->next;
		}
	}
}

float *esw_input(esw_net *n, int batch, int train) {
	pass *p = get_pass(n, batch, train);
	return p ? p->x.p : NULL;
}

int32_t *esw_labels(esw_net *n, int batch, int train) {
	pass *p = get_pass(n, batch, train);
	return p ? p->labels : NULL;
}

float *esw_logits(esw_net *n, int batch, int train) {
	pass *p = get_pass(n, batch, train);
	return p ? p->logits : NULL;
}

int esw_impls(esw_net *n, int batch, int train, char *out, int outlen) {
	pass *p = get_pass(n, batch, train);
	if (!p) return -1;
	snprintf(out, outlen, "%s", p->impls);
	return 0;
}

int esw_channels_last(const esw_net *n) { return n->nhwc_train; }

int esw_folded(esw_net *n, int batch) {
	pass *p = get_pass(n, batch, 0);
	if (!p) return -1;
	int k = 0;
	for (int i = 0; i < n->nvert; i++) k += p->v[i].folded;
	return k;
}

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
// One copy of a function per instruction set, chosen when the library
// loads, for the loops below that the compiler vectorises: AVX-512, AVX2,
// or the baseline's SSE2. Each lane's operations are the same in every
// copy, and no multiply-add is fused (GCC contracts none in ISO C mode,
// -std=c11; clang would by default, hence the pragma), so are the results.
#define VCLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif
#else
#define VCLONES
#endif
typedef float v16 __attribute__((vector_size(64)));

// Sums over a plane in double run in DLANES lanes, element k in lane
// k % DLANES, added together in a fixed order at the end: the lanes are
// independent, so the compiler vectorises them without reordering any one
// sum, where a single running sum is one scalar add after another.
#define DLANES 8
static inline double lanes_total(const double *a) {
	return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

// BN-ReLU over a plain (NCHW) vertex: y = max(0, g*(x-m)/sqrt(v+eps) + b)
// with the batch's mean and biased variance when training (summed in
// double, two passes), the running ones when evaluating.
VCLONES
static void bn_plain_fwd(const esw_net *n, pass *p, int i) {
	const esw_vertex *v = &n->v[i];
	vert_rt *vr = &p->v[i];
	const float *x = vr->prev->p, *g = n->param[v->scale], *bt = n->param[v->shift];
	float *y = vr->bnout.p;
	size_t HW = (size_t)v->h * v->w;
	double cnt = (double)p->batch * HW;
	for (int c = 0; c < v->c; c++) {
		float m, var;
		if (p->train) {
			double s[DLANES] = {0}, q[DLANES] = {0};
			for (int b = 0; b < p->batch; b++) {
				const float *xs = x + ((size_t)b * v->c + c) * HW;
				size_t k = 0;
				for (; k + DLANES <= HW; k += DLANES)
					for (int j = 0; j < DLANES; j++) s[j] += xs[k + j];
				for (; k < HW; k++) s[k % DLANES] += xs[k];
			}
			double md = lanes_total(s) / cnt;
			for (int b = 0; b < p->batch; b++) {
				const float *xs = x + ((size_t)b * v->c + c) * HW;
				size_t k = 0;
				for (; k + DLANES <= HW; k += DLANES)
					for (int j = 0; j < DLANES; j++) {
						double d = xs[k + j] - md;
						q[j] += d * d;
					}
				for (; k < HW; k++) {
					double d = xs[k] - md;
					q[k % DLANES] += d * d;
				}
			}
			m = (float)md, var = (float)(lanes_total(q) / cnt);
			vr->mean.p[c] = m, vr->var.p[c] = var;
		} else {
			m = n->param[v->mean][c], var = n->param[v->var][c];
		}
		float a = g[c] / sqrtf(var + n->eps), o = bt[c] - a * m;
		for (int b = 0; b < p->batch; b++) {
			const float *xs = x + ((size_t)b * v->c + c) * HW;
			float *ys = y + ((size_t)b * v->c + c) * HW;
			for (size_t k = 0; k < HW; k++) {
				float t = a * xs[k] + o;
				ys[k] = t > 0 ? t : 0;
			}
		}
	}
}

// bn_nhwc_fwd is bn_plain_fwd over a channels-last vertex: the same
// arithmetic, each channel's sums in double. Its loops run over the
// tensor as one flat array in blocks of L = lcm(C, 16) values (L/C whole
// pixels), each block against per-channel parameters repeated to length
// L: every inner loop is whole vectors, where a loop over one pixel's C
// channels left a scalar tail of C % 16 at every pixel. A channel's sum is
// kept as 4 * L/C partial sums, one per pixel position in each of the four
// blocks summed at a time (NHWC_WAYS), added in
// a fixed order at the end.
static int nhwc_period(int C) {
	int L = C;
	while (L % 16) L += C;
	return L;
}

// nhwc_scratch is the bytes a channels-last BN-ReLU vertex of C channels
// needs beyond its statistics: 2 doubles a channel, then 8 doubles and 5
// floats a block position.
static size_t nhwc_scratch(int C) {
	size_t L = nhwc_period(C);
	return 2 * sizeof(double) * C + (8 * sizeof(double) + 5 * sizeof(float)) * L;
}

// The sums run over four blocks at a time into four sets of partial sums
// (acc[0:4L]): a partial sum lives in memory, and one set would make every
// block wait on the last one's stores.
#define NHWC_WAYS 4

// nhwc_fold adds the NHWC_WAYS * L/C partial sums of each channel into
// s[0:C], in a fixed order.
static void nhwc_fold(const double *acc, int C, int L, double *s) {
	for (int c = 0; c < C; c++) {
		double t = 0;
		for (int r = c; r < L; r += C)
			t += (acc[r] + acc[L + r]) + (acc[2 * L + r] + acc[3 * L + r]);
		s[c] = t;
	}
}

VCLONES
static void nhwc_sums(const float *restrict x, size_t n, int L, double *restrict acc) {
	double *restrict a1 = acc + L, *restrict a2 = acc + 2 * L, *restrict a3 = acc + 3 * L;
	for (int j = 0; j < NHWC_WAYS * L; j++) acc[j] = 0;
	size_t e = 0;
	for (; e + NHWC_WAYS * L <= n; e += NHWC_WAYS * L) {
		const float *x0 = x + e, *x1 = x0 + L, *x2 = x1 + L, *x3 = x2 + L;
		for (int j = 0; j < L; j++) acc[j] += x0[j], a1[j] += x1[j], a2[j] += x2[j], a3[j] += x3[j];
	}
	for (; e + L <= n; e += L)
		for (int j = 0; j < L; j++) acc[j] += x[e + j];
	for (int j = 0; e + j < n; j++) acc[j] += x[e + j];
}

VCLONES
static void nhwc_sqdev(const float *restrict x, size_t n, int L, const double *restrict m, double *restrict acc) {
	double *restrict a1 = acc + L, *restrict a2 = acc + 2 * L, *restrict a3 = acc + 3 * L;
	for (int j = 0; j < NHWC_WAYS * L; j++) acc[j] = 0;
	size_t e = 0;
	for (; e + NHWC_WAYS * L <= n; e += NHWC_WAYS * L) {
		const float *x0 = x + e, *x1 = x0 + L, *x2 = x1 + L, *x3 = x2 + L;
		for (int j = 0; j < L; j++) {
			double d0 = x0[j] - m[j], d1 = x1[j] - m[j], d2 = x2[j] - m[j], d3 = x3[j] - m[j];
			acc[j] += d0 * d0, a1[j] += d1 * d1, a2[j] += d2 * d2, a3[j] += d3 * d3;
		}
	}
	for (; e + L <= n; e += L)
		for (int j = 0; j < L; j++) {
			double d = x[e + j] - m[j];
			acc[j] += d * d;
		}
	for (int j = 0; e + j < n; j++) {
		double d = x[e + j] - m[j];
		acc[j] += d * d;
	}
}

VCLONES
static void nhwc_affine_relu(const float *restrict x, size_t n, int L, const float *restrict a, const float *restrict o,
	float *restrict y) {
	size_t e = 0;
	for (; e + L <= n; e += L)
		for (int j = 0; j < L; j++) {
			float t = a[j] * x[e + j] + o[j];
			y[e + j] = t > 0 ? t : 0;
		}
	for (int j = 0; e + j < n; j++) {
		float t = a[j] * x[e + j] + o[j];
		y[e + j] = t > 0 ? t : 0;
	}
}

static void bn_nhwc_fwd(const esw_net *n, pass *p, int i) {
	const esw_vertex *v = &n->v[i];
	vert_rt *vr = &p->v[i];
	const float *x = vr->prev->p, *g = n->param[v->scale], *bt = n->param[v->shift];
	const int C = v->c, L = nhwc_period(C);
	const size_t np = (size_t)p->batch * v->h * v->w, ne = np * C;
	double *s = vr->cacc, *q = s + C, *acc = q + C, *md = acc + NHWC_WAYS * L;
	float *a = (float *)(acc + 8 * L), *o = a + L;
	const float *m, *var;
	if (p->train) {
		double cnt = (double)np;
		nhwc_sums(x, ne, L, acc);
		nhwc_fold(acc, C, L, s);
		for (int c = 0; c < C; c++) s[c] /= cnt;
		for (int j = 0; j < L; j++) md[j] = s[j % C];
		nhwc_sqdev(x, ne, L, md, acc);
		nhwc_fold(acc, C, L, q);
		for (int c = 0; c < C; c++) vr->mean.p[c] = (float)s[c], vr->var.p[c] = (float)(q[c] / cnt);
		m = vr->mean.p, var = vr->var.p;
	} else {
		m = n->param[v->mean], var = n->param[v->var];
	}
	for (int j = 0; j < L; j++) {
		int c = j % C;
		a[j] = g[c] / sqrtf(var[c] + n->eps), o[j] = bt[c] - a[j] * m[c];
	}
	nhwc_affine_relu(x, ne, L, a, o, vr->bnout.p);
}

// The ReLU's mask as a factor (1 or 0), not a select: GCC keeps a select
// that feeds a double sum as a branch, and does not vectorise it. The
// value differs only where the incoming gradient is not finite.
VCLONES
static void nhwc_grad_sums(const float *restrict x, const float *restrict y, const float *restrict dy, size_t n, int L,
	const float *restrict m, const float *restrict is, double *restrict sb, double *restrict sg) {
	for (int j = 0; j < NHWC_WAYS * L; j++) sb[j] = 0, sg[j] = 0;
	size_t e = 0;
	for (; e + NHWC_WAYS * L <= n; e += NHWC_WAYS * L)
		for (int w = 0; w < NHWC_WAYS; w++) {
			const float *xw = x + e + w * L, *yw = y + e + w * L, *gw = dy + e + w * L;
			double *restrict bw = sb + w * L, *restrict cw = sg + w * L;
			for (int j = 0; j < L; j++) {
				float d = gw[j] * (float)(yw[j] > 0);
				bw[j] += d;
				cw[j] += d * ((xw[j] - m[j]) * is[j]);
			}
		}
	for (; e + L <= n; e += L)
		for (int j = 0; j < L; j++) {
			float d = dy[e + j] * (float)(y[e + j] > 0);
			sb[j] += d;
			sg[j] += d * ((x[e + j] - m[j]) * is[j]);
		}
	for (int j = 0; e + j < n; j++) {
		float d = dy[e + j] * (float)(y[e + j] > 0);
		sb[j] += d;
		sg[j] += d * ((x[e + j] - m[j]) * is[j]);
	}
}

VCLONES
static void nhwc_grad_in(const float *restrict x, const float *restrict y, const float *restrict dy, size_t n, int L,
	const float *restrict m, const float *restrict is, const float *restrict f, const float *restrict mb,
	const float *restrict mg, float *restrict dx) {
	size_t e = 0;
	for (; e + L <= n; e += L)
		for (int j = 0; j < L; j++) {
			float d = dy[e + j] * (float)(y[e + j] > 0);
			dx[e + j] = f[j] * (d - mb[j] - (x[e + j] - m[j]) * is[j] * mg[j]);
		}
	for (int j = 0; e + j < n; j++) {
		float d = dy[e + j] * (float)(y[e + j] > 0);
		dx[e + j] = f[j] * (d - mb[j] - (x[e + j] - m[j]) * is[j] * mg[j]);
	}
}

// bn_nhwc_bwd is bn_plain_bwd over a channels-last vertex.
static void bn_nhwc_bwd(const esw_net *n, pass *p, int i) {
	const esw_vertex *v = &n->v[i];
	vert_rt *vr = &p->v[i];
	const float *x = vr->prev->p, *y = vr->bnout.p, *dy = vr->dval.p, *g = n->param[v->scale];
	float *dg = n->grad[v->scale], *db = n->grad[v->shift];
	const int C = v->c, L = nhwc_period(C);
	const size_t np = (size_t)p->batch * v->h * v->w, ne = np * C;
	double cnt = (double)np;
	double *sb = vr->cacc, *sg = sb + C, *ab = sg + C, *ag = ab + NHWC_WAYS * L;
	float *m = (float *)(ab + 8 * L), *is = m + L, *f = is + L, *mb = f + L, *mg = mb + L;
	for (int j = 0; j < L; j++) {
		int c = j % C;
		m[j] = vr->mean.p[c], is[j] = 1.0f / sqrtf(vr->var.p[c] + n->eps);
	}
	nhwc_grad_sums(x, y, dy, ne, L, m, is, ab, ag);
	nhwc_fold(ab, C, L, sb);
	nhwc_fold(ag, C, L, sg);
	for (int c = 0; c < C; c++) dg[c] = (float)sg[c], db[c] = (float)sb[c];
	for (int j = 0; j < L; j++) {
		int c = j % C;
		f[j] = g[c] * is[j], mb[j] = (float)(sb[c] / cnt), mg[j] = (float)(sg[c] / cnt);
	}
	nhwc_grad_in(x, y, dy, ne, L, m, is, f, mb, mg, vr->dpre.p);
}

// bn_plain_bwd: the gradient of bn_plain_fwd's training form. With
// dy' = dy where y > 0, xh = (x-m)/s: dshift = sum dy', dscale = sum dy'*xh,
// dx = g/(s*N) * (N*dy' - dshift - xh*dscale).
VCLONES
static void bn_plain_bwd(const esw_net *n, pass *p, int i) {
	const esw_vertex *v = &n->v[i];
	vert_rt *vr = &p->v[i];
	const float *x = vr->prev->p, *y = vr->bnout.p, *dy = vr->dval.p, *g = n->param[v->scale];
	float *dx = vr->dpre.p, *dg = n->grad[v->scale], *db = n->grad[v->shift];
	size_t HW = (size_t)v->h * v->w;
	double cnt = (double)p->batch * HW;
	for (int c = 0; c < v->c; c++) {
		float m = vr->mean.p[c], is = 1.0f / sqrtf(vr->var.p[c] + n->eps);
		double sbl[DLANES] = {0}, sgl[DLANES] = {0};
		for (int b = 0; b < p->batch; b++) {
			size_t o = ((size_t)b * v->c + c) * HW, k = 0;
			for (; k + DLANES <= HW; k += DLANES)
				for (int j = 0; j < DLANES; j++) {
					float d = y[o + k + j] > 0 ? dy[o + k + j] : 0;
					sbl[j] += d;
					sgl[j] += d * ((x[o + k + j] - m) * is);
				}
			for (; k < HW; k++) {
				float d = y[o + k] > 0 ? dy[o + k] : 0;
				sbl[k % DLANES] += d;
				sgl[k % DLANES] += d * ((x[o + k] - m) * is);
			}
		}
		double sb = lanes_total(sbl), sg = lanes_total(sgl);
		dg[c] = (float)sg, db[c] = (float)sb;
		float f = g[c] * is, mb = (float)(sb / cnt), mg = (float)(sg / cnt);
		for (int b = 0; b < p->batch; b++) {
			size_t o = ((size_t)b * v->c + c) * HW;
			for (size_t k = 0; k < HW; k++) {
				float d = y[o + k] > 0 ? dy[o + k] : 0;
				dx[o + k] = f * (d - mb - (x[o + k] - m) * is * mg);
			}
		}
	}
}

// plain_bwd_data is a convolution's backward data into a plain (NCHW)
// source of few channels: the input image's one channel after a BN-ReLU,
// say. oneDNN runs it as a scatter over the source's pixels; 2.6's kernel
// took 0.40 ms a step for 60m-best's first convolution (50 x 1 x 28 x 28
// from 16 channels, 3x3, stride 2) and 3.7's brgconv_strided 0.97 ms, a
// third and then half of the whole step. It is two loops here: for each
// output pixel the sums over output channels for every tap (a pixel's
// gradient vector times the weights as a channels x taps matrix, the taps
// padded to whole vectors of 16), then each tap's sum added into the
// source pixel it came from. That is 0.09 ms on the same shape
// (docs/performance.md). Summation order is fixed: deterministic.

// tap_sums adds, for each of np pixels, sum_j g[p*gs + j] * w[j] (j < nj,
// w[j] a row of 16 taps) into cols[p*cs : p*cs+16], or stores it (first).
VCLONES
static void tap_sums(const float *restrict g, size_t gs, int np, int nj, const float *restrict w, size_t ws,
	float *restrict cols, size_t cs, int first) {
	v16 wr[16];
	if (nj == 16) {
		for (int j = 0; j < 16; j++) memcpy(&wr[j], w + j * ws, sizeof(v16));
		for (int p = 0; p < np; p++) {
			const float *gp = g + p * gs;
			// Four chains, so that each add does not wait on the last.
			v16 a0 = gp[0] * wr[0], a1 = gp[1] * wr[1], a2 = gp[2] * wr[2], a3 = gp[3] * wr[3];
			for (int j = 4; j < 16; j += 4) {
				a0 += gp[j] * wr[j], a1 += gp[j + 1] * wr[j + 1];
				a2 += gp[j + 2] * wr[j + 2], a3 += gp[j + 3] * wr[j + 3];
			}
			v16 a = (a0 + a1) + (a2 + a3), c;
			if (!first) memcpy(&c, cols + p * cs, sizeof c), a += c;
			memcpy(cols + p * cs, &a, sizeof a);
		}
		return;
	}
	if (nj == 8) {
		for (int j = 0; j < 8; j++) memcpy(&wr[j], w + j * ws, sizeof(v16));
		for (int p = 0; p < np; p++) {
			const float *gp = g + p * gs;
			v16 a0 = gp[0] * wr[0], a1 = gp[1] * wr[1], a2 = gp[2] * wr[2], a3 = gp[3] * wr[3];
			a0 += gp[4] * wr[4], a1 += gp[5] * wr[5], a2 += gp[6] * wr[6], a3 += gp[7] * wr[7];
			v16 a = (a0 + a1) + (a2 + a3), c;
			if (!first) memcpy(&c, cols + p * cs, sizeof c), a += c;
			memcpy(cols + p * cs, &a, sizeof a);
		}
		return;
	}
	for (int p = 0; p < np; p++) {
		const float *gp = g + p * gs;
		v16 a = {0}, c, r;
		for (int j = 0; j < nj; j++) memcpy(&r, w + j * ws, sizeof r), a += gp[j] * r;
		if (!first) memcpy(&c, cols + p * cs, sizeof c), a += c;
		memcpy(cols + p * cs, &a, sizeof a);
	}
}

static void plain_bwd_data(const esw_net *n, pass *p, int k, float *dsrc) {
	const esw_term *t = &n->t[k];
	term_rt *tr = &p->t[k];
	const esw_vertex *sv = &n->v[t->src];
	const tens *g = &tr->dout;
	int taps = tr->ctaps, lanes = (taps + 15) / 16 * 16, ob = g->blk, ocb = (t->c + ob - 1) / ob;
	int OH = t->h, OW = t->w, H = sv->h, W = sv->w, S = t->stride, KH = t->kh, KW = t->kw;
	int pt = (KH - 1) / 2, pl = (KW - 1) / 2, np = OH * OW;
	// The weights (OIHW: an output channel's row is its taps) as rows of
	// lanes, one per output channel; the padding stays zero.
	const float *w = n->param[t->wparam];
	for (int o = 0; o < t->c; o++) memcpy(tr->cwt + (size_t)o * lanes, w + (size_t)o * taps, taps * sizeof(float));
	memset(dsrc, 0, (size_t)p->batch * sv->c * H * W * sizeof(float));
	for (int b = 0; b < p->batch; b++) {
		for (int cb = 0; cb < ocb; cb++) {
			// A block of ob output channels: pixel p's at g + p*ob (ob 8 or
			// 16, or channels-last all of them), or, plain (ob 1), channel
			// cb's plane.
			int nj = t->c - cb * ob < ob ? t->c - cb * ob : ob;
			const float *gb = g->p + ((size_t)b * ocb + cb) * np * ob;
			for (int v = 0; v < lanes; v += 16)
				tap_sums(gb, ob, np, nj, tr->cwt + (size_t)cb * ob * lanes + v, lanes, tr->cols + v, lanes, cb == 0);
		}
		for (int ci = 0; ci < sv->c; ci++)
			for (int ky = 0; ky < KH; ky++)
				for (int oy = 0; oy < OH; oy++) {
					int iy = oy * S + ky - pt;
					if (iy < 0 || iy >= H) continue;
					float *row = dsrc + (((size_t)b * sv->c + ci) * H + iy) * W;
					for (int kx = 0; kx < KW; kx++) {
						const float *c = tr->cols + (size_t)oy * OW * lanes + (ci * KH + ky) * KW + kx;
						int ox0 = 0, ox1 = OW;
						while (ox0 < OW && ox0 * S + kx - pl < 0) ox0++;
						while (ox1 > ox0 && (ox1 - 1) * S + kx - pl >= W) ox1--;
						for (int ox = ox0; ox < ox1; ox++) row[ox * S + kx - pl] += c[(size_t)ox * lanes];
					}
				}
	}
}

// pool_block sums hw runs of blk contiguous values lane by lane into
// acc[0:blk]. The block sizes are constants in their loops, so the
// compiler keeps the sums in registers; with blk a variable it kept them
// in memory, a store and a load on every add. (On a large output the
// loop is bound by reading the value from memory either way.)
static void pool_block(const float *restrict src, int hw, int blk, float *restrict acc) {
#define POOL(B)                                                              \
	do {                                                                     \
		float a[B] = {0};                                                    \
		for (int i = 0; i < hw; i++)                                         \
			for (int j = 0; j < B; j++) a[j] += src[(size_t)i * B + j];      \
		for (int j = 0; j < B; j++) acc[j] = a[j];                           \
	} while (0)
	switch (blk) {
	case 16: POOL(16); break;
	case 8: POOL(8); break;
	default:
		for (int j = 0; j < blk; j++) acc[j] = 0;
		for (int i = 0; i < hw; i++)
			for (int j = 0; j < blk; j++) acc[j] += src[(size_t)i * blk + j];
	}
#undef POOL
}

// forward runs the network up to the logits.
static int forward(esw_net *n, pass *p) {
	for (int i = 1; i < n->nvert; i++) {
		const esw_vertex *v = &n->v[i];
		vert_rt *vr = &p->v[i];
		for (int k = v->term0; k < v->term0 + v->nterms; k++) {
			term_rt *tr = &p->t[k];
			if (n->t[k].conv) {
				if (tr->fold) fold_weights(n, k, tr, v);
				if (run_opt(n, &tr->rw_fwd, "weights reorder") || run_opt(n, &tr->rw_fsrc, "source reorder") ||
					run(n, &tr->fwd, "convolution") || run_opt(n, &tr->rw_fdst, "output reorder"))
					return -1;
			}
			if (tr->need_rec && v->nterms == 1) reconcile_fwd(n->t[k].conv ? &tr->out : p->v[n->t[k].src].val, &tr->rec);
		}
		if (v->nterms > 1) {
			// The sum starts as the term computed in place, or as a copy of
			// the first term already in the vertex's shape; the others are
			// added (reconciled where their shapes differ).
			tens *sum = vr->prev;
			int first = vr->first;
			if (first < 0) {
				for (int k = v->term0; k < v->term0 + v->nterms && first < 0; k++)
					if (!p->t[k].need_rec) first = k;
				if (first >= 0)
					memcpy(sum->p, p->t[first].val->p, sum->n * sizeof(float));
				else
					memset(sum->p, 0, sum->n * sizeof(float));
			}
			for (int k = v->term0; k < v->term0 + v->nterms; k++)
				if (k != first) accumulate(p->t[k].val, sum);
		}
		if (v->bn && !vr->folded) {
			if (vr->cbn && vr->cacc)
				bn_nhwc_fwd(n, p, i);
			else if (vr->cbn)
				bn_plain_fwd(n, p, i);
			else if (run(n, &vr->bnf, "batch norm"))
				return -1;
			if (p->train) {
				// Running statistics as PyTorch keeps them: the new batch
				// weighted by the momentum, its variance unbiased.
				float *rm = n->param[v->mean], *rv = n->param[v->var];
				double cnt = (double)p->batch * v->h * v->w;
				float m = n->bnm;
				for (int c = 0; c < v->c; c++) {
					double var = vr->var.p[c];
					double unb = cnt > 1 ? var * cnt / (cnt - 1) : var;
					rm[c] = (1 - m) * rm[c] + m * vr->mean.p[c];
					rv[c] = (1 - m) * rv[c] + m * (float)unb;
				}
			}
		}
	}
	// Global average pool and the fully connected layer.
	const tens *o = p->v[n->out].val;
	int C = o->c, HW = o->h * o->w, K = n->classes;
	float inv = 1.0f / HW;
	int ob = o->blk, ocb = (C + ob - 1) / ob;
	float acc[16];
	if (ob > 16) { // channels-last: one block of all C channels, summed straight into pooled
		for (int b = 0; b < p->batch; b++) {
			float *pb = p->pooled + (size_t)b * C;
			pool_block(o->p + (size_t)b * HW * C, HW, C, pb);
			for (int c = 0; c < C; c++) pb[c] *= inv;
		}
	} else
	for (int b = 0; b < p->batch; b++)
		for (int cb = 0; cb < ocb; cb++) {
			// One block of channels at a time: its h*w runs of blk values
			// are contiguous, summed lane by lane.
			const float *src = o->p + ((size_t)b * ocb + cb) * HW * ob;
			pool_block(src, HW, ob, acc);
			for (int j = 0; j < ob && cb * ob + j < C; j++) p->pooled[b * C + cb * ob + j] = acc[j] * inv;
		}
	const float *W = n->param[n->fcw], *bias = n->param[n->fcb];
	for (int b = 0; b < p->batch; b++)
		for (int k = 0; k < K; k++) {
			float s = 0;
			const float *x = &p->pooled[b * C], *w = &W[k * C];
			for (int c = 0; c < C; c++) s += x[c] * w[c];
			p->logits[b * K + k] = s + bias[k];
		}
	return 0;
}

int esw_forward(esw_net *n, int batch) {
	pass *p = get_pass(n, batch, 0);
	if (!p) return -1;
	return forward(n, p);
}

// contribute adds a gradient into vertex i's: the first contribution of a
// step writes, later ones add.
static void contribute(vert_rt *vr, const float *g) {
	if (!vr->dset) {
		if (vr->dval.p != g) memcpy(vr->dval.p, g, vr->dval.n * sizeof(float));
		vr->dset = 1;
	} else {
		add(vr->dval.p, g, vr->dval.n);
	}
}

int esw_step(esw_net *n, int batch, float lr, double *loss) {
	pass *p = get_pass(n, batch, 1);
	if (!p) return -1;
	for (int i = 0; i < n->nparam; i++) n->gset[i] = 0;
	for (int i = 0; i < n->nvert; i++) p->v[i].dset = 0;
	if (forward(n, p)) return -1;

	// Softmax cross-entropy, mean over the batch.
	int K = n->classes, B = batch;
	double L = 0;
	for (int b = 0; b < B; b++) {
		const float *row = &p->logits[b * K];
		float *pr = &p->probs[b * K];
		float m = row[0];
		for (int k = 1; k < K; k++) m = row[k] > m ? row[k] : m;
		double z = 0;
		for (int k = 0; k < K; k++) {
			double e = exp((double)(row[k] - m));
			pr[k] = (float)e;
			z += e;
		}
		double iz = 1 / z;
		for (int k = 0; k < K; k++) pr[k] = (float)(pr[k] * iz);
		int y = p->labels[b];
		if (y < 0 || y >= K) {
			seterr(n, "onednn: label %d outside [0, %d)", y, K);
			return -1;
		}
		L -= (double)(row[y] - m) - log(z);
	}
	L /= B;
	*loss = L;
	if (!isfinite(L)) return 0;

	// Backward: the loss, the fully connected layer, the pool.
	float f = 1.0f / B;
	for (int b = 0; b < B; b++) {
		for (int k = 0; k < K; k++) p->dlogits[b * K + k] = f * p->probs[b * K + k];
		p->dlogits[b * K + p->labels[b]] -= f;
	}
	vert_rt *ov = &p->v[n->out];
	const tens *o = ov->val;
	int C = o->c, HW = o->h * o->w;
	const float *W = n->param[n->fcw];
	float *dW = n->grad[n->fcw], *db = n->grad[n->fcb];
	memset(dW, 0, sizeof(float) * K * C);
	memset(db, 0, sizeof(float) * K);
	for (int b = 0; b < B; b++) {
		const float *d = &p->dlogits[b * K], *x = &p->pooled[b * C];
		float *dx = &p->dpooled[b * C];
		for (int c = 0; c < C; c++) dx[c] = 0;
		for (int k = 0; k < K; k++) {
			float g = d[k];
			db[k] += g;
			float *dwr = &dW[k * C];
			const float *wr = &W[k * C];
			for (int c = 0; c < C; c++) {
				dwr[c] += g * x[c];
				dx[c] += g * wr[c];
			}
		}
	}
	n->gset[n->fcw] = n->gset[n->fcb] = 1;
	if (ov->needgrad) {
		tens *dv = &ov->dval;
		float inv = 1.0f / HW;
		int db = dv->blk, dcb = (C + db - 1) / db;
		if (db > 16) { // channels-last
			for (int b = 0; b < B; b++) {
				const float *gb = p->dpooled + (size_t)b * C;
				float *dst = dv->p + (size_t)b * HW * C;
				for (int i = 0; i < HW; i++)
					for (int c = 0; c < C; c++) dst[(size_t)i * C + c] = gb[c] * inv;
			}
		} else
		for (int b = 0; b < B; b++)
			for (int cb = 0; cb < dcb; cb++) {
				float g[16] = {0};
				for (int j = 0; j < db && cb * db + j < C; j++) g[j] = p->dpooled[b * C + cb * db + j] * inv;
				float *dst = dv->p + ((size_t)b * dcb + cb) * HW * db;
				for (int i = 0; i < HW; i++)
					for (int j = 0; j < db; j++) dst[(size_t)i * db + j] = g[j];
			}
		ov->dset = 1;
	}

	// Through the graph, last vertex first.
	for (int i = n->nvert - 1; i >= 1; i--) {
		const esw_vertex *v = &n->v[i];
		vert_rt *vr = &p->v[i];
		if (!vr->needgrad || !vr->dset) continue;
		tens *dpre = &vr->dval;
		if (v->bn) {
			if (vr->cbn && vr->cacc)
				bn_nhwc_bwd(n, p, i);
			else if (vr->cbn)
				bn_plain_bwd(n, p, i);
			else if (run(n, &vr->bnb, "batch norm backward"))
				return -1;
			n->gset[v->scale] = n->gset[v->shift] = 1;
			dpre = &vr->dpre;
		}
		for (int k = v->term0; k < v->term0 + v->nterms; k++) {
			const esw_term *t = &n->t[k];
			term_rt *tr = &p->t[k];
			vert_rt *sr = &p->v[t->src];
			if (!t->conv) {
				if (!sr->needgrad) continue;
				if (tr->need_rec) {
					if (!sr->dset) {
						memset(sr->dval.p, 0, sr->dval.n * sizeof(float));
						sr->dset = 1;
					}
					reconcile_bwd(dpre, &sr->dval);
				} else {
					contribute(sr, dpre->p);
				}
				continue;
			}
			// The conv output's gradient (dpre itself when not reconciled).
			if (tr->need_rec) {
				memset(tr->dout.p, 0, tr->dout.n * sizeof(float));
				reconcile_bwd(dpre, &tr->dout);
			}
			if (run_opt(n, &tr->rw_bsrc, "source reorder") || run_opt(n, &tr->rw_bdout, "gradient reorder") ||
				run(n, &tr->bwdw, "convolution backward weights") || run_opt(n, &tr->rw_dw, "weights reorder"))
				return -1;
			n->gset[t->wparam] = 1;
			if (!sr->needgrad) continue;
			float *target = sr->dset ? sr->dscratch.p : sr->dval.p;
			if (tr->cbwd) {
				plain_bwd_data(n, p, k, target);
			} else {
				if (run_opt(n, &tr->rw_bwdd, "weights reorder")) return -1;
				CHECK(dnnl_memory_set_data_handle(tr->dsrc, target), "memory handle");
				if (run_opt(n, &tr->rw_bdd, "gradient reorder") || run(n, &tr->bwdd, "convolution backward data") ||
					run_opt(n, &tr->rw_bds, "gradient reorder"))
					return -1;
			}
			if (sr->dset) add(sr->dval.p, sr->dscratch.p, sr->dval.n);
			sr->dset = 1;
		}
	}

	// SGD with momentum and decoupled-from-nothing L2, as torch.optim.SGD:
	// d = g + decay*w; v = momentum*v + d; w -= lr*v.
	for (int i = 0; i < n->nparam; i++) {
		if (!(n->pflags[i] & ESW_TRAIN)) continue;
		float *w = n->param[i], *g = n->grad[i], *vel = n->vel[i];
		if (!g || !vel) continue;
		float dec = (n->pflags[i] & ESW_DECAY) ? n->decay : 0, mom = n->momentum;
		int has = n->gset[i];
		for (int j = 0; j < n->psize[i]; j++) {
			float d = (has ? g[j] : 0) + dec * w[j];
			float vv = mom * vel[j] + d;
			vel[j] = vv;
			w[j] -= lr * vv;
		}
	}
	return 0;
}
