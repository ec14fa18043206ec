package experiment

import (
	"fmt"
	"io"
	"time"

	"github.com/evoswarm/evoswarm/node"
)

// Diversity says how far apart the nodes' best individuals are at the end
// of a run of several nodes: islands that became one population hold the
// same best, or bests that split from a common ancestor a few minutes
// before the end; islands that stayed apart hold bests of different
// lineages, or of lineages that split long ago.
type Diversity struct {
	// Bests is how many distinct individuals the nodes' bests are.
	Bests int `json:"distinct_bests"`
	// Lineages is how many distinct initial individuals the bests descend
	// from (as far as their chains are known).
	Lineages int `json:"lineages"`
	// SplitSeconds is, over every pair of nodes whose bests share an
	// ancestor, the shortest time from that pair's latest common ancestor's
	// birth to the end of the run (for two nodes holding the same best,
	// the time since that best was born); null when no two bests share an
	// ancestor.
	SplitSeconds *float64 `json:"split_seconds"`
}

// diversityOf measures the diversity of the chains of the nodes' bests,
// each from the initial individual to the best (as `evoswarm lineage`
// gives them; nodes without a best give an empty chain and are left out).
func diversityOf(chains [][]node.Ancestor, end time.Time) Diversity {
	var d Diversity
	bests, roots := map[string]bool{}, map[string]bool{}
	var live [][]node.Ancestor
	for _, c := range chains {
		if len(c) == 0 {
			continue
		}
		live = append(live, c)
		bests[c[len(c)-1].ID] = true
		roots[c[0].ID] = true
	}
	d.Bests, d.Lineages = len(bests), len(roots)
	for i, a := range live {
		for _, b := range live[i+1:] {
			m, ok := Meet(a, b)
			if !ok {
				continue
			}
			s := max(0, end.Sub(m.Born).Seconds())
			if d.SplitSeconds == nil || s < *d.SplitSeconds {
				d.SplitSeconds = &s
			}
		}
	}
	return d
}

// Meeting is where two chains meet: the latest individual on both.
type Meeting struct {
	ID string
	// Born is its first birth, on the node that made it (a migrant
	// appears on a chain twice, on its sender and then as an immigrant,
	// with the same ID).
	Born time.Time
	// BackA and BackB are the steps back from each chain's end to its
	// last appearance there.
	BackA, BackB int
}

// Meet finds where chains a and b meet; false when they share no
// individual.
func Meet(a, b []node.Ancestor) (Meeting, bool) {
	lastB := make(map[string]int, len(b))
	for k, s := range b {
		lastB[s.ID] = k
	}
	for i := len(a) - 1; i >= 0; i-- {
		k, ok := lastB[a[i].ID]
		if !ok {
			continue
		}
		j := i // the earliest step of the same individual on a
		for j > 0 && a[j-1].ID == a[i].ID {
			j--
		}
		return Meeting{ID: a[i].ID, Born: a[j].Born, BackA: len(a) - 1 - i, BackB: len(b) - 1 - k}, true
	}
	return Meeting{}, false
}

// Chains reads the chains of the stopped (or running) repos' bests, each
// from the initial individual to the best; a repo without a best gives an
// empty chain.
func Chains(repos []string) ([][]node.Ancestor, error) {
	chains := make([][]node.Ancestor, len(repos))
	for i, repo := range repos {
		c, err := node.RepoLineage(repo, "")
		if err != nil {
			return nil, fmt.Errorf("the lineage of %s's best: %w", repo, err)
		}
		chains[i] = c
	}
	return chains, nil
}

// diversity reads the chains of the stopped repos' bests (nil for a run of
// one node).
func diversity(repos []string, end time.Time) (*Diversity, error) {
	if len(repos) < 2 {
		return nil, nil
	}
	chains, err := Chains(repos)
	if err != nil {
		return nil, err
	}
	d := diversityOf(chains, end)
	return &d, nil
}

// WriteDiversity prints, for the nodes named by names whose bests have
// the chains given, each node's best and the initial individual it
// descends from, where each pair of those lineages meets, and the
// summary line of Diversity.
func WriteDiversity(w io.Writer, names []string, chains [][]node.Ancestor, end time.Time) {
	fmt.Fprintln(w, "each node's best at the end, and the lineage it descends from:")
	tail := func(s string, n int) string { return s[max(0, len(s)-n):] }
	for i, c := range chains {
		if len(c) == 0 {
			fmt.Fprintf(w, "  %s: no best\n", names[i])
			continue
		}
		b, r := c[len(c)-1], c[0]
		fmt.Fprintf(w, "  %s: best %s val %.4f, %d steps from initial individual %s of node ...%s\n",
			names[i], b.ID[:min(12, len(b.ID))], b.Fitness, len(c)-1, r.ID[:min(12, len(r.ID))], tail(r.Node, 6))
	}
	for i, a := range chains {
		for j := i + 1; j < len(chains); j++ {
			b := chains[j]
			if len(a) == 0 || len(b) == 0 {
				continue
			}
			m, ok := Meet(a, b)
			switch {
			case !ok:
				fmt.Fprintf(w, "  %s and %s: separate lineages (no common ancestor)\n", names[i], names[j])
			case m.BackA == 0 && m.BackB == 0:
				fmt.Fprintf(w, "  %s and %s: the same best\n", names[i], names[j])
			default:
				fmt.Fprintf(w, "  %s and %s: latest common ancestor %s, %d and %d steps back, born %s before the end\n",
					names[i], names[j], m.ID[:min(12, len(m.ID))], m.BackA, m.BackB, end.Sub(m.Born).Round(time.Second))
			}
		}
	}
	d := diversityOf(chains, end)
	fmt.Fprintf(w, "diversity: %d distinct bests, from %d initial individuals; closest split before the end: %s\n",
		d.Bests, d.Lineages, d.split())
}

// String is the summary's cell: "3 / 2 / 4.5 min" (distinct bests,
// lineages, the closest split before the end), "-" for one node.
func (d *Diversity) String() string {
	if d == nil {
		return "-"
	}
	return fmt.Sprintf("%d / %d / %s", d.Bests, d.Lineages, d.split())
}

func (d *Diversity) split() string {
	if d.SplitSeconds == nil {
		return "none"
	}
	return fmt.Sprintf("%.1f min", *d.SplitSeconds/60)
}
