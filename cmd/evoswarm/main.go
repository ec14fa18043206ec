// Command evoswarm is the one binary of evoswarm: it evolves image
// classifiers on a peer-to-peer island-model swarm. Each verb is a thin
// wrapper over the packages that own the work; see docs/ARCHITECTURE.md.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// exitError carries an exit status through cobra without printing usage.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	root := newRootCmd()
	if err := root.Execute(); err != nil {
		code := 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		fmt.Fprintln(os.Stderr, "evoswarm:", err)
		os.Exit(code)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "evoswarm",
		Short: "Evolve image classifiers on a peer-to-peer swarm (Real et al., 2017)",
		Long: `evoswarm evolves image classifiers with the method of "Large-Scale Evolution
of Image Classifiers" (Real et al., ICML 2017) on a peer-to-peer island-model
swarm: each node keeps a sub-population, runs pairwise tournaments, trains
children (with oneDNN in the fast build, gorgonia in every build, CUDA on a
GPU), and gossips migrants to its peers over libp2p.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newVersionCmd(), newInitCmd(), newDaemonCmd(), newStatusCmd(), newLineageCmd(), newVerifyCmd(), newProgressCmd(), newEventsCmd(), newBootstrapCmd(), newLocalCmd(), newSwarmKeyCmd(), newExportCmd(), newEvalCmd(), newPredictCmd(), newDNACmd(), newTrainCmd(), newBenchCmd(), newPlotCmd(), newExperimentCmd(), newSimulateCmd())
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes every command that only groups others
// (dna, bench, bootstrap, swarm-key, and the root) fail on a word that
// names none of them: cobra would print the help and exit 0, so that
// `evoswarm dna chek < g.json && echo valid` said valid. Without a word they
// still print their help.
func refuseUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if !c.HasSubCommands() || c.Runnable() {
		return
	}
	c.Args = cobra.NoArgs
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("unknown command %q for %q; see %s --help", args[0], cmd.CommandPath(), cmd.CommandPath())
		}
		return cmd.Help()
	}
}
