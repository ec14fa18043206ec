// Command workload describes the children a run really trained, from the
// stores of its nodes: how many, their training seconds, how much of their
// convolution arithmetic the oneDNN engine's channel blocks add, and how
// many have a convolution narrower than a block. It opens each store
// read-only, so a stopped node's repo (or a copy) is enough.
//
//	go run ./scripts/bench/workload REPO_OR_DB_DIR...
//
// The engine keeps an activation of fewer than 8 channels plain and pads
// any other to a multiple of its block (16 with AVX-512, 8 with AVX2;
// train/dnnl/net.c, vblk), and a convolution then computes every padded
// channel. "Blocked / real" is the per-image convolution FLOPs with those
// padded channel counts over the FLOPs the genome asks for, summed over
// the children weighted by their training steps. Where that is 1.4 or more
// for one network, the engine (with AVX-512) trains it channels-last
// instead, with no padding.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/store"
)

// padded is the channel count the engine computes for c channels with
// blocks of blk.
func padded(c, blk int) float64 {
	if c < 8 {
		return float64(c)
	}
	return float64((c + blk - 1) / blk * blk)
}

type tally struct {
	children          int
	seconds           float64
	real, b16, b8     float64 // conv FLOPs per image x steps
	narrow            int     // children with a 2-15-channel convolution
	narrowSec         float64
	wasteful          int // children whose convolutions cost 1.4x or more with blocks of 16: they train channels-last
	wastefulSec       float64
	skipped, failures int
}

func (t *tally) add(ind *store.Individual) error {
	if ind.Immigrant || ind.TrainSeconds <= 0 || ind.Steps <= 0 {
		t.skipped++ // trained elsewhere, never trained, or failed
		return nil
	}
	g, err := dna.DecodeBinary(ind.Genome)
	if err != nil {
		return fmt.Errorf("individual %s: %w", ind.ID.Short(), err)
	}
	r, err := g.Resolve()
	if err != nil {
		t.failures++
		return nil
	}
	var real, b16, b8 float64
	narrow := false
	for j, e := range g.Edges {
		if e.Type != dna.Conv {
			continue
		}
		in := r.VertexShape[g.VertexIndex(e.From)].C
		out := r.EdgeShape[j]
		k := 2 * float64(out.H) * float64(out.W) * float64(e.FilterH) * float64(e.FilterW)
		in16, in8 := padded(in, 16), padded(in, 8)
		if e.From == g.InputVertex { // the input image stays plain
			in16, in8 = float64(in), float64(in)
		}
		real += k * float64(in) * float64(out.C)
		b16 += k * in16 * padded(out.C, 16)
		b8 += k * in8 * padded(out.C, 8)
		if out.C >= 2 && out.C < 16 {
			narrow = true
		}
	}
	steps := float64(ind.Steps)
	t.children++
	t.seconds += ind.TrainSeconds
	t.real += real * steps
	t.b16 += b16 * steps
	t.b8 += b8 * steps
	if narrow {
		t.narrow++
		t.narrowSec += ind.TrainSeconds
	}
	if real > 0 && b16 >= 1.4*real { // train/dnnl/net.c, NHWC_WASTE
		t.wasteful++
		t.wastefulSec += ind.TrainSeconds
	}
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/bench/workload REPO_OR_DB_DIR...")
		os.Exit(2)
	}
	var t tally
	for _, dir := range os.Args[1:] {
		if fi, err := os.Stat(filepath.Join(dir, "db")); err == nil && fi.IsDir() {
			dir = filepath.Join(dir, "db") // a node's repo
		}
		s, err := store.Open(dir, store.Options{ReadOnly: true})
		if err != nil {
			fmt.Fprintf(os.Stderr, "workload: %s: %v\n", dir, err)
			os.Exit(1)
		}
		err = s.View(func(tx *store.Tx) error { return tx.Individuals(t.add) })
		s.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "workload: %s: %v\n", dir, err)
			os.Exit(1)
		}
	}
	if t.children == 0 || t.real == 0 {
		fmt.Fprintln(os.Stderr, "workload: no individual with a convolution trained in these stores")
		os.Exit(1)
	}
	pct := func(a, b float64) float64 { return 100 * a / b }
	fmt.Printf("stores %d: %d children trained here, %.0f training seconds (%d records skipped: immigrants, in training or failed; %d unresolvable)\n",
		len(os.Args)-1, t.children, t.seconds, t.skipped, t.failures)
	fmt.Printf("convolution FLOPs, blocked / real: %.3f with blocks of 16 (AVX-512), %.3f with blocks of 8 (AVX2)\n", t.b16/t.real, t.b8/t.real)
	fmt.Printf("children whose convolutions cost 1.4x or more in blocks of 16 (with AVX-512 they train channels-last): %d (%.1f%%), %.1f%% of the training seconds\n",
		t.wasteful, pct(float64(t.wasteful), float64(t.children)), pct(t.wastefulSec, t.seconds))
	fmt.Printf("children with a 2-15-channel convolution: %d (%.1f%%), %.1f%% of the training seconds\n",
		t.narrow, pct(float64(t.narrow), float64(t.children)), pct(t.narrowSec, t.seconds))
}
