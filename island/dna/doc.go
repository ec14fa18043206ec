// Package dna is the genome of evoswarm: the paper's DNA.
//
// A Genome is a directed acyclic graph whose vertices are activation tensors
// (LINEAR or BN_RELU) and whose edges are CONV or IDENTITY, plus the learning
// rate, the input shape and the number of classes. The network built from it
// ends in global average pooling, a fully connected layer and softmax.
//
// Weights are not part of the genome. Every weight-bearing part carries a
// stable weight ID (a conv edge's kernel, a BN_RELU vertex's scale, offset
// and running statistics, the fully connected layer) so that the training
// engine can copy a parent's tensors into its child wherever the ID and the
// shape match.
//
// # Lifecycle
//
// Initial builds the paper's trivial individual. Mutate copies a genome and
// applies one of the eleven mutations, chosen by weight (uniform by default),
// retrying until the result is valid and within the Bounds. Resolve computes
// every vertex's shape with the primary-edge rule; Validate checks structure,
// shapes and bounds; Params and FLOPs count the cost from the genome alone.
//
// # Encodings
//
// MarshalBinary gives a versioned, deterministic encoding whose SHA-256 is the
// genome's ID. MarshalJSON gives the same content for people. Both decoders
// refuse oversized, truncated, malformed or out-of-bound input with an error
// and never panic; they check structure, not experiment bounds, which the
// caller applies with Validate.
package dna
