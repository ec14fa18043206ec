//go:build cgo

package train

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/evoswarm/evoswarm/internal/testnet"
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train/cuda/emu"
	"github.com/evoswarm/evoswarm/train/dataset"
)

// These tests run the device engine (DeviceNetwork) on the emulator: the
// CUDA C kernels compiled for the CPU, behind the same device.Device
// interface as the GPU. They check the engine's host-side logic (layout,
// passes, gradient flow, chunking, SGD) against the gorgonia CPU engine.

// noise is a random data set of the given image shape and classes.
func noise(h, w, c, classes, n int) *dataset.Set {
	rng := rand.New(rand.NewPCG(5, 6))
	split := func(n int) *dataset.Split {
		sp := &dataset.Split{N: n, Pixels: make([]uint8, n*h*w*c), Labels: make([]uint8, n)}
		for i := range sp.Pixels {
			sp.Pixels[i] = uint8(rng.IntN(256))
		}
		for i := range sp.Labels {
			sp.Labels[i] = uint8(rng.IntN(classes))
		}
		return sp
	}
	mean, std := make([]float32, c), make([]float32, c)
	for i := range c {
		mean[i], std[i] = 0.5, 0.29
	}
	return &dataset.Set{
		Name: "noise", Format: "idx", H: h, W: w, C: c, Classes: classes,
		Train: split(n), Val: split(n / 4), Test: split(n / 4),
		Mean: mean, Std: std, Identity: "noise:test",
	}
}

// evolved is testnet.Evolved at a small scale.
func evolved(t *testing.T, in dna.Shape, classes int, seed uint64) *dna.Genome {
	t.Helper()
	o := dna.DefaultMutateOptions()
	o.InsertMinChannels = 4
	o.Bounds.MaxParams = 50_000
	o.Bounds.MaxFLOPs = 10_000_000
	o.Bounds.MaxChannels = 16
	g, err := testnet.Evolved(in, classes, seed, 4, 2, 10, o)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// shrinkNet is input 12x12x1 -> conv 3x3 (8) -> bn_relu a -> conv 3x3/2 (4)
// -> bn_relu -> conv 1x1 (4) -> bn_relu c -> output, with a skip a -> c:
// 12x12x8 halved to 6x6 and truncated to 4 channels, into a BN vertex,
// while a also feeds a conv.
func shrinkNet(t testing.TB) *dna.Genome {
	t.Helper()
	g := chain(dna.Shape{H: 12, W: 12, C: 1}, 4, 0.05, []convSpec{{8, 3, 3, 0, true}, {4, 3, 3, 1, true}, {4, 1, 1, 0, true}})
	var a uint32
	for _, e := range g.Edges {
		if e.From == g.InputVertex {
			a = e.To
		}
	}
	g.Edges = append(g.Edges, dna.Edge{ID: g.NextID, From: a, To: g.Edges[0].From, Type: dna.Identity})
	g.NextID++
	if err := g.Validate(dna.DefaultBounds()); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestDeviceAgreesWithCPU(t *testing.T) {
	quad := quadrants(t, 400)
	cases := []struct {
		name string
		g    *dna.Genome
		data *dataset.Set
	}{
		// Every op kind: strided and non-square convs, BN-ReLU, linear
		// vertices, skips that resize unevenly, pad and truncate channels.
		{"crosscheck", testnet.CrossCheck(), noise(13, 11, 3, 5, 200)},
		{"skipnet", skipNet(t), quad},
		{"shrinknet", shrinkNet(t), quad},
		{"reference", ReferenceCNNFor(dna.Shape{H: 12, W: 12, C: 1}, 4), quad},
		{"evolved", evolved(t, dna.Shape{H: 12, W: 12, C: 1}, 4, 7), quad},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dev := emu.New()
			defer dev.Close()
			cfg := smallConfig(0)
			cfg.Bounds.MaxParams = 1 << 20
			a, err := CompareDevice(c.g, c.data, cfg, dev, 50, 3)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Check(1e-3, 1e-2); err != nil {
				t.Fatal(err)
			}
			// The emulator is far tighter than the GPU's tolerances.
			if a.LogitsMaxDiff > 1e-4 || a.LossMaxDiff > 1e-3 || a.WeightsMaxDiff > 1e-2 || math.IsInf(a.FinalLogitsMaxDiff, 0) {
				t.Errorf("logits %.2e, losses %.2e, weights %.2e apart", a.LogitsMaxDiff, a.LossMaxDiff, a.WeightsMaxDiff)
			}
			if len(a.LossCPU) != 50 || a.LossCPU[49] >= a.LossCPU[0] && c.name != "crosscheck" {
				t.Errorf("losses %v ... %v: training did not progress", a.LossCPU[:1], a.LossCPU[len(a.LossCPU)-1:])
			}
			t.Logf("%s: %d params, logits %.2e, loss %.2e, weights %.2e apart; loss %.4f -> %.4f",
				a.Genome, a.Params, a.LogitsMaxDiff, a.LossMaxDiff, a.WeightsMaxDiff, a.LossCPU[0], a.LossCPU[49])
		})
	}
}

// TestDeviceChunkedConvolution runs the agreement with an im2col workspace
// too small for one batch, so that every convolution runs in chunks of
// images.
func TestDeviceChunkedConvolution(t *testing.T) {
	old := maxColsFloats
	maxColsFloats = 600 // a few images of the smallest conv
	defer func() { maxColsFloats = old }()
	dev := emu.New()
	defer dev.Close()
	cfg := smallConfig(0)
	a, err := CompareDevice(skipNet(t), quadrants(t, 400), cfg, dev, 10, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Check(1e-4, 1e-3); err != nil {
		t.Fatal(err)
	}
}

func TestTrainOnDevice(t *testing.T) {
	data := quadrants(t, 800)
	dev := emu.New()
	defer dev.Close()
	res, err := Train(context.Background(), skipNet(t), nil, data, smallConfig(150), RunOptions{Seed: 3, Test: true, Device: dev})
	if err != nil {
		t.Fatal(err)
	}
	if res.ValAccuracy < 0.9 || res.TestAccuracy == nil || *res.TestAccuracy < 0.9 || res.Device == "" {
		t.Errorf("quadrants after 150 steps on %q: val %.3f test %v, want >= 0.9", res.Device, res.ValAccuracy, res.TestAccuracy)
	}
	// The CPU engine with the same seed sees the same batches from the
	// same initial weights and ends close by.
	cpu, err := Train(context.Background(), skipNet(t), nil, data, smallConfig(150), RunOptions{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(cpu.FinalLoss-res.FinalLoss) > 0.05 || math.Abs(cpu.ValAccuracy-res.ValAccuracy) > 0.03 {
		t.Errorf("CPU: loss %.4f val %.3f; device: loss %.4f val %.3f", cpu.FinalLoss, cpu.ValAccuracy, res.FinalLoss, res.ValAccuracy)
	}
	// The trained weights are device-blind: serialised, decoded and
	// evaluated by the CPU engine they give the device's accuracy.
	b, err := res.Weights.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	w, err := DecodeWeights(b, 1<<24)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := Evaluate(context.Background(), skipNet(t), w, data, data.Val, smallConfig(0))
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(acc-res.ValAccuracy) > 0.01 {
		t.Errorf("CPU evaluation of the device's weights: %.3f, the device measured %.3f", acc, res.ValAccuracy)
	}
	// A child inherits on the device as on the CPU: an identical genome
	// from the trained weights, not trained, scores the parent's accuracy.
	again, err := Train(context.Background(), skipNet(t), res.Weights, data, smallConfig(0), RunOptions{Seed: 4, Device: dev})
	if err != nil {
		t.Fatal(err)
	}
	if again.NewTensors != 0 || math.Abs(again.ValAccuracy-res.ValAccuracy) > 1e-9 {
		t.Errorf("inherited: %d new tensors, val %.4f; parent val %.4f", again.NewTensors, again.ValAccuracy, res.ValAccuracy)
	}
	if n := dev.Allocated(); n != 0 {
		t.Errorf("%d bytes still allocated on the device after training", n)
	}
}

func TestDeviceDivergenceIsFitnessZero(t *testing.T) {
	data := quadrants(t, 200)
	g := skipNet(t)
	first, err := Train(context.Background(), g, nil, data, smallConfig(1), RunOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	poisoned := first.Weights
	poisonFC(poisoned)
	dev := emu.New()
	defer dev.Close()
	res, err := Train(context.Background(), g, poisoned, data, smallConfig(20), RunOptions{Seed: 1, Device: dev})
	if err != nil {
		t.Fatalf("divergence must not be an error: %v", err)
	}
	if !res.Diverged || res.ValAccuracy != 0 || res.Reason == "" || res.Steps != 1 {
		t.Errorf("diverged %v val %v reason %q steps %d: want fitness 0 with a reason after step 1", res.Diverged, res.ValAccuracy, res.Reason, res.Steps)
	}
}
