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
var curveHeader = []string{"seconds", "best_val_accuracy", "children", "flops"}

func (p Point) record() []string {
	best := ""
	if !math.IsNaN(p.BestVal) {
		best = strconv.FormatFloat(p.BestVal, 'f', 6, 64)
	}
	return []string{strconv.FormatFloat(p.Seconds, 'f', 3, 64), best, strconv.FormatUint(p.Children, 10), strconv.FormatFloat(p.FLOPs, 'g', 6, 64)}
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

// ReadCurveCSV reads what WriteCSV wrote.
func ReadCurveCSV(r io.Reader) ([]Point, error) {
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 || fmt.Sprint(rows[0]) != fmt.Sprint(curveHeader) {
		return nil, errors.New("curve: not a curve.csv (wrong header)")
	}
	var out []Point
	for i, row := range rows[1:] {
		p, err := parsePoint(row)
		if err != nil {
			return nil, fmt.Errorf("curve: row %d: %w", i+2, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePoint(row []string) (Point, error) {
	var p Point
	var err error
	if len(row) != len(curveHeader) {
		return p, fmt.Errorf("%d columns, want %d", len(row), len(curveHeader))
	}
	if p.Seconds, err = strconv.ParseFloat(row[0], 64); err != nil {
		return p, err
	}
	p.BestVal = math.NaN()
	if row[1] != "" {
		if p.BestVal, err = strconv.ParseFloat(row[1], 64); err != nil {
			return p, err
		}
	}
	if p.Children, err = strconv.ParseUint(row[2], 10, 64); err != nil {
		return p, err
	}
	p.FLOPs, err = strconv.ParseFloat(row[3], 64)
	return p, err
}
