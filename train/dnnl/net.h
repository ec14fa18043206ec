// The oneDNN engine: a genome's network built from oneDNN primitives and a
// few loops of our own, trained and evaluated in one call per step or batch.
//
// The Go side describes the network (vertices in topological order, their
// input terms, the parameters) with these plain structs; the C side owns
// every buffer (parameters, activations, gradients), so no Go pointer is
// kept after a call returns.
#ifndef EVOSWARM_DNNL_NET_H
#define EVOSWARM_DNNL_NET_H

#include <stddef.h>
#include <stdint.h>

// A term: one input edge of a vertex, from vertex src (an index into the
// vertex array), through a convolution or not, reconciled to the vertex's
// shape when its own shape differs.
typedef struct {
	int32_t src;
	int32_t conv;    // 1: convolution edge; 0: identity
	int32_t wparam;  // conv weights' parameter index (O, I, KH, KW)
	int32_t kh, kw, stride;
	int32_t c, h, w; // the edge's output shape
} esw_term;

// A vertex, in topological order; the first is the input.
typedef struct {
	int32_t c, h, w;
	int32_t bn;                          // 1: BN-ReLU vertex
	int32_t scale, shift, mean, var;     // parameter indices (bn only)
	int32_t term0, nterms;               // its terms
} esw_vertex;

// Parameter flags.
enum { ESW_TRAIN = 1, ESW_DECAY = 2 };

typedef struct esw_net esw_net;

// esw_create builds a network's description and its parameters (zeroed;
// set them with esw_param). It returns NULL and writes err on failure.
esw_net *esw_create(const esw_vertex *v, int nvert, const esw_term *t, int nterm,
	const int32_t *param_size, const int32_t *param_flags, int nparam,
	int out_vertex, int fc_w, int fc_b, int classes,
	float momentum, float decay, float bn_momentum, float bn_eps, int threads,
	char *err, int errlen);
void esw_destroy(esw_net *n);

// esw_param returns parameter i's storage (plain layout, as Go keeps it).
float *esw_param(esw_net *n, int i);

// esw_input returns the input and label buffers of a pass (allocating the
// pass on first use: train != 0 for the training pass of that batch). NULL
// on failure, with esw_error set.
float *esw_input(esw_net *n, int batch, int train);
int32_t *esw_labels(esw_net *n, int batch, int train);
float *esw_logits(esw_net *n, int batch, int train);

// esw_step runs one training step on the training pass's input and labels
// with the network's OpenMP threads: forward, loss, backward and the SGD update
// (skipped when the loss is not finite). It writes the loss and returns 0,
// or -1 with esw_error set.
int esw_step(esw_net *n, int batch, float lr, double *loss);

// esw_forward runs the inference pass of a batch size (batch norm on its
// running statistics) and leaves its logits in esw_logits(n, batch, 0).
int esw_forward(esw_net *n, int batch);

// Inference lanes: an evaluation split over `lanes` concurrent callers,
// each running its own pass (buffers, scratchpad) with n's threads divided
// among them. esw_lane_input builds lane `lane`'s pass on first use; build
// every lane (one call each, from one thread) before running them
// concurrently: building is not thread-safe, running distinct lanes is.
float *esw_lane_input(esw_net *n, int batch, int lane, int lanes);
float *esw_lane_logits(esw_net *n, int batch, int lane, int lanes);
int esw_lane_forward(esw_net *n, int batch, int lane, int lanes);
// esw_release frees the training passes (train != 0) or the inference
// passes; a later call builds them again. Parameters and the optimiser's
// state stay.
void esw_release(esw_net *n, int train);

const char *esw_error(esw_net *n);

// esw_impls writes the oneDNN implementations that the training pass of a
// batch size uses (for diagnostics), comma-separated.
int esw_impls(esw_net *n, int batch, int train, char *out, int outlen);

// esw_folded is how many BN-ReLU vertices the inference pass of a batch
// size runs folded into their one convolution (building the pass if
// needed); -1 on error.
int esw_folded(esw_net *n, int batch);

// esw_channels_last reports whether the network's activations are
// channels-last (NHWC: where oneDNN's blocks would pad its convolutions
// much) rather than in blocks.
int esw_channels_last(const esw_net *n);

// esw_isa names the instruction set oneDNN dispatches to.
const char *esw_isa(void);

// esw_block is the channels of one block of the blocked activation
// layouts: 16 where oneDNN dispatches to AVX-512 (any of its kinds), 8
// below.
int esw_block(void);

#endif
