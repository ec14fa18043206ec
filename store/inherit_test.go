package store

import (
	"strings"
	"testing"
)

// TestInheritanceCounts: a record keeps how many values an individual
// took whole, sliced and new from its parent; a record without them (one
// written before they existed, or an immigrant's) still decodes, with
// zeros, and writing zeros leaves the fields out, as before.
func TestInheritanceCounts(t *testing.T) {
	ind := newInd(1, testID(0), 0.5)
	ind.Status = StatusAlive
	ind.InheritedParams, ind.SlicedParams, ind.NewParams = 700, 250, 51
	b, err := encodeIndividual(ind)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeIndividual(ind.ID, b)
	if err != nil {
		t.Fatal(err)
	}
	if got.InheritedParams != 700 || got.SlicedParams != 250 || got.NewParams != 51 {
		t.Errorf("decoded %d whole, %d sliced, %d new; want 700, 250, 51", got.InheritedParams, got.SlicedParams, got.NewParams)
	}

	ind.InheritedParams, ind.SlicedParams, ind.NewParams = 0, 0, 0
	b, err = encodeIndividual(ind)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"inherited_params", "sliced_params", "new_params"} {
		if strings.Contains(string(b), k) {
			t.Errorf("a record without counts names %s: %s", k, b)
		}
	}
	// A record as this version wrote it before the counts existed.
	old := `{"v":1,"id":"` + ind.ID.String() + `","genome":"Z2Vub21lIDE=","fitness":0.5,"status":"alive",` +
		`"born":"2026-03-01T12:00:01Z","parent":"` + testID(0).String() + `","mutation":"insert-convolution",` +
		`"origin":"12D3KooWtest","params":1001,"train_flops":1000000000,"eval_flops":100000000,"steps":300}`
	got, err = decodeIndividual(ind.ID, []byte(old))
	if err != nil {
		t.Fatal(err)
	}
	if got.InheritedParams != 0 || got.SlicedParams != 0 || got.NewParams != 0 || got.Params != 1001 || got.Steps != 300 {
		t.Errorf("old record decoded as %+v", got)
	}
}
