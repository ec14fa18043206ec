package train

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train/dataset"
)

// TestNetworkGradients checks the gradients that gorgonia's Grad builds
// from our ops, through a whole network with a conv, BN-ReLU, a skip that
// must be resized and padded, a sum, pooling and the loss, against central
// differences of the loss.
func TestNetworkGradients(t *testing.T) {
	g := skipNet(t)
	data := quadrants(t, 64)
	cfg := smallConfig(0)
	cfg.BatchSize = 8
	net, err := newNetwork(g, mustResolve(t, g), nil, &cfg, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	gr, err := net.trainGraph()
	if err != nil {
		t.Fatal(err)
	}
	idx := []int{0, 1, 2, 3, 4, 5, 6, 7}
	if err := data.Batch(data.Train, idx, dataset.Augment{}, nil, gr.xval.Float32s(), gr.lb.y); err != nil {
		t.Fatal(err)
	}
	loss := func() float64 {
		if err := gr.run(); err != nil {
			t.Fatal(err)
		}
		return gr.lossValue()
	}
	loss()
	grads := map[string][]float32{}
	for k, n := range gr.grads {
		grads[k] = append([]float32(nil), f32s(n.Value())...)
	}
	if len(grads) != 6 { // two convs, BN scale and offset, FC weight and bias
		t.Fatalf("%d gradients, want 6: %v", len(grads), net.m.weights.Keys())
	}
	rng := rand.New(rand.NewPCG(2, 2))
	const h = 1e-3
	for key, an := range grads {
		w := net.m.weights.Tensors[key].Data
		for range 8 {
			i := rng.IntN(len(w))
			orig := w[i]
			w[i] = orig + h
			lp := loss()
			w[i] = orig - h
			lm := loss()
			w[i] = orig
			num := (lp - lm) / (2 * h)
			if d := math.Abs(num - float64(an[i])); d > 2e-3*math.Max(1, math.Abs(num)) {
				t.Errorf("%s[%d]: gradient %.6g, finite difference %.6g", key, i, an[i], num)
			}
		}
	}
}

func mustResolve(t testing.TB, g *dna.Genome) *dna.Resolved {
	t.Helper()
	r, err := g.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTrainLearns(t *testing.T) {
	data := quadrants(t, 800)
	res, err := Train(context.Background(), skipNet(t), nil, data, smallConfig(150), RunOptions{Seed: 3, Test: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.ValAccuracy < 0.9 || res.TestAccuracy == nil || *res.TestAccuracy < 0.9 {
		t.Errorf("quadrants after 150 steps: val %.3f test %v, want >= 0.9", res.ValAccuracy, res.TestAccuracy)
	}
	if res.Steps != 150 || res.TrainFLOPs != 150*16*3*skipNet(t).FLOPs() || res.EvalFLOPs != int64(data.Val.N+data.Test.N)*skipNet(t).FLOPs() {
		t.Errorf("accounting: steps %d train FLOPs %d eval FLOPs %d", res.Steps, res.TrainFLOPs, res.EvalFLOPs)
	}
	// The same seed gives the same result.
	again, err := Train(context.Background(), skipNet(t), nil, data, smallConfig(150), RunOptions{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if again.ValAccuracy != res.ValAccuracy || again.FinalLoss != res.FinalLoss {
		t.Errorf("same seed: val %v loss %v, then val %v loss %v", res.ValAccuracy, res.FinalLoss, again.ValAccuracy, again.FinalLoss)
	}
}

// TestInheritance: an IDENTITY child evaluated before any training has
// exactly its parent's accuracy; after INSERT-CONVOLUTION most parameters
// are inherited.
func TestInheritance(t *testing.T) {
	data := quadrants(t, 400)
	parent := skipNet(t)
	pres, err := Train(context.Background(), parent, nil, data, smallConfig(60), RunOptions{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(6, 6))
	child, _, err := dna.MutateWith(parent, dna.KeepTraining, rng, dna.DefaultMutateOptions())
	if err != nil {
		t.Fatal(err)
	}
	cres, err := Train(context.Background(), child, pres.Weights, data, smallConfig(0), RunOptions{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if cres.ValAccuracy != pres.ValAccuracy {
		t.Errorf("identity child before training: val %v, parent %v", cres.ValAccuracy, pres.ValAccuracy)
	}
	if cres.NewTensors != 0 || cres.InheritedParams != pres.Weights.Params() {
		t.Errorf("identity child: %+v, want everything inherited (%d values)", cres.Inheritance, pres.Weights.Params())
	}
	ins, _, err := dna.MutateWith(parent, dna.InsertConvolution, rng, dna.DefaultMutateOptions())
	if err != nil {
		t.Fatal(err)
	}
	ires, err := Train(context.Background(), ins, pres.Weights, data, smallConfig(0), RunOptions{Seed: 8})
	if err != nil {
		t.Fatal(err)
	}
	if ires.InheritedParams <= ires.NewParams || ires.NewTensors == 0 {
		t.Errorf("insert-convolution child: %+v, want most parameters inherited and some new", ires.Inheritance)
	}
	reset, _, err := dna.MutateWith(parent, dna.ResetWeights, rng, dna.DefaultMutateOptions())
	if err != nil {
		t.Fatal(err)
	}
	rres, err := Train(context.Background(), reset, pres.Weights, data, smallConfig(0), RunOptions{Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	if rres.InheritedTensors != 0 {
		t.Errorf("reset-weights child inherited %d tensors, want none", rres.InheritedTensors)
	}
}

func TestDivergenceIsFitnessZero(t *testing.T) {
	data := quadrants(t, 200)
	g := skipNet(t)
	first, err := Train(context.Background(), g, nil, data, smallConfig(1), RunOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	poisoned := first.Weights
	poisonFC(poisoned)
	res, err := Train(context.Background(), g, poisoned, data, smallConfig(20), RunOptions{Seed: 1})
	if err != nil {
		t.Fatalf("divergence must not be an error: %v", err)
	}
	if !res.Diverged || res.ValAccuracy != 0 || res.Reason == "" || res.Steps != 1 {
		t.Errorf("diverged %v val %v reason %q steps %d: want fitness 0 with a reason after step 1", res.Diverged, res.ValAccuracy, res.Reason, res.Steps)
	}
}

func TestCancelStopsWithinAStep(t *testing.T) {
	data := quadrants(t, 200)
	ctx, cancel := context.WithCancel(context.Background())
	last := 0
	_, err := Train(ctx, skipNet(t), nil, data, smallConfig(1000), RunOptions{Seed: 1, Progress: func(step int, _ float64) {
		last = step
		if step == 5 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) || last != 5 {
		t.Errorf("err %v after step %d: want context.Canceled right after step 5", err, last)
	}
}

func TestRefusedBeforeAllocation(t *testing.T) {
	data := quadrants(t, 100)
	cfg := smallConfig(1)
	cfg.MemoryBudget = 1 << 20
	cfg.EvalBatch = 10000
	if _, err := Train(context.Background(), skipNet(t), nil, data, cfg, RunOptions{}); !errors.Is(err, ErrMemoryBudget) {
		t.Errorf("tiny budget: err %v, want ErrMemoryBudget", err)
	}
	cfg = smallConfig(1)
	cfg.Bounds.MaxChannels = 4
	if _, err := Train(context.Background(), skipNet(t), nil, data, cfg, RunOptions{}); !errors.Is(err, dna.ErrOutOfBounds) {
		t.Errorf("over the bounds: err %v, want dna.ErrOutOfBounds", err)
	}
	wrong := dna.Initial(dna.Shape{H: 28, W: 28, C: 1}, 10, 0.1)
	if _, err := Train(context.Background(), wrong, nil, data, smallConfig(1), RunOptions{}); err == nil {
		t.Error("a genome for 28x28x1 images trained on 12x12x1 data")
	}
}

func TestEstimateMemoryGrows(t *testing.T) {
	cfg := DefaultConfig()
	small := ReferenceCNN()
	r := mustResolve(t, small)
	wide := chain(dna.Shape{H: 28, W: 28, C: 1}, 10, 0.1, []convSpec{{128, 3, 3, 0, true}, {128, 3, 3, 0, true}})
	a, b := EstimateMemory(small, r, &cfg), EstimateMemory(wide, mustResolve(t, wide), &cfg)
	if a <= 0 || b <= 2*a {
		t.Errorf("estimates: reference %d MiB, wide stride-1 %d MiB; want the wide one much larger", a>>20, b>>20)
	}
}

// TestInferenceWithinTrainingBudget: evaluation is checked against the
// forward-only estimate, so a network the budget is too small to train
// can still be evaluated and used for prediction (an individual trained
// under an older, smaller estimate stays exportable), while training it
// is refused.
func TestInferenceWithinTrainingBudget(t *testing.T) {
	data := quadrants(t, 200)
	cfg := smallConfig(2)
	cfg.EvalBatch = 10000 // estimates above Validate's 1 MiB floor
	g := skipNet(t)
	res, err := Train(context.Background(), g, nil, data, cfg, RunOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	r := mustResolve(t, g)
	infer, full := EstimateInferenceMemory(g, r, &cfg), EstimateMemory(g, r, &cfg)
	if !(0 < infer && infer < full) {
		t.Fatalf("estimates: inference %d, training %d bytes; want 0 < inference < training", infer, full)
	}
	cfg.MemoryBudget = (infer + full) / 2
	if _, err := Train(context.Background(), g, res.Weights, data, cfg, RunOptions{Seed: 1}); !errors.Is(err, ErrMemoryBudget) {
		t.Errorf("training with a budget between the two estimates: %v, want ErrMemoryBudget", err)
	}
	if _, err := Evaluate(context.Background(), g, res.Weights, data, data.Val, cfg); err != nil {
		t.Errorf("evaluating with a budget between the two estimates: %v", err)
	}
	if err := CheckEvaluable(g, data, cfg); err != nil {
		t.Errorf("CheckEvaluable with a budget between the two estimates: %v, but Evaluate runs", err)
	}
	low := cfg
	low.MemoryBudget = infer - 1
	if err := CheckEvaluable(g, data, low); !errors.Is(err, ErrMemoryBudget) {
		t.Errorf("CheckEvaluable with a budget below the inference estimate: %v, want ErrMemoryBudget", err)
	}
	if _, err := Evaluate(context.Background(), g, res.Weights, data, data.Val, low); !errors.Is(err, ErrMemoryBudget) {
		t.Errorf("Evaluate with a budget below the inference estimate: %v, want ErrMemoryBudget as CheckEvaluable says", err)
	}
	if err := CheckEvaluable(dna.Initial(dna.Shape{H: 28, W: 28, C: 1}, 10, 0.1), data, cfg); !errors.Is(err, ErrDataMismatch) {
		t.Errorf("CheckEvaluable of a genome for 28x28 images on 12x12 data: %v, want ErrDataMismatch", err)
	}
	if _, err := Predict(context.Background(), g, res.Weights, data, data.Val, cfg); err != nil {
		t.Errorf("predicting with a budget between the two estimates: %v", err)
	}
	cfg.MemoryBudget = infer - 1
	if _, err := Evaluate(context.Background(), g, res.Weights, data, data.Val, cfg); !errors.Is(err, ErrMemoryBudget) {
		t.Errorf("evaluating over the inference estimate: %v, want ErrMemoryBudget", err)
	}
}

// TestEstimateMemoryCountsPadding: the estimate counts activations as the
// oneDNN engine's blocked layouts hold them, channels rounded up to the
// block (8 with AVX2, 16 with AVX-512) from 8 channels on: 17 channels
// take the room of 32, 12 and 8 of 16, and 4 and 7 stay as they are.
func TestEstimateMemoryCountsPadding(t *testing.T) {
	for _, c := range []struct{ ch, room int }{{4, 4}, {7, 7}, {8, 16}, {12, 16}, {16, 16}, {17, 32}, {32, 32}, {36, 48}} {
		s := dna.Shape{H: 7, W: 5, C: c.ch}
		if got, want := paddedSize(s), int64(7*5*c.room); got != want {
			t.Errorf("%v: %d floats an image, want %d", s, got, want)
		}
	}
	in := dna.Shape{H: 28, W: 28, C: 1}
	act := func(ch int) int64 {
		g := chain(in, 10, 0.1, []convSpec{{ch, 3, 3, 0, true}})
		return activationFloats(g, mustResolve(t, g))
	}
	if a17, a32, a16 := act(17), act(32), act(16); a17 != a32 || a16 >= a17 {
		t.Errorf("activations an image: 16 channels %d, 17 %d, 32 %d; want 17 as 32, and 16 fewer", a16, a17, a32)
	}
}

// poisonFC sets every classifier weight of w to the largest float32: a
// finite value (a child inherits it; one that is not finite would start
// afresh), whose first forward pass overflows, so training diverges at
// its first step.
func poisonFC(w *Weights) {
	for _, k := range w.Keys() {
		if strings.HasPrefix(k, "fc/") && strings.HasSuffix(k, "/weight") {
			for i := range w.Tensors[k].Data {
				w.Tensors[k].Data[i] = math.MaxFloat32
			}
		}
	}
}

func TestOneDNNLayoutOverride(t *testing.T) {
	for v, ok := range map[string]bool{"": true, "nhwc": true, "blocked": true, "NHWC": false, "channels-last": false} {
		t.Setenv("EVOSWARM_ONEDNN_LAYOUT", v)
		got, err := OneDNNLayoutOverride()
		if (err == nil) != ok || ok && got != v {
			t.Errorf("EVOSWARM_ONEDNN_LAYOUT=%q: %q, %v; want accepted %v", v, got, err, ok)
		}
	}
}

// TestUnusableWeights: inference without weights is a clear error, not a
// recovered panic; nor is a training set without validation images.
func TestUnusableWeights(t *testing.T) {
	data := quadrants(t, 100)
	g := skipNet(t)
	cfg := smallConfig(1)
	if _, err := Evaluate(context.Background(), g, nil, data, data.Val, cfg); !errors.Is(err, ErrWeightsMismatch) {
		t.Errorf("Evaluate with no weights: %v, want ErrWeightsMismatch", err)
	}
	if _, err := Predict(context.Background(), g, nil, data, data.Val, cfg); !errors.Is(err, ErrWeightsMismatch) {
		t.Errorf("Predict with no weights: %v, want ErrWeightsMismatch", err)
	}
	noVal := *data
	noVal.Val = &dataset.Split{}
	if _, err := Train(context.Background(), g, nil, &noVal, cfg, RunOptions{}); err == nil || !strings.Contains(err.Error(), "no validation images") {
		t.Errorf("Train without validation images: %v, want a clear error", err)
	}
}
