package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/evoswarm/evoswarm/node"
)

func newEventsCmd() *cobra.Command {
	var repo, types string
	var after uint64
	var last int
	var jsonOut, follow bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Print a node's history: births, deaths, migrants, errors and abandoned trainings",
		Long: `Print the repo's event history, oldest first, from its running daemon or,
when none runs, from its store. Every change to the population is an event
with a sequence number: birth, death, immigration, emigration, error (a
training or evaluation that failed, such as a diverging loss, with the
reason) and abandon (a training given up at a stop or a conflict).

  evoswarm events --type error,abandon     # what went wrong, and why
  evoswarm events --after 1200 --last 0     # everything since event 1200
  evoswarm events --follow --type error     # the latest errors, then each new one

With --follow (a running daemon only) it keeps printing new events until
interrupted, and --json prints one JSON object a line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := node.EventQuery{After: after, Last: last}
			var err error
			if q.Types, err = node.ParseEventTypes(types); err != nil {
				return err
			}
			if last < 0 {
				return fmt.Errorf("--last %d: want a count (0: all, up to %d)", last, node.MaxEvents)
			}
			if follow {
				return followEvents(cmd, repo, q, interval, jsonOut)
			}
			evs, err := node.RepoEvents(repo, q)
			if err != nil {
				return err
			}
			return output(cmd, jsonOut, evs, func(w io.Writer) { printEvents(w, evs) })
		},
	}
	repoFlag(cmd, &repo)
	cmd.Flags().StringVar(&types, "type", "", "only these types, comma-separated: birth, death, immigration, emigration, error, abandon")
	cmd.Flags().Uint64Var(&after, "after", 0, "only events after this sequence number")
	cmd.Flags().IntVar(&last, "last", 50, fmt.Sprintf("only the last N of them (0: all, the first %d)", node.MaxEvents))
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON (with --follow, one object a line)")
	cmd.Flags().BoolVar(&follow, "follow", false, "keep printing new events until interrupted (a running daemon only)")
	cmd.Flags().DurationVar(&interval, "interval", 2*time.Second, "with --follow, how often to ask the daemon")
	return cmd
}

// followEvents prints the query's events, then each new one, until
// interrupted or the daemon stops.
func followEvents(cmd *cobra.Command, repo string, q node.EventQuery, interval time.Duration, jsonOut bool) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	w := cmd.OutOrStdout()
	enc := json.NewEncoder(w)
	header := true
	err := node.FollowEvents(ctx, repo, q, interval, func(evs []node.EventView) error {
		if jsonOut {
			for _, e := range evs {
				if err := enc.Encode(e); err != nil {
					return err
				}
			}
			return nil
		}
		printEventRows(w, evs, header)
		header = false
		return nil
	})
	if errors.Is(err, node.ErrDaemonStopped) {
		fmt.Fprintln(cmd.ErrOrStderr(), "evoswarm: the daemon stopped; no more events to follow")
		return nil
	}
	return err
}

func printEvents(w io.Writer, evs []node.EventView) {
	if len(evs) == 0 {
		fmt.Fprintln(w, "no events")
		return
	}
	printEventRows(w, evs, true)
}

func printEventRows(w io.Writer, evs []node.EventView, header bool) {
	if header {
		fmt.Fprintf(w, "%7s  %-20s  %-11s  %-12s  %8s  %-24s  %s\n", "seq", "time (UTC)", "type", "id", "val", "mutation", "detail")
	}
	for _, e := range evs {
		id := e.ID
		if len(id) > 12 {
			id = id[:12]
		}
		fmt.Fprintf(w, "%7d  %-20s  %-11s  %-12s  %8.4f  %-24s  %s\n", e.Seq, e.Time.Format("2006-01-02 15:04:05"), e.Type, id, e.Fitness, e.Mutation, e.Detail)
	}
}
