package main

import (
	"errors"
	"fmt"

	"github.com/evoswarm/evoswarm/node"
	"github.com/spf13/cobra"
)

func newBootstrapCmd() *cobra.Command {
	var repo string
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "List, add or remove the peers a node connects to at start",
		Long: `A node's bootstrap list (in the repo's config.json) holds full multiaddrs of
peers to connect to at start, ending in /p2p/<peer-id>; a running node
prints its own. From those peers it finds the rest of the swarm.`,
	}
	cmd.PersistentFlags().StringVar(&repo, "repo", node.DefaultRepo(), "repo directory ($EVOSWARM_PATH, or ~/.evoswarm)")
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "Print the bootstrap list",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := node.LoadRepoExperiment(repo); err != nil {
				return err
			}
			c, err := node.LoadConfig(repo)
			if err != nil {
				return err
			}
			for _, a := range c.Bootstrap {
				fmt.Fprintln(cmd.OutOrStdout(), a)
			}
			return nil
		},
	}, &cobra.Command{
		Use:   "add MULTIADDR...",
		Short: "Add peers to the bootstrap list",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := node.LoadRepoExperiment(repo); err != nil {
				return err
			}
			return node.AddBootstrap(repo, args...)
		},
	})
	var all bool
	rm := &cobra.Command{
		Use:   "rm [MULTIADDR...]",
		Short: "Remove peers from the bootstrap list (--all for every one)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := node.LoadRepoExperiment(repo); err != nil {
				return err
			}
			if !all && len(args) == 0 {
				return errors.New("name the addresses to remove, or pass --all")
			}
			return node.RemoveBootstrap(repo, all, args...)
		},
	}
	rm.Flags().BoolVar(&all, "all", false, "remove every address")
	cmd.AddCommand(rm)
	return cmd
}
