// Package dnnl trains and evaluates a genome's network with oneDNN (Intel's
// deep-learning primitives, the library PyTorch runs on the CPU), one cgo
// call per training step or evaluation batch. It is built with the dnnl
// build tag (and Debian's libdnnl-dev); without it, Enabled is false and
// package train uses its gorgonia engine alone.
//
// The network is described in plain terms (vertices in topological order,
// their input terms, the parameters) so that this package knows nothing of
// genomes: package train lays a genome out and drives it.
package dnnl

import "errors"

// ErrDisabled is returned by New in a build without the dnnl tag.
var ErrDisabled = errors.New("dnnl: this build has no oneDNN engine (build it with -tags dnnl and libdnnl-dev)")

// Vertex is one vertex of the network in topological order; the first is
// the input.
type Vertex struct {
	C, H, W int
	// BN marks a BN-ReLU vertex; Scale, Shift, Mean and Var are its
	// parameters' indices.
	BN                      bool
	Scale, Shift, Mean, Var int
	Terms                   []Term
}

// Term is one input of a vertex: the value of vertex Src, through a
// convolution when Conv is set, reconciled to the vertex's shape when the
// term's shape (C, H, W) differs.
type Term struct {
	Src     int
	Conv    bool
	Weight  int // the convolution's parameter index: (C, Src's C, KH, KW)
	KH, KW  int
	Stride  int
	C, H, W int
}

// Param is one parameter tensor: its size, whether SGD updates it and
// whether it is under weight decay.
type Param struct {
	Size         int
	Train, Decay bool
}

// Spec is a whole network: vertices, parameters, the output vertex (global
// average pool, then the fully connected layer FCWeight (Classes x C) and
// FCBias), and the optimiser's and batch norm's constants.
type Spec struct {
	Vertices              []Vertex
	Params                []Param
	Out                   int
	FCWeight, FCBias      int
	Classes               int
	Momentum, WeightDecay float32
	BNMomentum, BNEpsilon float32
	// Threads is the number of OpenMP threads the network runs on.
	Threads int
}
