package main

import (
	"strings"
	"testing"

	"github.com/evoswarm/evoswarm/node"
)

// TestWriteLineage: the table names each step's node, marks an immigrant
// and an unknown chain, and lists the full peer IDs.
func TestWriteLineage(t *testing.T) {
	const a, b = "12D3KooWAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAnodeAAAA", "12D3KooWBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBnodeBBBB"
	id := func(c string) string { return strings.Repeat(c, 64) }
	var sb strings.Builder
	writeLineage(&sb, []node.Ancestor{
		{ID: id("0"), Status: node.StepUnknown, ChainUnknown: true},
		{ID: id("1"), Mutation: "identity", Fitness: 0.5, Status: node.StepRemote, Node: a},
		{ID: id("1"), Mutation: "identity", Fitness: 0.49, Status: "alive", Node: b, Immigrant: true, Params: 1234},
	})
	out := sb.String()
	for _, want := range []string{"node", "ancestry is unknown", "nodeAAAA  identity", "nodeBBBB* identity", "remote", "alive", "1234",
		"* an immigrant there", "node nodeAAAA " + a, "node nodeBBBB " + b} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
}
