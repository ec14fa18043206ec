package dna

import (
	"fmt"
	"math/rand/v2"
)

// alterNumberOfChannels redraws a random conv's output channels uniformly
// from [half, twice] its current value (10 -> any of 5..20), excluding the
// current value and capped at Bounds.MaxChannels.
func alterNumberOfChannels(g *Genome, rng *rand.Rand, o *MutateOptions) (string, error) {
	var cands []int
	for _, i := range g.convEdges() {
		lo, hi := channelRange(g.Edges[i].Channels, o.Bounds.MaxChannels)
		if hi > lo {
			cands = append(cands, i)
		}
	}
	if len(cands) == 0 {
		return "", errNotApplicable
	}
	e := &g.Edges[pick(rng, cands)]
	old := e.Channels
	lo, hi := channelRange(old, o.Bounds.MaxChannels)
	c := lo + rng.IntN(hi-lo) // hi-lo values other than old
	if c >= old {
		c++
	}
	e.Channels = c
	return fmt.Sprintf("edge %d: channels %d -> %d", e.ID, old, c), nil
}

// channelRange is the inclusive range a channel count c may be redrawn in.
func channelRange(c, limit int) (lo, hi int) {
	return max(1, c/2), max(c, min(2*c, limit))
}
