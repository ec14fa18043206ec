package train

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evoswarm/evoswarm/internal/testnet"
	"github.com/evoswarm/evoswarm/island/dna"
)

// The PyTorch cross-check: the same genome, weights and batches run here
// and in PyTorch (scripts/torchnet.py, driven by scripts/crosscheck.py) must
// give the same logits, losses and trained weights. It needs /usr/bin/python3
// with torch and is skipped without it.

const crossCheckPython = "/usr/bin/python3"

// crossCheckWeightTol bounds the trained weights' differences. It is
// tighter than the 1e-4 the acceptance criterion asks for (the two sides
// agree to about 1e-7) so that weight decay wrongly applied to batch norm's
// scale, which moves it by about 5e-5 in three steps, is caught.
const crossCheckWeightTol = 1e-5

// crossCheckTorch skips the test unless the Python interpreter imports torch.
func crossCheckTorch(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(crossCheckPython, "-c", "import torch").CombinedOutput(); err != nil {
		t.Skipf("%s cannot import torch: %v %s", crossCheckPython, err, bytes.TrimSpace(out))
	}
}

// crossCheckWeights draws every tensor of g from a fixed seed: normal
// kernels scaled by fan-in, BN scale near 1, offsets and means near 0,
// variances in [0.5, 1.5).
func crossCheckWeights(t *testing.T, g *dna.Genome) *Weights {
	t.Helper()
	r, err := g.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	w := &Weights{Tensors: map[string]*Tensor{}}
	add := func(key string, shape []int, f func() float64) {
		tn := &Tensor{Shape: shape}
		tn.Data = make([]float32, tn.Size())
		for i := range tn.Data {
			tn.Data[i] = float32(f())
		}
		w.Tensors[key] = tn
	}
	normal := func(mean, std float64) func() float64 {
		return func() float64 { return mean + std*rng.NormFloat64() }
	}
	for j, e := range g.Edges {
		if e.Type == dna.Conv {
			cin := r.VertexShape[g.VertexIndex(e.From)].C
			add(convKey(e.WeightID), []int{r.EdgeShape[j].C, cin, e.FilterH, e.FilterW},
				normal(0, math.Sqrt(2/float64(cin*e.FilterH*e.FilterW))))
		}
	}
	for i, v := range g.Vertices {
		if v.Type == dna.BNReLU {
			c := []int{r.VertexShape[i].C}
			add(bnKey(v.WeightID, "scale"), c, normal(1, 0.2))
			add(bnKey(v.WeightID, "offset"), c, normal(0, 0.2))
			add(bnKey(v.WeightID, "mean"), c, normal(0, 0.3))
			add(bnKey(v.WeightID, "var"), c, func() float64 { return 0.5 + rng.Float64() })
		}
	}
	c := r.VertexShape[g.VertexIndex(g.OutputVertex)].C
	add(fcKey(g.FCWeightID, "weight"), []int{g.Classes, c}, normal(0, math.Sqrt(1/float64(c))))
	add(fcKey(g.FCWeightID, "bias"), []int{g.Classes}, normal(0, 0.1))
	return w
}

type crossCheckBatch struct {
	X      []float32 `json:"x"`
	Labels []int32   `json:"labels"`
}

type crossCheckResult struct {
	LogitsBefore []float64            `json:"logits_before"`
	Losses       []float64            `json:"losses"`
	LogitsAfter  []float64            `json:"logits_after"`
	Weights      map[string][]float64 `json:"weights"`
}

// crossCheckWrite writes each value as the JSON file of its name in dir.
func crossCheckWrite(t *testing.T, dir string, files map[string]any) {
	t.Helper()
	for name, v := range files {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// crossCheckDiff returns the largest absolute difference, failing on a
// length mismatch.
func crossCheckDiff[T float32 | float64](t *testing.T, what string, got []T, want []float64) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values here, %d in PyTorch", what, len(got), len(want))
	}
	var d float64
	for i := range got {
		d = max(d, math.Abs(float64(got[i])-want[i]))
	}
	return d
}

// TestCrossCheckTorch runs the cross-check on the genome with every op
// kind and on the evolved genomes of scripts/bench/genomes/evolved (taken
// from real runs), with every CPU engine this build has.
func TestCrossCheckTorch(t *testing.T) {
	crossCheckTorch(t)
	genomes := evolvedGenomes(t)
	genomes["every-op"] = testnet.CrossCheck()
	engines := []string{EngineGorgonia}
	if CPUEngine() == EngineOneDNN {
		engines = append(engines, EngineOneDNN)
	}
	for name, g := range genomes {
		for _, eng := range engines {
			t.Run(name+"/"+eng, func(t *testing.T) { crossCheckGenome(t, g, eng) })
		}
	}
}

// evolvedGenomes reads the benchmark set of genomes taken from real runs
// (scripts/bench/genomes/evolved), by file name; there are at least six.
func evolvedGenomes(t *testing.T) map[string]*dna.Genome {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("..", "scripts", "bench", "genomes", "evolved", "*.json"))
	if len(files) < 6 {
		t.Fatalf("%d evolved genomes, want at least 6", len(files))
	}
	genomes := map[string]*dna.Genome{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		g, err := dna.DecodeJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		genomes[filepath.Base(f)] = g
	}
	return genomes
}

// crossCheckNet opens g with weights w on a CPU engine, as a stepper.
func crossCheckNet(t *testing.T, g *dna.Genome, w *Weights, cfg Config, engine string) stepper {
	t.Helper()
	if engine == EngineGorgonia {
		net, err := NewNetwork(g, w, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return networkStepper{net}
	}
	r, err := resolveWithin(g, &cfg, forTraining)
	if err != nil {
		t.Fatal(err)
	}
	e, err := newOneDNNEngine(g, r, w, &cfg, rand.New(rand.NewPCG(0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if e.inh.NewTensors != 0 {
		t.Fatalf("%d tensors not taken from the weights", e.inh.NewTensors)
	}
	return oneDNNStepper{e}
}

type networkStepper struct{ *Network }

func (n networkStepper) Weights() (*Weights, error) { return n.Network.Weights(), nil }

func crossCheckGenome(t *testing.T, g *dna.Genome, engine string) {
	cfg := DefaultConfig()
	cfg.BatchSize, cfg.EvalBatch, cfg.Steps = 4, 4, 3
	if err := g.Validate(cfg.Bounds); err != nil {
		t.Fatal(err)
	}
	w := crossCheckWeights(t, g)
	in := g.Input
	shape := []int{cfg.BatchSize, in.C, in.H, in.W}
	rng := rand.New(rand.NewPCG(3, 5))
	newBatch := func() crossCheckBatch {
		b := crossCheckBatch{X: make([]float32, cfg.BatchSize*in.C*in.H*in.W), Labels: make([]int32, cfg.BatchSize)}
		for i := range b.X {
			b.X[i] = float32(rng.NormFloat64())
		}
		for i := range b.Labels {
			b.Labels[i] = int32(rng.IntN(g.Classes))
		}
		return b
	}
	eval := newBatch()
	train := make([]crossCheckBatch, cfg.Steps)
	for i := range train {
		train[i] = newBatch()
	}

	dir := t.TempDir()
	weightsJSON := map[string]any{}
	for k, tn := range w.Tensors {
		weightsJSON[k] = map[string]any{"shape": tn.Shape, "data": tn.Data}
	}
	crossCheckWrite(t, dir, map[string]any{
		"genome.json":  g,
		"weights.json": weightsJSON,
		"batch.json":   map[string]any{"shape": shape, "eval": eval, "train": train},
		"config.json": map[string]any{"lr": g.LearningRate, "momentum": cfg.Momentum, "weight_decay": cfg.WeightDecay,
			"bn_momentum": cfg.BNMomentum, "bn_epsilon": cfg.BNEpsilon, "steps": cfg.Steps},
	})

	net := crossCheckNet(t, g, w, cfg, engine)
	defer net.Close()
	before, err := net.Logits(eval.X, cfg.BatchSize)
	if err != nil {
		t.Fatal(err)
	}
	losses := make([]float64, cfg.Steps)
	for s, b := range train {
		loss, err := net.TrainStep(b.X, b.Labels)
		if err != nil {
			t.Fatal(err)
		}
		losses[s] = loss
	}
	after, err := net.Logits(eval.X, cfg.BatchSize)
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(crossCheckPython, filepath.Join("..", "scripts", "crosscheck.py"), dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("crosscheck.py: %v\n%s", err, stderr.Bytes())
	}
	var py crossCheckResult
	if err := json.Unmarshal(out, &py); err != nil {
		t.Fatalf("crosscheck.py output: %v\n%s", err, out)
	}

	check := func(what string, d, tol float64) {
		t.Helper()
		msg := fmt.Sprintf("%-28s max |Go - PyTorch| = %.3g (tolerance %g)", what, d, tol)
		if !(d <= tol) {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	}
	t.Logf("losses: Go %v, PyTorch %v", losses, py.Losses)
	check("logits before training", crossCheckDiff(t, "logits before", before, py.LogitsBefore), 1e-4)
	check("losses of 3 training steps", crossCheckDiff(t, "losses", losses, py.Losses), 1e-4)
	check("logits after training", crossCheckDiff(t, "logits after", after, py.LogitsAfter), 1e-3)
	trained, err := net.Weights()
	if err != nil {
		t.Fatal(err)
	}
	if len(py.Weights) != len(trained.Tensors) {
		t.Errorf("PyTorch has %d tensors, Go %d", len(py.Weights), len(trained.Tensors))
	}
	var wd float64
	for _, k := range trained.Keys() {
		pw, ok := py.Weights[k]
		if !ok {
			t.Errorf("PyTorch lacks tensor %s", k)
			continue
		}
		d := crossCheckDiff(t, k, trained.Tensors[k].Data, pw)
		if d > crossCheckWeightTol {
			t.Errorf("tensor %s after training: max |Go - PyTorch| = %.3g", k, d)
		}
		wd = max(wd, d)
	}
	check("weights after training", wd, crossCheckWeightTol)
	// The training must have moved the weights, or the comparison is empty.
	var moved float64
	for k, tn := range w.Tensors {
		if strings.HasPrefix(k, "conv/") {
			moved = max(moved, crossCheckDiff(t, k, tn.Data, py.Weights[k]))
		}
	}
	if moved < 1e-3 {
		t.Errorf("the conv kernels moved by at most %g in training", moved)
	}
}

// TestCrossCheckReferenceCNN checks that scripts/bench/torch_ref.py's
// hard-coded reference CNN is ReferenceCNN: the same function as
// torchnet.py's network for ReferenceCNN's genome.
func TestCrossCheckReferenceCNN(t *testing.T) {
	crossCheckTorch(t)
	dir := t.TempDir()
	crossCheckWrite(t, dir, map[string]any{"reference.json": ReferenceCNN()})
	cmd := exec.Command(crossCheckPython, filepath.Join("..", "scripts", "bench", "torch_ref.py"), "--check", filepath.Join(dir, "reference.json"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("torch_ref.py --check: %v\n%s", err, out)
	}
	t.Logf("%s", bytes.TrimSpace(out))
}
