package main

import (
	"fmt"
	"io"
	"slices"

	"github.com/evoswarm/evoswarm/node"
)

// writeLineage prints a lineage as a table, oldest first. Each step names
// the node it lived on by the end of its peer ID (the full IDs follow the
// table); a migration is the same individual twice, on its sender, then
// as an immigrant (*) on its receiver.
func writeLineage(w io.Writer, l []node.Ancestor) {
	tail := func(p string) string {
		if p == "" {
			return "?"
		}
		return p[max(0, len(p)-8):]
	}
	fmt.Fprintf(w, "%-4s %-12s %-9s %-26s %-8s %-9s %-9s %s\n", "gen", "id", "node", "mutation", "val_acc", "status", "params", "inherited whole/sliced/new")
	var nodes []string
	immigrants := false
	for i, a := range l {
		if a.Unknown() {
			fmt.Fprintf(w, "%-4d %-12s %-9s (an ancestor whose own ancestry is unknown here: its sender did not give it)\n", i, a.ID[:12], "?")
			continue
		}
		if a.Node != "" && !slices.Contains(nodes, a.Node) {
			nodes = append(nodes, a.Node)
		}
		nd := tail(a.Node)
		if a.Immigrant {
			nd, immigrants = nd+"*", true
		}
		inh := "-" // not recorded: an immigrant, a record from before the counts, another node's step
		if a.InheritedParams+a.SlicedParams+a.NewParams > 0 {
			inh = fmt.Sprintf("%d/%d/%d", a.InheritedParams, a.SlicedParams, a.NewParams)
		}
		params := "-"
		if a.Params > 0 {
			params = fmt.Sprint(a.Params)
		}
		fmt.Fprintf(w, "%-4d %-12s %-9s %-26s %-8.4f %-9s %-9s %s\n", i, a.ID[:12], nd, a.Mutation, a.Fitness, a.Status, params, inh)
	}
	if immigrants {
		fmt.Fprintln(w, "* an immigrant there: the step before it is the same individual on the node that sent it")
	}
	for _, n := range nodes {
		fmt.Fprintf(w, "node %-8s %s\n", tail(n), n)
	}
}
