// Package island is one node's evolution: its sub-population, the paper's
// pairwise tournaments run by asynchronous workers, and the migration policy
// that exchanges individuals with other islands.
//
// Selection is a set of pure, deterministic functions over a population view
// (selection.go). The genome and its mutations live in the dna subpackage.
package island
