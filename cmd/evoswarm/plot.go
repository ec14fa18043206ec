package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/evoswarm/evoswarm/internal/report"
	"github.com/evoswarm/evoswarm/node"
	"github.com/spf13/cobra"
	"gonum.org/v1/plot/vg"
)

func newPlotCmd() *cobra.Command {
	var repos []string
	var out, width, height string
	cmd := &cobra.Command{
		Use:   "plot --repo DIR [--repo DIR2 ...] --out FILE.png",
		Short: "Draw the paper's Figure 1 for stopped nodes: every individual's accuracy against time",
		Long: `Draw the paper's Figure 1 from the records of one or more repos: x is the
wall time since the first birth in any of them (hours; minutes for a run
shorter than two hours, seconds for one shorter than two minutes), y the
validation accuracy. Each individual is a dot, small and grey once dead,
larger and in its node's colour while alive, a triangle if it came from
another node; each node adds its best-so-far line, named in the legend by its
short peer ID. The daemons must be stopped.

The format follows the --out extension: .png, .svg, .pdf, .eps, .jpg, .tif.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(repos) == 0 {
				repos = []string{node.DefaultRepo()}
			}
			opts, err := plotOptions(out, width, height)
			if err != nil {
				return err
			}
			var series []report.Series
			for _, dir := range repos {
				s, err := loadSeries(dir)
				if err != nil {
					return err
				}
				series = append(series, s)
			}
			if err := writePlot(out, series, opts); err != nil {
				if errors.Is(err, report.ErrNoData) {
					return fmt.Errorf("nothing to plot: no individual has been trained in %s yet", strings.Join(repos, ", "))
				}
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "wrote", out)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&repos, "repo", nil, "repo directory, repeatable ($EVOSWARM_PATH, or ~/.evoswarm)")
	cmd.Flags().StringVar(&out, "out", "", "image file to write (required); its extension picks the format")
	cmd.Flags().StringVar(&width, "width", "8in", "image width (in, cm, mm, pt)")
	cmd.Flags().StringVar(&height, "height", "5in", "image height (in, cm, mm, pt)")
	cmd.MarkFlagRequired("out")
	return cmd
}

// loadSeries reads the individuals of the stopped repo in dir as a
// figure's series, named after the node's peer ID.
func loadSeries(dir string) (report.Series, error) {
	peer, recs, err := loadRecords(dir)
	if err != nil {
		return report.Series{}, err
	}
	return report.NewSeries(peer, recs)
}

// loadRecords reads the node's peer ID and its individuals' records from
// the stopped repo in dir.
func loadRecords(dir string) (string, []report.Record, error) {
	_, id, err := node.LoadIdentity(dir)
	if err != nil {
		return "", nil, err
	}
	list, err := node.ReadStopped(dir, (*node.StoppedRepo).Individuals)
	if err != nil {
		return "", nil, err
	}
	recs := make([]report.Record, len(list))
	for i, s := range list {
		recs[i] = report.Record{ID: s.ID, Status: s.Status, Fitness: s.Fitness, Immigrant: s.Immigrant, Born: s.Born,
			Parent: s.Parent, Mutation: s.Mutation}
	}
	return id.String(), recs, nil
}

// plotOptions checks the output file name and the size.
func plotOptions(out, width, height string) (report.Options, error) {
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(out)), ".")
	switch format {
	case "png", "svg", "pdf", "eps", "jpg", "jpeg", "tif", "tiff":
	default:
		return report.Options{}, fmt.Errorf("--out %q: unknown image format %q; use .png, .svg, .pdf, .eps, .jpg or .tif", out, format)
	}
	w, err := vg.ParseLength(width)
	if err != nil {
		return report.Options{}, fmt.Errorf("--width %q: %w; write e.g. 8in or 20cm", width, err)
	}
	h, err := vg.ParseLength(height)
	if err != nil {
		return report.Options{}, fmt.Errorf("--height %q: %w; write e.g. 5in or 12cm", height, err)
	}
	return report.Options{Width: w, Height: h, Format: format}, nil
}

// writePlot draws into a temporary file beside out and renames it, so that
// a failure leaves no half-written image.
func writePlot(out string, series []report.Series, opts report.Options) error {
	f, err := os.CreateTemp(filepath.Dir(out), ".evoswarm-plot-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := report.Figure1(f, series, opts); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), out)
}
