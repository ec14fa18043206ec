package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/evoswarm/evoswarm/internal/model"
	"github.com/evoswarm/evoswarm/internal/onnx"
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/store"
	"github.com/evoswarm/evoswarm/train"
)

// Exported is an individual written as a model directory (internal/model).
type Exported struct {
	ID           dna.ID
	Dir          string
	ValAccuracy  float64
	TestAccuracy float64 // measured by the export
	Params       int64
}

// ExportBest writes the best top live individuals (by validation accuracy)
// into out, each into out/NN-ID/ as Export does. It calls measuring(i, n)
// before the i-th of n (from 1) and wrote after each.
func (r *StoppedRepo) ExportBest(ctx context.Context, out string, top int, measuring func(i, n int), wrote func(Exported)) error {
	if _, err := r.dataset(); err != nil {
		return err
	}
	var alive []store.Member
	if err := r.st.View(func(tx *store.Tx) error {
		var err error
		alive, err = tx.Alive()
		return err
	}); err != nil {
		return err
	}
	if len(alive) == 0 {
		return errors.New("the population is empty: nothing to export")
	}
	// Into an empty directory only: models of an earlier export left
	// beside these would make "01-*" name two models.
	if entries, err := os.ReadDir(out); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s is not empty (it holds %s, ...): export into a new directory, or remove what is there first", out, entries[0].Name())
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	slices.SortFunc(alive, func(a, b store.Member) int { return cmp.Compare(b.Fitness, a.Fitness) })
	chosen := alive[:min(top, len(alive))]
	for rank, m := range chosen {
		if measuring != nil {
			measuring(rank+1, len(chosen))
		}
		dir := filepath.Join(out, fmt.Sprintf("%02d-%s", rank+1, m.ID.Short()))
		e, err := r.Export(ctx, m.ID, dir)
		if err != nil {
			return err
		}
		if wrote != nil {
			wrote(e)
		}
	}
	return nil
}

// Export writes individual id into dir as a model: genome.json,
// weights.evwt, model.onnx and metrics.json (internal/model), with its
// test accuracy measured now on the experiment's test split (used only
// here and in reports, never for fitness) and its lineage.
func (r *StoppedRepo) Export(ctx context.Context, id dna.ID, dir string) (Exported, error) {
	data, err := r.dataset()
	if err != nil {
		return Exported{}, err
	}
	var rec *store.Individual
	var wb []byte
	if err := r.st.View(func(tx *store.Tx) error {
		var err error
		if rec, err = tx.Get(id); err != nil {
			return err
		}
		wb, err = tx.Weights(id)
		return err
	}); err != nil {
		return Exported{}, err
	}
	g, err := dna.DecodeBinary(rec.Genome)
	if err != nil {
		return Exported{}, err
	}
	w, err := train.DecodeWeights(wb, 1<<31-1)
	if err != nil {
		return Exported{}, err
	}
	test, err := train.Evaluate(ctx, g, w, data, data.Test, r.exp.Train)
	if err != nil {
		return Exported{}, err
	}
	lineage, err := Lineage(r.st, id)
	if err != nil {
		return Exported{}, err
	}
	m := model.Metrics{
		ID: id.String(), Data: r.exp.Data, DataIdentity: data.Identity, Mean: data.Mean, Std: data.Std,
		ClassNames: model.ClassNames(r.exp.Data, g.Classes), ValAccuracy: rec.Fitness, TestAccuracy: test,
		Params: g.Params(), FLOPs: g.FLOPs(), BNEpsilon: r.exp.Train.BNEpsilon,
	}
	for _, a := range lineage {
		m.Lineage = append(m.Lineage, model.Step{ID: a.ID, Mutation: a.Mutation, ValAccuracy: a.Fitness})
	}
	if err := model.Save(dir, g, wb, m); err != nil {
		return Exported{}, err
	}
	f, err := os.Create(filepath.Join(dir, model.ONNXFile))
	if err != nil {
		return Exported{}, err
	}
	if err := onnx.Write(f, g, w, r.exp.Train.BNEpsilon); err != nil {
		f.Close()
		return Exported{}, fmt.Errorf("%s: %w", filepath.Join(dir, model.ONNXFile), err)
	}
	if err := f.Close(); err != nil {
		return Exported{}, err
	}
	return Exported{ID: id, Dir: dir, ValAccuracy: rec.Fitness, TestAccuracy: test, Params: m.Params}, nil
}
