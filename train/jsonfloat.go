package train

import (
	"encoding/json"
	"math"
	"strconv"
)

// jsonFloat is a float64 that encoding/json can always write: a NaN or an
// infinity (a diverged loss, a disagreement) is written as the string
// "NaN", "+Inf" or "-Inf", where a plain float64 would fail the whole
// encoding.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

func jsonFloats(v []float64) []jsonFloat {
	if v == nil {
		return nil
	}
	out := make([]jsonFloat, len(v))
	for i, x := range v {
		out[i] = jsonFloat(x)
	}
	return out
}

// MarshalJSON writes a result whose loss diverged too (final_loss "NaN").
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		plain
		FinalLoss jsonFloat `json:"final_loss"`
	}{plain(r), jsonFloat(r.FinalLoss)})
}

// MarshalJSON writes an agreement whose engines disagree too (differences
// "+Inf", losses "NaN").
func (a Agreement) MarshalJSON() ([]byte, error) {
	type plain Agreement
	return json.Marshal(struct {
		plain
		LogitsMaxDiff      jsonFloat   `json:"logits_max_diff"`
		FinalLogitsMaxDiff jsonFloat   `json:"final_logits_max_diff"`
		LossCPU            []jsonFloat `json:"loss_cpu"`
		LossDevice         []jsonFloat `json:"loss_device"`
		LossMaxDiff        jsonFloat   `json:"loss_max_diff"`
		WeightsMaxDiff     jsonFloat   `json:"weights_max_diff"`
	}{plain(a), jsonFloat(a.LogitsMaxDiff), jsonFloat(a.FinalLogitsMaxDiff), jsonFloats(a.LossCPU), jsonFloats(a.LossDevice),
		jsonFloat(a.LossMaxDiff), jsonFloat(a.WeightsMaxDiff)})
}
