package main

import (
	"github.com/evoswarm/evoswarm/gossip"
	"github.com/spf13/cobra"
)

func newSwarmKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "swarm-key",
		Short: "Make a key for a private swarm",
		Long: `A repo holding swarm.key joins a private swarm: it connects only to peers
holding the same key, over TCP only (QUIC cannot carry a private network).
Give every machine of a lab the same key:

  evoswarm swarm-key gen > ~/.evoswarm/swarm.key`,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "gen",
		Short: "Print a new random swarm key (/key/swarm/psk/1.0.0/ format)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(gossip.GenerateSwarmKey())
			return err
		},
	})
	return cmd
}
