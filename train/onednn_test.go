//go:build dnnl

package train

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/internal/testnet"
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train/dataset"
	"github.com/evoswarm/evoswarm/train/dnnl"
)

// The oneDNN engine against the gorgonia engine (the reference): the same
// initial weights and batches give the same logits, losses and weights.
func TestOneDNNAgreesWithGorgonia(t *testing.T) {
	quad := quadrants(t, 400)
	cases := []struct {
		name  string
		g     *dna.Genome
		data  *dataset.Set
		steps int // 50 when 0
	}{
		{"crosscheck", testnet.CrossCheck(), noise(13, 11, 3, 5, 200), 0},
		{"skipnet", skipNet(t), quad, 0},
		{"shrinknet", shrinkNet(t), quad, 0},
		{"reference", ReferenceCNNFor(dna.Shape{H: 12, W: 12, C: 1}, 4), quad, 0},
		{"evolved7", evolved(t, dna.Shape{H: 12, W: 12, C: 1}, 4, 7), quad, 0},
		{"evolved8", evolved(t, dna.Shape{H: 12, W: 12, C: 1}, 4, 8), quad, 0},
		{"evolved9", evolved(t, dna.Shape{H: 12, W: 12, C: 1}, 4, 9), quad, 0},
		// A real run's genome whose input passes through a one-channel
		// BN-ReLU: our plain-layout BN loops, not oneDNN's.
		{"60m-best", inputBN(t), quad, 0},
		// The same with the first convolution (our loops' backward data
		// into the one-channel BN-ReLU) changed: two blocks of output
		// channels, the second partial, and 25 taps (two vectors of 16);
		// and 4 output channels, a plain layout.
		{"60m-best-20ch-5x5", inputBNConv(t, 20, 5, 5, 0), quad, 0},
		{"60m-best-4ch-3x5", inputBNConv(t, 4, 3, 5, 1), quad, 0},
		// Sums computed in place: a convolution's output takes the
		// one-channel input's skip, and the output vertex sums in place
		// of a BN-ReLU value read by nothing else, whose gradient is its
		// reader's. 5 steps: the engines' weights agree to 1e-6 there,
		// but this network amplifies rounding: by step 20 they are 1e-4
		// to 1e-3 apart at learning rates 0.01-0.14, the same figures as
		// before the sums moved in place.
		{"8m-largest", evolvedSmall(t, "8m-largest.json"), quad, 5},
		// A real child whose 35-channel convolutions blocks of 16 would
		// pad 1.84x: it trains channels-last and evaluates blocked, as
		// such networks do (unless EVOSWARM_ONEDNN_LAYOUT says otherwise).
		{"s22-channels-last", sampleSmall(t, "s22.json"), quad, 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := smallConfig(0)
			cfg.Bounds.MaxParams = 1 << 20
			steps := c.steps
			if steps == 0 {
				steps = 50
			}
			a, err := CompareOneDNN(c.g, c.data, cfg, steps, 3)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Check(1e-4, 1e-3); err != nil {
				t.Fatal(err)
			}
			if a.WeightsMaxDiff > 1e-2 || !(a.FinalLogitsMaxDiff < 1e-2) {
				t.Errorf("weights %.2e apart after %d steps, final logits %.2e", a.WeightsMaxDiff, steps, a.FinalLogitsMaxDiff)
			}
			if len(a.LossCPU) != steps || a.LossCPU[steps-1] >= a.LossCPU[0] && c.name != "crosscheck" {
				t.Errorf("losses %v ... %v: training did not progress", a.LossCPU[:1], a.LossCPU[len(a.LossCPU)-1:])
			}
			t.Logf("%s: %d params, logits %.2e, loss %.2e, weights %.2e, final inference logits %.2e apart; loss %.4f -> %.4f",
				a.Genome, a.Params, a.LogitsMaxDiff, a.LossMaxDiff, a.WeightsMaxDiff, a.FinalLogitsMaxDiff, a.LossCPU[0], a.LossCPU[steps-1])
		})
	}
}

func TestTrainOnOneDNN(t *testing.T) {
	data := quadrants(t, 800)
	res, err := Train(context.Background(), skipNet(t), nil, data, smallConfig(150), RunOptions{Seed: 3, Test: true, Engine: EngineOneDNN})
	if err != nil {
		t.Fatal(err)
	}
	if res.Engine != EngineOneDNN || res.ValAccuracy < 0.9 || res.TestAccuracy == nil || *res.TestAccuracy < 0.9 {
		t.Errorf("quadrants after 150 steps on %q: val %.3f test %v, want >= 0.9 on %q", res.Engine, res.ValAccuracy, res.TestAccuracy, EngineOneDNN)
	}
	ref, err := Train(context.Background(), skipNet(t), nil, data, smallConfig(150), RunOptions{Seed: 3, Engine: EngineGorgonia})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(ref.FinalLoss-res.FinalLoss) > 0.05 || math.Abs(ref.ValAccuracy-res.ValAccuracy) > 0.03 {
		t.Errorf("gorgonia: loss %.4f val %.3f; oneDNN: loss %.4f val %.3f", ref.FinalLoss, ref.ValAccuracy, res.FinalLoss, res.ValAccuracy)
	}
	// The weights are engine-blind: the gorgonia engine evaluates them to
	// oneDNN's accuracy, and a child inheriting them untrained scores it.
	net, err := NewNetwork(skipNet(t), res.Weights, smallConfig(0))
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	ev, err := net.evalGraph(64)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := ev.accuracy(context.Background(), data, data.Val)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(acc-res.ValAccuracy) > 0.01 {
		t.Errorf("gorgonia evaluation of oneDNN's weights: %.3f, oneDNN measured %.3f", acc, res.ValAccuracy)
	}
	again, err := Train(context.Background(), skipNet(t), res.Weights, data, smallConfig(0), RunOptions{Seed: 4, Engine: EngineOneDNN})
	if err != nil {
		t.Fatal(err)
	}
	if again.NewTensors != 0 || math.Abs(again.ValAccuracy-res.ValAccuracy) > 1e-9 {
		t.Errorf("inherited: %d new tensors, val %.4f; parent val %.4f", again.NewTensors, again.ValAccuracy, res.ValAccuracy)
	}
}

func TestOneDNNDivergenceIsFitnessZero(t *testing.T) {
	data := quadrants(t, 200)
	g := skipNet(t)
	first, err := Train(context.Background(), g, nil, data, smallConfig(1), RunOptions{Seed: 1, Engine: EngineGorgonia})
	if err != nil {
		t.Fatal(err)
	}
	poisoned := first.Weights
	poisonFC(poisoned)
	res, err := Train(context.Background(), g, poisoned, data, smallConfig(20), RunOptions{Seed: 1, Engine: EngineOneDNN})
	if err != nil {
		t.Fatalf("divergence must not be an error: %v", err)
	}
	if !res.Diverged || res.ValAccuracy != 0 || res.Reason == "" || res.Steps != 1 {
		t.Errorf("diverged %v val %v reason %q steps %d: want fitness 0 with a reason after step 1", res.Diverged, res.ValAccuracy, res.Reason, res.Steps)
	}
}

// defaultOneDNNEngine builds g on the oneDNN engine with cfg (the
// default configuration), seeded alike in every test.
func defaultOneDNNEngine(t *testing.T, g *dna.Genome, cfg *Config) *oneDNNEngine {
	t.Helper()
	r, err := resolveWithin(g, cfg, forTraining)
	if err != nil {
		t.Fatal(err)
	}
	e, err := newOneDNNEngine(g, r, nil, cfg, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestOneDNNNoReferenceKernels: on every evolved genome from a real run,
// oneDNN runs its JIT kernels, never a reference implementation (hundreds
// of times slower: a blocked one-channel source once sent a convolution
// there).
func TestOneDNNNoReferenceKernels(t *testing.T) {
	cases := evolvedGenomes(t)
	cases["shrinknet"], cases["skipnet"] = shrinkNet(t), skipNet(t)
	for name, g := range cases {
		cfg := DefaultConfig()
		e := defaultOneDNNEngine(t, g, &cfg)
		for _, train := range []bool{true, false} {
			impls, err := e.net.Impls(cfg.BatchSize, train)
			if err != nil {
				t.Fatal(err)
			}
			if impls == "" || strings.Contains(impls, "ref") {
				t.Errorf("%s (training pass %v): implementations %q", name, train, impls)
			}
		}
		e.close()
	}
}

// TestOneDNNFoldsBatchNorm: in inference, a convolution that alone feeds a
// BN-ReLU vertex runs with the batch norm folded into it, on the networks
// evolution makes and on the reference CNN; the logits equal those of the
// unfolded network that the training pass computes with the running
// statistics (here: the gorgonia engine's, in TestOneDNNAgreesWithGorgonia
// and the PyTorch cross-check, which both read the inference pass).
func TestOneDNNFoldsBatchNorm(t *testing.T) {
	cases := evolvedGenomes(t)
	cases["reference"] = ReferenceCNNFor(dna.Shape{H: 28, W: 28, C: 1}, 10)
	cases["skipnet"] = skipNet(t)
	total := 0
	for name, g := range cases {
		cfg := DefaultConfig()
		e := defaultOneDNNEngine(t, g, &cfg)
		k, err := e.net.Folded(cfg.EvalBatch)
		e.close()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d vertices folded", name, k)
		if name == "reference" && k == 0 {
			t.Error("the reference CNN (convolutions each feeding a BN-ReLU) runs no vertex folded")
		}
		total += k
	}
	if total == 0 {
		t.Error("no vertex of any evolved genome runs folded")
	}
}

// sampleSmall is a genome of the sample of real children
// (scripts/bench/genomes/sample) on 12x12 images of 4 classes.
func sampleSmall(t *testing.T, name string) *dna.Genome {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "scripts", "bench", "genomes", "sample", name))
	if err != nil {
		t.Fatal(err)
	}
	g, err := dna.DecodeJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	g.Input, g.Classes = dna.Shape{H: 12, W: 12, C: 1}, 4
	if err := g.Validate(dna.DefaultBounds()); err != nil {
		t.Fatal(err)
	}
	return g
}

// inputBN is the evolved set's 60m-best genome (input -> one-channel
// BN-ReLU -> three strided convolutions) on 12x12 images of 4 classes.
func inputBN(t *testing.T) *dna.Genome {
	t.Helper()
	return evolvedSmall(t, "60m-best.json")
}

// TestOneDNNAgreesOnAVX2 runs the agreement tests again in a child
// process with oneDNN limited to AVX2, as on a machine without AVX-512:
// activations in blocks of 8 channels instead of 16, and plain below 8.
// (oneDNN reads ONEDNN_MAX_CPU_ISA once, when it starts.)
func TestOneDNNAgreesOnAVX2(t *testing.T) {
	if os.Getenv("ONEDNN_MAX_CPU_ISA") != "" {
		t.Skip("already limited to ONEDNN_MAX_CPU_ISA=" + os.Getenv("ONEDNN_MAX_CPU_ISA") + ": oneDNN runs " + dnnl.ISA())
	}
	if testing.Short() {
		t.Skip("short")
	}
	if dnnl.Block() != 16 {
		t.Skipf("oneDNN runs %s here (blocks of %d): the agreement tests already ran without AVX-512", dnnl.ISA(), dnnl.Block())
	}
	rerunInChild(t, "ONEDNN_MAX_CPU_ISA=AVX2", []string{"TestOneDNNAgreesWithGorgonia", "TestOneDNNAgreesOnEvolvedSweep", "TestOneDNNAgreesOnAVX2"},
		"--- PASS: TestOneDNNAgreesOnEvolvedSweep", "oneDNN runs avx2")
}

// rerunInChild runs the named tests of this binary again in a child
// process with env (NAME=value) added, as settings a library reads once
// at start must be, and fails unless the child passes and its verbose
// output holds every one of wants.
func rerunInChild(t *testing.T, env string, tests []string, wants ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^("+strings.Join(tests, "|")+")$", "-test.v", "-test.count=1", "-test.timeout=9m")
	cmd.Env = append(os.Environ(), env, "ONEDNN_VERBOSE=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("with %s: %v\n%s", env, err, out)
	}
	for _, want := range wants {
		if !strings.Contains(string(out), want) {
			t.Fatalf("with %s, no %q in the child's output:\n%s", env, want, out)
		}
	}
}

// TestOneDNNChannelsLast: a network trains channels-last where oneDNN's
// blocks of 16 would add 40% or more to its convolutions' arithmetic (a
// real child with 35-channel convolutions at 28x28: 1.84x), not where
// they add less (8m-largest: 16 -> 36 channels, 1.33x) or its channels
// fill the blocks (60m-best), and never with blocks of 8;
// EVOSWARM_ONEDNN_LAYOUT decides instead where it is set
// (TestOneDNNAgreesChannelsLast).
func TestOneDNNChannelsLast(t *testing.T) {
	env := os.Getenv("EVOSWARM_ONEDNN_LAYOUT")
	avx512 := dnnl.Block() == 16
	cases := evolvedGenomes(t)
	b, err := os.ReadFile(filepath.Join("..", "scripts", "bench", "genomes", "sample", "s22.json"))
	if err != nil {
		t.Fatal(err)
	}
	if cases["s22.json"], err = dna.DecodeJSON(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"s22.json": avx512, "8m-largest.json": false, "60m-best.json": false, "15m-median.json": false} {
		switch env {
		case "nhwc":
			want = true
		case "blocked":
			want = false
		}
		cfg := DefaultConfig()
		e := defaultOneDNNEngine(t, cases[name], &cfg)
		got := e.net.ChannelsLast()
		e.close()
		layout := map[bool]string{true: "nhwc", false: "blocked"}
		t.Logf("oneDNN layout of %s: %s (oneDNN runs %s)", name, layout[got], dnnl.ISA())
		if got != want {
			t.Errorf("%s: layout %s, want %s (EVOSWARM_ONEDNN_LAYOUT=%q, oneDNN runs %s)", name, layout[got], layout[want], env, dnnl.ISA())
		}
	}
}

// TestOneDNNAgreesChannelsLast runs the agreement tests again in a child
// process with every network channels-last, as the networks whose channel
// counts pad much run: our batch norm over NHWC, oneDNN's NHWC
// convolutions, and our own loops indexing one block of all channels.
func TestOneDNNAgreesChannelsLast(t *testing.T) {
	if os.Getenv("EVOSWARM_ONEDNN_LAYOUT") != "" {
		t.Skip("already EVOSWARM_ONEDNN_LAYOUT=" + os.Getenv("EVOSWARM_ONEDNN_LAYOUT"))
	}
	if testing.Short() {
		t.Skip("short")
	}
	tests := []string{"TestOneDNNAgreesWithGorgonia", "TestOneDNNAgreesOnEvolvedSweep", "TestOneDNNNoReferenceKernels",
		"TestOneDNNFoldsBatchNorm", "TestOneDNNLanes", "TestOneDNNChannelsLast"}
	wants := []string{"oneDNN layout of 60m-best.json: nhwc"}
	for _, name := range tests {
		wants = append(wants, "--- PASS: "+name)
	}
	rerunInChild(t, "EVOSWARM_ONEDNN_LAYOUT=nhwc", tests, wants...)
}

// inputBNConv is inputBN with its first convolution (the one that reads
// the one-channel BN-ReLU vertex) given c output channels, an fh x fw
// filter and the stride 2^strideLog2.
func inputBNConv(t *testing.T, c, fh, fw, strideLog2 int) *dna.Genome {
	t.Helper()
	g := inputBN(t)
	r, err := g.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for i := range g.Edges {
		e := &g.Edges[i]
		if e.Type != dna.Conv {
			continue
		}
		for v := range g.Vertices {
			if g.Vertices[v].ID == e.From && r.VertexShape[v].C == 1 {
				e.Channels, e.FilterH, e.FilterW, e.StrideLog2 = c, fh, fw, strideLog2
				found = true
			}
		}
	}
	if !found {
		t.Fatal("60m-best has no convolution from a one-channel vertex")
	}
	if err := g.Validate(dna.DefaultBounds()); err != nil {
		t.Fatal(err)
	}
	return g
}

// evolvedSmall is a genome of the evolved benchmark set on 12x12 images
// of 4 classes.
func evolvedSmall(t *testing.T, name string) *dna.Genome {
	t.Helper()
	g := evolvedGenomes(t)[name]
	if g == nil {
		t.Fatalf("no %s in the evolved set", name)
	}
	g.Input, g.Classes = dna.Shape{H: 12, W: 12, C: 1}, 4
	if err := g.Validate(dna.DefaultBounds()); err != nil {
		t.Fatal(err)
	}
	return g
}

// TestOneDNNLanes: evaluating with several threads runs one lane per
// thread, each on its own pass; every prediction equals the one-lane
// evaluation's, for lane counts that divide the batches and that do not,
// and for a split shorter than the lanes.
func TestOneDNNLanes(t *testing.T) {
	data := quadrants(t, 800) // 200 validation images
	g := inputBN(t)
	res, err := Train(context.Background(), g, nil, data, smallConfig(60), RunOptions{Seed: 5, Engine: EngineOneDNN})
	if err != nil {
		t.Fatal(err)
	}
	predict := func(threads int, split *dataset.Split) []int32 {
		t.Helper()
		cfg := smallConfig(0)
		cfg.Threads = threads
		r, err := resolveWithin(g, &cfg, forTraining)
		if err != nil {
			t.Fatal(err)
		}
		e, err := newOneDNNEngine(g, r, res.Weights, &cfg, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			t.Fatal(err)
		}
		defer e.close()
		pred, err := e.predict(context.Background(), data, split, 16)
		if err != nil {
			t.Fatal(err)
		}
		if len(pred) != split.N {
			t.Fatalf("%d threads: %d predictions for %d images", threads, len(pred), split.N)
		}
		return pred
	}
	short := &dataset.Split{N: 20, Pixels: data.Val.Pixels[:20*144], Labels: data.Val.Labels[:20]}
	for _, split := range []*dataset.Split{data.Val, short} {
		want := predict(1, split)
		for _, threads := range []int{2, 3, 4} {
			got := predict(threads, split)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%d threads (lanes), %d images: image %d predicted %d, one lane %d", threads, split.N, i, got[i], want[i])
				}
			}
		}
	}
}

// TestOneDNNAgreesOnEvolvedSweep: many seeded evolved-like genomes, for
// the layouts' and buffers' special cases (sums computed in place of a
// term, gradients shared with a sole reader, reconciled skips, one-channel
// vertices, channel counts that leave a block part empty): the first
// steps agree with the gorgonia engine.
func TestOneDNNAgreesOnEvolvedSweep(t *testing.T) {
	quad := quadrants(t, 200)
	in := dna.Shape{H: 12, W: 12, C: 1}
	o := dna.DefaultMutateOptions()
	o.Bounds.MaxParams = 50_000
	o.Bounds.MaxFLOPs = 10_000_000
	o.Bounds.MaxChannels = 32
	var conv, bn, grad, plain, ours int
	for seed := uint64(100); seed < 160; seed++ {
		// Half the genomes grow blocks of channels (a BN-ReLU value of a
		// whole block is oneDNN's; a narrower one is our plain loops').
		o.InsertMinChannels = 1 + 15*int(seed%2)
		g, err := testnet.Evolved(in, 4, seed, 3, 3, 15, o)
		if err != nil {
			t.Fatal(err)
		}
		g.LearningRate = 0.05
		cfg := smallConfig(0)
		cfg.Bounds.MaxParams = 1 << 20
		a, err := CompareOneDNN(g, quad, cfg, 3, seed)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if err := a.Check(1e-4, 1e-4); err != nil {
			t.Errorf("seed %d: %v", seed, err)
		}
		if a.WeightsMaxDiff > 1e-4 || !(a.FinalLogitsMaxDiff < 1e-4) {
			t.Errorf("seed %d: weights %.2e apart after 3 steps, inference logits %.2e", seed, a.WeightsMaxDiff, a.FinalLogitsMaxDiff)
		}
		c, b, d := inPlaceCases(t, g)
		conv, bn, grad = conv+b2i(c), bn+b2i(b), grad+b2i(d)
		e := defaultOneDNNEngine(t, g, &cfg)
		impls, err := e.net.Impls(cfg.BatchSize, true)
		e.close()
		if err != nil {
			t.Fatal(err)
		}
		ours += strings.Count(impls, "evoswarm:plain_bwd_data")
		if strings.Contains(impls, "evoswarm:plain_bwd_data") {
			plain++
		}
	}
	t.Logf("of 60 genomes, %d sum in a convolution's output, %d in a BN-ReLU value, %d share a gradient; "+
		"%d run %d convolutions' backward data by our loops", conv, bn, grad, plain, ours)
	if conv == 0 || bn == 0 || grad == 0 {
		t.Error("the sweep misses one of the in-place cases")
	}
	// Backward data into a plain source of few channels (plain_bwd_data)
	// must be among what the sweep checks against the reference.
	if plain < 5 {
		t.Errorf("only %d genomes of the sweep run backward data by our loops", plain)
	}
}

// inPlaceCases reports which of the oneDNN engine's buffer-sharing cases
// g has: a sum computed in a convolution's output (a vertex of several
// inputs, one a convolution in its shape), a sum computed in a BN-ReLU
// value (else an identity edge in its shape from a BN-ReLU vertex that
// nothing else reads), and a gradient shared with a sole reader (a vertex
// whose one outgoing edge is an identity into a vertex of its shape).
func inPlaceCases(t *testing.T, g *dna.Genome) (conv, bn, grad bool) {
	t.Helper()
	r, err := g.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	index := make(map[uint32]int, len(g.Vertices))
	out := make([]int, len(g.Vertices))
	for i, v := range g.Vertices {
		index[v.ID] = i
	}
	for _, e := range g.Edges {
		out[index[e.From]]++
	}
	for v, in := range r.In {
		for _, e := range in {
			from := index[g.Edges[e].From]
			same := r.EdgeShape[e] == r.VertexShape[v]
			if g.Edges[e].Type == dna.Identity && same && out[from] == 1 && g.Vertices[from].ID != g.InputVertex {
				grad = true
			}
			if len(in) < 2 || !same {
				continue
			}
			if g.Edges[e].Type == dna.Conv {
				conv = true
			} else if g.Vertices[from].Type == dna.BNReLU && out[from] == 1 && r.VertexShape[from].C >= 16 {
				bn = true
			}
		}
	}
	return conv, bn, grad
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
