// Package report draws figures of evolution runs from their records.
//
// Data enters as Series, one per node: NewSeries builds one from a node's
// records of its individuals (Record: what a daemon's API or a stopped
// repo lists, read and passed in by the caller; report imports no node
// code and opens no store), and tests or other tools may build them
// directly. Figures leave as images written to an io.Writer, in any format
// gonum/plot supports (png, svg, pdf, ...).
//
// Figure1 is the paper's Figure 1 (Real et al. 2017): every individual as
// a dot at its birth time and validation accuracy, and each node's
// best-so-far curve.
package report
