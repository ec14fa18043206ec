package main

import (
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evoswarm/evoswarm/node"
)

// TestExportEvalPredict: a short run is exported; eval on the exported model
// reproduces the test accuracy export recorded; an ensemble votes; predict
// names a class for an image file.
func TestExportEvalPredict(t *testing.T) {
	needFashion(t)
	repo := initRepo(t, "smoke")
	if _, errOut, code := run(t, nil, "daemon", "--repo", repo, "--max-children", "12", "--log-level", "error"); code != 0 {
		t.Fatalf("daemon: exit %d: %s", code, errOut)
	}
	out := filepath.Join(t.TempDir(), "models")
	stdout, errOut, code := run(t, nil, "export", "--repo", repo, "--out", out, "--top", "2")
	if code != 0 {
		t.Fatalf("export: exit %d: %s", code, errOut)
	}
	dirs, _ := filepath.Glob(filepath.Join(out, "*"))
	if len(dirs) != 2 {
		t.Fatalf("export wrote %d models, want 2:\n%s", len(dirs), stdout)
	}
	if fi, err := os.Stat(filepath.Join(dirs[0], "model.onnx")); err != nil || fi.Size() == 0 {
		t.Errorf("export wrote no ONNX model: %v", err)
	}
	var m struct {
		TestAccuracy float64 `json:"test_accuracy"`
		ValAccuracy  float64 `json:"val_accuracy"`
		Lineage      []any   `json:"lineage"`
		ClassNames   []string
	}
	b, err := os.ReadFile(filepath.Join(dirs[0], "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Lineage) == 0 || m.ValAccuracy <= 0 {
		t.Errorf("metrics.json: %s", b)
	}
	js, errOut, code := run(t, nil, "eval", "--json", "--model", dirs[0])
	if code != 0 {
		t.Fatalf("eval: %s", errOut)
	}
	var ev node.EvalResult
	if err := json.Unmarshal([]byte(js), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.TestAccuracy != m.TestAccuracy || ev.Images != 10000 {
		t.Errorf("eval: test accuracy %v on %d images, export recorded %v", ev.TestAccuracy, ev.Images, m.TestAccuracy)
	}
	total := 0
	for _, row := range ev.Confusion {
		for _, n := range row {
			total += n
		}
	}
	if total != ev.Images {
		t.Errorf("confusion matrix counts %d images, want %d", total, ev.Images)
	}
	if _, errOut, code := run(t, nil, "eval", "--model", dirs[0], "--ensemble", dirs[1]); code != 0 {
		t.Errorf("eval --ensemble: %s", errOut)
	}
	img := image.NewGray(image.Rect(0, 0, 28, 28))
	for y := 8; y < 20; y++ {
		for x := 6; x < 22; x++ {
			img.SetGray(x, y, color.Gray{Y: 200})
		}
	}
	path := filepath.Join(t.TempDir(), "garment.png")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	png.Encode(f, img)
	f.Close()
	pred, errOut, code := run(t, nil, "predict", "--model", dirs[0], path)
	if code != 0 || !strings.HasPrefix(pred, path+":") || !strings.Contains(pred, "%") {
		t.Errorf("predict: exit %d, %q %s", code, pred, errOut)
	}
}
