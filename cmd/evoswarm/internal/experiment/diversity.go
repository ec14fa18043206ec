package experiment

import (
	"fmt"
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
			born, ok := latestCommon(a, b)
			if !ok {
				continue
			}
			s := max(0, end.Sub(born).Seconds())
			if d.SplitSeconds == nil || s < *d.SplitSeconds {
				d.SplitSeconds = &s
			}
		}
	}
	return d
}

// latestCommon returns the birth of the latest individual on both chains.
// A migrant appears on a chain twice (on its sender, then as an immigrant)
// with the same ID; its first birth counts.
func latestCommon(a, b []node.Ancestor) (time.Time, bool) {
	inB := make(map[string]bool, len(b))
	for _, s := range b {
		inB[s.ID] = true
	}
	for i := len(a) - 1; i >= 0; i-- {
		if !inB[a[i].ID] {
			continue
		}
		j := i // the earliest step of the same individual on a
		for j > 0 && a[j-1].ID == a[i].ID {
			j--
		}
		return a[j].Born, true
	}
	return time.Time{}, false
}

// diversity reads the chains of the stopped repos' bests (nil for a run of
// one node).
func diversity(repos []string, end time.Time) (*Diversity, error) {
	if len(repos) < 2 {
		return nil, nil
	}
	chains := make([][]node.Ancestor, len(repos))
	for i, repo := range repos {
		c, err := node.RepoLineage(repo, "")
		if err != nil {
			return nil, fmt.Errorf("the lineage of %s's best: %w", repo, err)
		}
		chains[i] = c
	}
	d := diversityOf(chains, end)
	return &d, nil
}

// String is the summary's cell: "3 / 2 / 4.5 min" (distinct bests,
// lineages, the closest split before the end), "-" for one node.
func (d *Diversity) String() string {
	if d == nil {
		return "-"
	}
	split := "none"
	if d.SplitSeconds != nil {
		split = fmt.Sprintf("%.1f min", *d.SplitSeconds/60)
	}
	return fmt.Sprintf("%d / %d / %s", d.Bests, d.Lineages, split)
}
