package main

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/evoswarm/evoswarm/internal/testnet"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/evoswarm/evoswarm/internal/model"
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train"
	"github.com/evoswarm/evoswarm/train/dataset"
)

// onnxrtDir holds scripts/onnxrt/check.js and, after
// `npm ci --ignore-scripts` there (scripts/deps.sh), onnxruntime-node.
const onnxrtDir = "../../scripts/onnxrt"

func needOnnxruntime(t *testing.T) string { return testnet.NeedOnnxruntime(t, onnxrtDir) }

// ortResult is check.js --json's output.
type ortResult struct {
	Images   int       `json:"images"`
	Correct  int       `json:"correct"`
	Accuracy float64   `json:"accuracy"`
	Pred     []int     `json:"pred"`
	Margin   []float64 `json:"margin"`
}

// tieMargin: where onnxruntime and evoswarm predict different classes for
// an image, onnxruntime's two largest logits must be closer than this (a
// near-tie that the order of float32 sums can flip; the logits themselves
// agree to 2.4e-7 in internal/onnx's test). No such image has been seen:
// so far the predictions have always been equal.
const tieMargin = 1e-4

// TestExportInOnnxruntime: the best individuals of a short real run are
// exported, and onnxruntime, fed the test split as export documents it
// (metrics.json's normalisation, NCHW float32), classifies the full test set
// exactly as evoswarm does: the same count of correct images as
// metrics.json's test_accuracy, image by image the same predictions.
func TestExportInOnnxruntime(t *testing.T) {
	needFashion(t)
	node := needOnnxruntime(t)
	dir := t.TempDir()
	// The smoke preset with longer training and mutations weighted towards
	// structure, so that the population holds convolutions, BN-ReLU
	// vertices and skips (40 children, ~10 s). With uniform mutations a
	// run of 40 children ended without any convolution in its top four
	// about one time in two.
	exp := filepath.Join(dir, "experiment.json")
	if err := os.WriteFile(exp, []byte(`{"preset": "smoke", "train": {"steps": 100},
		"mutations": {"insert-convolution": 6, "add-skip": 2, "insert-one-to-one": 2, "filter-size": 1,
			"alter-number-of-channels": 1, "alter-stride": 1, "identity": 1, "alter-learning-rate": 1}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(dir, "repo")
	if _, errOut, code := run(t, nil, "init", "--repo", repo, "--experiment", exp); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	loopbackOnly(t, repo)
	if _, errOut, code := run(t, nil, "daemon", "--repo", repo, "--max-children", "40", "--log-level", "error"); code != 0 {
		t.Fatalf("daemon: exit %d: %s", code, errOut)
	}
	out := filepath.Join(dir, "models")
	if stdout, errOut, code := run(t, nil, "export", "--repo", repo, "--out", out, "--top", "4"); code != 0 {
		t.Fatalf("export: exit %d: %s%s", code, stdout, errOut)
	}
	dirs, _ := filepath.Glob(filepath.Join(out, "*"))
	if len(dirs) == 0 {
		t.Fatal("export wrote no model")
	}
	dataDir, err := dataset.Resolve("fashion-mnist")
	if err != nil {
		t.Fatal(err)
	}
	data, err := dataset.Load("fashion-mnist", dataset.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	convs := 0
	for _, d := range dirs {
		m, err := model.Load(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range m.Genome.Edges {
			if e.Type == dna.Conv {
				convs++
			}
		}
		cmd := exec.Command(node, filepath.Join(onnxrtDir, "check.js"), d, dataDir, "--json")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		js, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: check.js: %v\n%s", d, err, stderr.Bytes())
		}
		var ort ortResult
		if err := json.Unmarshal(js, &ort); err != nil {
			t.Fatalf("%s: check.js output: %v", d, err)
		}
		if ort.Images != data.Test.N || len(ort.Pred) != ort.Images || len(ort.Margin) != ort.Images {
			t.Fatalf("%s: onnxruntime classified %d images (%d predictions), want %d", d, ort.Images, len(ort.Pred), data.Test.N)
		}
		ours := int(math.Round(m.Metrics.TestAccuracy * float64(data.Test.N)))

		// evoswarm's own predictions, as `eval` makes them.
		data.Mean, data.Std = m.Metrics.Mean, m.Metrics.Std
		cfg := train.DefaultConfig()
		cfg.BNEpsilon = m.Metrics.BNEpsilon
		pred, err := train.Predict(context.Background(), m.Genome, m.Weights, data, data.Test, cfg)
		if err != nil {
			t.Fatal(err)
		}
		differ, ties := 0, 0
		for i, p := range pred {
			if int(p) == ort.Pred[i] {
				continue
			}
			differ++
			if ort.Margin[i] < tieMargin {
				ties++
			} else {
				t.Errorf("%s: test image %d: evoswarm predicts class %d, onnxruntime %d by a margin of %.3g", d, i, p, ort.Pred[i], ort.Margin[i])
			}
		}
		if diff := ort.Correct - ours; diff > ties || -diff > ties {
			t.Errorf("%s: onnxruntime: %d of %d test images correct; metrics.json: test_accuracy %v (%d correct); %d predictions differ, %d near ties",
				filepath.Base(d), ort.Correct, ort.Images, m.Metrics.TestAccuracy, ours, differ, ties)
		}
		t.Logf("%s (%d params): onnxruntime %d of %d correct (%.4f), metrics.json %d (%.4f); %d of %d predictions differ",
			filepath.Base(d), m.Metrics.Params, ort.Correct, ort.Images, ort.Accuracy, ours, m.Metrics.TestAccuracy, differ, ort.Images)
	}
	if convs == 0 {
		t.Error("no exported model has a convolution: the run was too short to test the export's graph")
	}
}
