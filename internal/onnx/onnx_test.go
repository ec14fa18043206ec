package onnx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/evoswarm/evoswarm/internal/testnet"
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train"
)

const checkPython = "/usr/bin/python3"

// testWeights draws every tensor of g from a fixed seed: normal kernels
// scaled by fan-in, BN scale near 1, offsets and means near 0, variances in
// [0.5, 1.5).
func testWeights(t *testing.T, g *dna.Genome) *train.Weights {
	t.Helper()
	r, err := g.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	w := &train.Weights{Tensors: map[string]*train.Tensor{}}
	add := func(key string, shape []int, f func() float64) {
		tn := &train.Tensor{Shape: shape}
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
			add(fmt.Sprintf("conv/%d", e.WeightID), []int{r.EdgeShape[j].C, cin, e.FilterH, e.FilterW},
				normal(0, math.Sqrt(2/float64(cin*e.FilterH*e.FilterW))))
		}
	}
	for i, v := range g.Vertices {
		if v.Type == dna.BNReLU {
			c := []int{r.VertexShape[i].C}
			add(fmt.Sprintf("bn/%d/scale", v.WeightID), c, normal(1, 0.2))
			add(fmt.Sprintf("bn/%d/offset", v.WeightID), c, normal(0, 0.2))
			add(fmt.Sprintf("bn/%d/mean", v.WeightID), c, normal(0, 0.3))
			add(fmt.Sprintf("bn/%d/var", v.WeightID), c, func() float64 { return 0.5 + rng.Float64() })
		}
	}
	c := r.VertexShape[g.VertexIndex(g.OutputVertex)].C
	add(fmt.Sprintf("fc/%d/weight", g.FCWeightID), []int{g.Classes, c}, normal(0, math.Sqrt(1/float64(c))))
	add(fmt.Sprintf("fc/%d/bias", g.FCWeightID), []int{g.Classes}, normal(0, 0.1))
	return w
}

// onnxrtDir holds scripts/onnxrt/check.js and, after
// `npm ci --ignore-scripts` there (scripts/deps.sh), onnxruntime-node.
const onnxrtDir = "../../scripts/onnxrt"

func needOnnxruntime(t *testing.T) string { return testnet.NeedOnnxruntime(t, onnxrtDir) }

// writeCrossCheck writes the cross-check genome (two convolutions, a skip
// that must be resized and zero-padded, a BN-ReLU vertex: every op Write
// emits) with testWeights as an ONNX file in a temporary directory.
func writeCrossCheck(t *testing.T) (*dna.Genome, *train.Weights, string) {
	t.Helper()
	g := testnet.CrossCheck()
	w := testWeights(t, g)
	var buf bytes.Buffer
	if err := Write(&buf, g, w, train.DefaultConfig().BNEpsilon); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(model, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return g, w, model
}

// TestWriteMatchesNetwork: onnxruntime, given the export of the cross-check
// genome, computes evoswarm's logits.
func TestWriteMatchesNetwork(t *testing.T) {
	node := needOnnxruntime(t)
	g, w, model := writeCrossCheck(t)
	cfg := train.DefaultConfig()
	const batch = 4
	in := g.Input
	x := make([]float32, batch*in.C*in.H*in.W)
	rng := rand.New(rand.NewPCG(3, 5))
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	net, err := train.NewNetwork(g, w, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	want, err := net.Logits(x, batch)
	if err != nil {
		t.Fatal(err)
	}

	bj, err := json.Marshal(map[string]any{"shape": []int{batch, in.C, in.H, in.W}, "x": x})
	if err != nil {
		t.Fatal(err)
	}
	batchFile := filepath.Join(filepath.Dir(model), "batch.json")
	if err := os.WriteFile(batchFile, bj, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join(onnxrtDir, "check.js"), "--logits", model, batchFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("check.js: %v\n%s", err, stderr.Bytes())
	}
	var got struct {
		Shape  []int     `json:"shape"`
		Logits []float64 `json:"logits"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("check.js output: %v\n%s", err, out)
	}
	if len(got.Shape) != 2 || got.Shape[0] != batch || got.Shape[1] != g.Classes || len(got.Logits) != len(want) {
		t.Fatalf("onnxruntime's logits have shape %v (%d values), want [%d %d]", got.Shape, len(got.Logits), batch, g.Classes)
	}
	var d, scale float64
	for i := range want {
		d = max(d, math.Abs(float64(want[i])-got.Logits[i]))
		scale = max(scale, math.Abs(float64(want[i])))
	}
	msg := fmt.Sprintf("max |evoswarm - onnxruntime| logits = %.3g (largest |logit| %.3g, tolerance 1e-4)", d, scale)
	if !(d <= 1e-4) {
		t.Fatal(msg)
	}
	t.Log(msg)
}

// TestWriteConforms: the ONNX specification's own checker (Debian's
// python3-onnx, scripts/onnx_check.py) accepts the export of the
// cross-check genome, with the promised IR version, opset, input and
// output shapes.
func TestWriteConforms(t *testing.T) {
	if out, err := exec.Command(checkPython, "-c", "import onnx").CombinedOutput(); err != nil {
		t.Skipf("%s cannot import onnx: %v %s", checkPython, err, bytes.TrimSpace(out))
	}
	g, _, model := writeCrossCheck(t)
	cmd := exec.Command(checkPython, filepath.Join("..", "..", "scripts", "onnx_check.py"), model)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("onnx_check.py: %v\n%s", err, stderr.Bytes())
	}
	var got struct {
		Input  []any `json:"input"`
		Output []any `json:"output"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("onnx_check.py output: %v\n%s", err, out)
	}
	in := g.Input
	if w := fmt.Sprint([]any{"N", in.C, in.H, in.W}); fmt.Sprint(got.Input) != w {
		t.Errorf("inferred input shape %v, want %v", got.Input, w)
	}
	if w := fmt.Sprint([]any{"N", g.Classes}); fmt.Sprint(got.Output) != w {
		t.Errorf("inferred output shape %v, want %v", got.Output, w)
	}
}

func TestWriteRefusesMissingTensor(t *testing.T) {
	g := testnet.CrossCheck()
	w := testWeights(t, g)
	delete(w.Tensors, "bn/5/var")
	if err := Write(&bytes.Buffer{}, g, w, 1e-3); err == nil {
		t.Fatal("Write accepted weights without bn/5/var")
	}
	w = testWeights(t, g)
	w.Tensors["conv/10"].Shape = []int{5, 8, 5, 3}
	if err := Write(&bytes.Buffer{}, g, w, 1e-3); err == nil {
		t.Fatal("Write accepted conv/10 with transposed filter shape")
	}
}
