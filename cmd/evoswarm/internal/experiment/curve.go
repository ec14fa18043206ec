package experiment

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// Point is one sample of a run's progress.
type Point struct {
	// Seconds since the run started (all its nodes ready).
	Seconds float64
	// BestVal is the best validation accuracy any of the run's nodes had
	// reached by then; NaN before the first individual was trained.
	BestVal float64
	// Children is the number of individuals the run's nodes had trained
	// (their trained_total, summed).
	Children uint64
	// FLOPs is the training and evaluation FLOPs they had spent (their
	// flops_total, summed).
	FLOPs float64
	// NodeMean and NodeWorst are the mean and the lowest over the run's
	// nodes of each node's own best validation accuracy by then (what a
	// node of the swarm holds, where BestVal is what the swarm's best node
	// holds); NaN before every node trained an individual, and in a
	// curve.csv written before these columns.
	NodeMean, NodeWorst float64
}

// Curve is a run's progress: points in time order, best accuracy never
// decreasing.
type Curve struct {
	Config string
	Seed   uint64
	Points []Point
}

// Final is the curve's last best validation accuracy (NaN for an empty
// curve or one with no trained individual).
func (c Curve) Final() float64 {
	if len(c.Points) == 0 {
		return math.NaN()
	}
	return c.Points[len(c.Points)-1].BestVal
}

// curveHeader is the header of a run's curve.csv; the plan's curves.csv
// puts configuration and seed before it.
var curveHeader = []string{"seconds", "best_val_accuracy", "children", "flops", "nodes_mean_best_val_accuracy", "nodes_worst_best_val_accuracy"}

// oldCurveColumns is how many leading columns of curveHeader a curve.csv
// written before the per-node columns has.
const oldCurveColumns = 4

func (p Point) record() []string {
	return []string{strconv.FormatFloat(p.Seconds, 'f', 3, 64), accuracy(p.BestVal), strconv.FormatUint(p.Children, 10),
		strconv.FormatFloat(p.FLOPs, 'g', 6, 64), accuracy(p.NodeMean), accuracy(p.NodeWorst)}
}

// accuracy formats an accuracy for a CSV cell, empty for NaN.
func accuracy(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'f', 6, 64)
}

// stored returns the points as curve.csv keeps them: every value rounded
// to the CSV's precision. A fresh run's summary is built from these, so
// that writing it again from the files gives the same text (a mean of
// exactly 27.75% must not print 27.8% once and 27.7% after a reload).
func stored(pts []Point) ([]Point, error) {
	out := make([]Point, len(pts))
	for i, p := range pts {
		q, err := parsePoint(p.record(), len(curveHeader))
		if err != nil {
			return nil, fmt.Errorf("curve: point %d: %w", i, err)
		}
		out[i] = q
	}
	return out, nil
}

// parseAccuracy reads what accuracy wrote.
func parseAccuracy(s string) (float64, error) {
	if s == "" {
		return math.NaN(), nil
	}
	return strconv.ParseFloat(s, 64)
}

// WriteCSV writes the curve's points under curveHeader.
func (c Curve) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write(curveHeader)
	for _, p := range c.Points {
		cw.Write(p.record())
	}
	cw.Flush()
	return cw.Error()
}

// WriteCurvesCSV writes every curve into one table: configuration, seed,
// then a run's columns.
func WriteCurvesCSV(w io.Writer, curves []Curve) error {
	cw := csv.NewWriter(w)
	cw.Write(append([]string{"configuration", "seed"}, curveHeader...))
	for _, c := range curves {
		for _, p := range c.Points {
			cw.Write(append([]string{c.Config, strconv.FormatUint(c.Seed, 10)}, p.record()...))
		}
	}
	cw.Flush()
	return cw.Error()
}

// ReadCurveCSV reads what WriteCSV wrote, and a curve.csv written before
// the per-node columns (their values NaN).
func ReadCurveCSV(r io.Reader) ([]Point, error) {
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 || (fmt.Sprint(rows[0]) != fmt.Sprint(curveHeader) && fmt.Sprint(rows[0]) != fmt.Sprint(curveHeader[:oldCurveColumns])) {
		return nil, errors.New("curve: not a curve.csv (wrong header)")
	}
	cols := len(rows[0])
	var out []Point
	for i, row := range rows[1:] {
		p, err := parsePoint(row, cols)
		if err != nil {
			return nil, fmt.Errorf("curve: row %d: %w", i+2, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePoint(row []string, cols int) (Point, error) {
	p := Point{NodeMean: math.NaN(), NodeWorst: math.NaN()}
	var err error
	if len(row) != cols {
		return p, fmt.Errorf("%d columns, want %d", len(row), cols)
	}
	if p.Seconds, err = strconv.ParseFloat(row[0], 64); err != nil {
		return p, err
	}
	if p.BestVal, err = parseAccuracy(row[1]); err != nil {
		return p, err
	}
	if p.Children, err = strconv.ParseUint(row[2], 10, 64); err != nil {
		return p, err
	}
	if p.FLOPs, err = strconv.ParseFloat(row[3], 64); err != nil || cols == oldCurveColumns {
		return p, err
	}
	if p.NodeMean, err = parseAccuracy(row[4]); err != nil {
		return p, err
	}
	p.NodeWorst, err = parseAccuracy(row[5])
	return p, err
}

// hasNodeBests says whether any point has the per-node columns.
func hasNodeBests(pts []Point) bool {
	for _, p := range pts {
		if !math.IsNaN(p.NodeMean) {
			return true
		}
	}
	return false
}
