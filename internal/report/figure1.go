package report

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Dot is one individual as Figure1 draws it.
type Dot struct {
	Born      time.Time // when it was trained (received, for an immigrant)
	Fitness   float64   // validation accuracy
	Alive     bool
	Immigrant bool
}

// Series is one node's individuals.
type Series struct {
	Name string // the legend's label, e.g. a short peer ID
	Dots []Dot
}

// Options size and encode a figure.
type Options struct {
	// Width and Height are the image's size; the defaults are 8in and 5in.
	// A PNG has 96 pixels per inch.
	Width, Height vg.Length
	// Format is the image format: png (the default), svg, pdf, eps, jpg,
	// tif.
	Format string
}

// ErrNoData is returned for series that hold no individual.
var ErrNoData = errors.New("report: no individuals to plot")

// Sizes and colours of the dots.
var (
	deadColor   = color.RGBA{R: 170, G: 170, B: 170, A: 255}
	deadRadius  = vg.Points(1.5)
	aliveRadius = vg.Points(3.5)
	lineWidth   = vg.Points(1.5)
)

// Figure1 draws the paper's Figure 1 for series: x is wall time since the
// first birth in any series (in hours; in minutes for a run shorter than
// two hours, seconds for one shorter than two minutes), y the validation
// accuracy; one dot per individual, small and grey when dead, larger and
// in its node's colour when alive, a triangle for an immigrant; and a
// best-so-far step line per node, named in the legend.
func Figure1(w io.Writer, series []Series, opts Options) error {
	p, err := figure1(series)
	if err != nil {
		return err
	}
	if opts.Width == 0 {
		opts.Width = 8 * vg.Inch
	}
	if opts.Height == 0 {
		opts.Height = 5 * vg.Inch
	}
	if opts.Format == "" {
		opts.Format = "png"
	}
	if opts.Width < vg.Inch || opts.Height < vg.Inch {
		return fmt.Errorf("report: figure size %v x %v is too small: give at least 1in each way", opts.Width, opts.Height)
	}
	// gonum/plot rasterises at 96 dots an inch: 100 inches a side is a
	// 9,600-pixel square, 350 MiB of RGBA; more is a typo, not a figure.
	if opts.Width > 100*vg.Inch || opts.Height > 100*vg.Inch {
		return fmt.Errorf("report: figure size %v x %v is too large: give at most 100in each way", opts.Width, opts.Height)
	}
	wt, err := p.WriterTo(opts.Width, opts.Height, opts.Format)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	_, err = wt.WriteTo(w)
	return err
}

// figure1 builds the plot.
func figure1(series []Series) (*plot.Plot, error) {
	var first, last time.Time
	n := 0
	for _, s := range series {
		for _, d := range s.Dots {
			if n == 0 || d.Born.Before(first) {
				first = d.Born
			}
			if n == 0 || d.Born.After(last) {
				last = d.Born
			}
			n++
		}
	}
	if n == 0 {
		return nil, ErrNoData
	}
	unit, unitName := time.Hour, "hours"
	switch span := last.Sub(first); {
	case span < 2*time.Minute:
		unit, unitName = time.Second, "seconds"
	case span < 2*time.Hour:
		unit, unitName = time.Minute, "minutes"
	}
	x := func(t time.Time) float64 { return float64(t.Sub(first)) / float64(unit) }

	p := plot.New()
	p.Title.Text = "Evolution: validation accuracy of every individual"
	p.X.Label.Text = fmt.Sprintf("wall time since the first birth (%s)", unitName)
	p.Y.Label.Text = "validation accuracy"
	p.Y.Min, p.Y.Max = 0, 1
	p.X.Min = 0
	p.Add(plotter.NewGrid())
	// Top left: early individuals are poor, so that corner stays empty.
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(6), -vg.Points(6)

	// Dead dots first, so that live ones and lines are drawn over them.
	var dead, deadImm plotter.XYs
	for _, s := range series {
		for _, d := range s.Dots {
			if !d.Alive {
				if d.Immigrant {
					deadImm = append(deadImm, plotter.XY{X: x(d.Born), Y: d.Fitness})
				} else {
					dead = append(dead, plotter.XY{X: x(d.Born), Y: d.Fitness})
				}
			}
		}
	}
	if err := addDots(p, dead, deadColor, deadRadius, draw.CircleGlyph{}); err != nil {
		return nil, err
	}
	if err := addDots(p, deadImm, deadColor, deadRadius, draw.PyramidGlyph{}); err != nil {
		return nil, err
	}
	for i, s := range series {
		if len(s.Dots) == 0 {
			continue
		}
		c := plotutil.Color(i)
		var alive, aliveImm plotter.XYs
		for _, d := range s.Dots {
			if d.Alive {
				pt := plotter.XY{X: x(d.Born), Y: d.Fitness}
				if d.Immigrant {
					aliveImm = append(aliveImm, pt)
				} else {
					alive = append(alive, pt)
				}
			}
		}
		if err := addDots(p, alive, c, aliveRadius, draw.CircleGlyph{}); err != nil {
			return nil, err
		}
		if err := addDots(p, aliveImm, c, aliveRadius, draw.PyramidGlyph{}); err != nil {
			return nil, err
		}
		l, err := plotter.NewLine(bestSoFar(s.Dots, x))
		if err != nil {
			return nil, fmt.Errorf("report: %s: %w", s.Name, err)
		}
		l.StepStyle = plotter.PostStep
		l.LineStyle.Color, l.LineStyle.Width = c, lineWidth
		p.Add(l)
		name := s.Name
		if name == "" {
			name = fmt.Sprintf("node %d", i+1)
		}
		p.Legend.Add(name+", best so far", l)
	}
	// Keys for the dots' meaning.
	for _, k := range []struct {
		label  string
		c      color.Color
		r      vg.Length
		glyphs draw.GlyphDrawer
	}{
		{"alive", color.Black, aliveRadius, draw.CircleGlyph{}},
		{"dead", deadColor, aliveRadius, draw.CircleGlyph{}},
		{"immigrant", color.Black, aliveRadius, draw.PyramidGlyph{}},
	} {
		sc, err := plotter.NewScatter(plotter.XYs{{}})
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: k.c, Radius: k.r, Shape: k.glyphs}
		p.Legend.Add(k.label, sc)
	}
	return p, nil
}

// addDots adds a scatter of pts, if any.
func addDots(p *plot.Plot, pts plotter.XYs, c color.Color, r vg.Length, shape draw.GlyphDrawer) error {
	if len(pts) == 0 {
		return nil
	}
	sc, err := plotter.NewScatter(pts)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	sc.GlyphStyle = draw.GlyphStyle{Color: c, Radius: r, Shape: shape}
	p.Add(sc)
	return nil
}

// bestSoFar is a node's best fitness so far at each birth, in birth order.
func bestSoFar(dots []Dot, x func(time.Time) float64) plotter.XYs {
	sorted := slices.Clone(dots)
	slices.SortStableFunc(sorted, func(a, b Dot) int { return a.Born.Compare(b.Born) })
	out := make(plotter.XYs, 0, len(sorted))
	best := sorted[0].Fitness
	for _, d := range sorted {
		best = max(best, d.Fitness)
		out = append(out, plotter.XY{X: x(d.Born), Y: best})
	}
	return out
}
