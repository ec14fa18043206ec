package train

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// A diverged result and a disagreement encode as JSON, non-finite values
// as strings, every other field as before.
func TestNonFiniteJSON(t *testing.T) {
	acc := 0.5
	b, err := json.Marshal(&Result{ValAccuracy: 0.25, TestAccuracy: &acc, FinalLoss: math.NaN(), Diverged: true, Reason: "loss NaN at step 3", Engine: EngineGorgonia})
	if err != nil {
		t.Fatalf("a diverged result: %v", err)
	}
	for _, want := range []string{`"final_loss":"NaN"`, `"val_accuracy":0.25`, `"test_accuracy":0.5`, `"diverged":true`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s: no %s", b, want)
		}
	}
	if strings.Count(string(b), `"final_loss"`) != 1 {
		t.Errorf("%s: final_loss twice", b)
	}
	b, err = json.Marshal([]*Agreement{{Genome: "g", LossMaxDiff: math.Inf(1), LossCPU: []float64{2.3, math.NaN()}, LossDevice: []float64{2.3, math.Inf(-1)}, WeightsMaxDiff: 1e-3}})
	if err != nil {
		t.Fatalf("a disagreement: %v", err)
	}
	for _, want := range []string{`"loss_max_diff":"+Inf"`, `"loss_cpu":[2.3,"NaN"]`, `"loss_device":[2.3,"-Inf"]`, `"weights_max_diff":0.001`, `"genome":"g"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s: no %s", b, want)
		}
	}
	var back map[string]any
	if err := json.Unmarshal(b[1:len(b)-1], &back); err != nil {
		t.Errorf("%s does not decode: %v", b, err)
	}
}
