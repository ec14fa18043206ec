// Package experiment runs a plan: K seeds times several configurations of
// evoswarm at equal compute (the same wall time and the same total cores
// for every configuration), and summarises what came out.
//
// A configuration is a partial experiment (what `evoswarm init
// --experiment FILE` reads) plus a topology: how many nodes, isolated or
// connected in a local swarm over 127.0.0.1, and how many cores each. A
// Runner starts each run's daemons through an Env (the `evoswarm
// experiment` verb gives it `evoswarm local`'s machinery), samples their
// status API into a progress curve (time, best validation accuracy so far
// over the run's nodes, children trained, FLOPs), stops them, and exports
// the best-by-validation individual once to measure its test accuracy.
// Runs go one after another, or as many at once as the cores allow.
//
// Summarize computes the statistics from the curves: per configuration the
// mean and spread over seeds, and between configurations two-sided
// Welch's t and Mann-Whitney U tests on the final best validation
// accuracy. WriteOutputs writes curves.csv, runs.csv, summary.md and the
// figure (curves.png, curves.svg).
//
// It sits under cmd/evoswarm/internal because it drives nodes (it imports
// node to create and configure their repos and read their status); the
// libraries under the top-level internal/ never import node.
package experiment
