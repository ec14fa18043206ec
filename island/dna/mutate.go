package dna

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// MutateOptions configure Mutate.
type MutateOptions struct {
	// Bounds every child must respect; a mutation whose result is out of
	// bounds is refused and another is drawn.
	Bounds Bounds
	// Weights are the relative chances of each mutation. Nil or empty means
	// the paper's uniform choice over the eleven.
	Weights map[Kind]float64
	// InsertMinChannels is a floor on the channels of a conv added by
	// INSERT-CONVOLUTION. 0 is the paper's rule: the conv keeps its input's
	// channel count, which from a one-channel image grows width only by the
	// slow random walk of ALTER-NUMBER-OF-CHANNELS.
	InsertMinChannels int
	// MaxAttempts bounds the draws before Mutate gives up; 0 means 100.
	MaxAttempts int
}

// DefaultMutateOptions returns the paper's settings within DefaultBounds.
func DefaultMutateOptions() MutateOptions {
	return MutateOptions{Bounds: DefaultBounds()}
}

// Validate checks the options; its errors name the field.
func (o *MutateOptions) Validate() error {
	if err := o.Bounds.Validate(); err != nil {
		return err
	}
	total := 0.0
	for k, w := range o.Weights {
		if k == None || k > numKinds {
			return fmt.Errorf("dna: mutation weights: unknown mutation %d", k)
		}
		if !(w >= 0) || w > 1e9 {
			return fmt.Errorf("dna: mutation weights: %s has weight %v, want a finite value >= 0", k, w)
		}
		total += w
	}
	if len(o.Weights) > 0 && total == 0 {
		return errors.New("dna: mutation weights: all weights are zero")
	}
	if o.InsertMinChannels < 0 || o.InsertMinChannels > o.Bounds.MaxChannels {
		return fmt.Errorf("dna: insert_min_channels %d is outside [0, max_channels %d]", o.InsertMinChannels, o.Bounds.MaxChannels)
	}
	if o.MaxAttempts < 0 {
		return fmt.Errorf("dna: max_attempts %d is negative", o.MaxAttempts)
	}
	return nil
}

// Change describes what a mutation did to the weights: which weight IDs of
// the parent the child keeps, which it drops and which it creates. A kept ID
// is inherited by the training engine only where the tensor's shape is also
// unchanged.
type Change struct {
	Kind    Kind
	Detail  string // for people: "edge 7: channels 16 -> 23"
	Kept    []uint32
	Dropped []uint32
	Created []uint32
}

// errNotApplicable is returned by a mutation that does not apply to a genome
// (REMOVE-SKIP with no skips); Mutate then draws another.
var errNotApplicable = errors.New("mutation does not apply")

// ErrNoMutation is returned when no mutation produced a valid child within
// the attempts allowed.
var ErrNoMutation = errors.New("dna: no mutation produced a valid child")

// mutator changes g in place, returning a one-line description.
type mutator func(g *Genome, rng *rand.Rand, o *MutateOptions) (string, error)

var mutators = [...]mutator{
	AlterLearningRate:     alterLearningRate,
	KeepTraining:          keepTraining,
	ResetWeights:          resetWeights,
	InsertConvolution:     insertConvolution,
	RemoveConvolution:     removeConvolution,
	AlterStride:           alterStride,
	AlterNumberOfChannels: alterNumberOfChannels,
	FilterSize:            filterSize,
	InsertOneToOne:        insertOneToOne,
	AddSkip:               addSkip,
	RemoveSkip:            removeSkip,
}

// Mutate returns a child of parent made by one mutation. The mutation is
// drawn by o.Weights (uniform by default); if it does not apply, or its
// result is invalid or out of bounds, another is drawn. The child records
// its parent's ID, the mutation and a nonce drawn from rng, so the result
// is a deterministic function of the parent, the options and rng's state.
func Mutate(parent *Genome, rng *rand.Rand, o MutateOptions) (*Genome, Change, error) {
	attempts := o.MaxAttempts
	if attempts == 0 {
		attempts = 100
	}
	var last error
	for range attempts {
		k := drawKind(rng, o.Weights)
		child, ch, err := MutateWith(parent, k, rng, o)
		if err == nil {
			return child, ch, nil
		}
		last = err
	}
	return nil, Change{}, fmt.Errorf("%w in %d attempts; last: %w", ErrNoMutation, attempts, last)
}

// applyDraws is how many draws Applies gives each mutation.
const applyDraws = 8

// Applies returns nil when some mutation of positive weight (every one
// when Weights is empty) applies to g, trying each a few draws from a
// fixed stream; a child refused only by the bounds counts, since bounds
// are the population's to meet. Run on the initial genome, it refuses a
// mutation set that can never start an evolution (only REMOVE-SKIP and
// REMOVE-CONVOLUTION, say), whose island would otherwise kill and abandon
// forever without breeding a child.
func (o MutateOptions) Applies(g *Genome) error {
	rng := rand.New(rand.NewPCG(1, 2))
	var tried []string
	var last error
	for _, k := range Kinds() {
		if len(o.Weights) > 0 && !(o.Weights[k] > 0) {
			continue
		}
		tried = append(tried, k.String())
		for range applyDraws {
			_, _, err := MutateWith(g, k, rng, o)
			if err == nil || !errors.Is(err, errNotApplicable) {
				return nil
			}
			last = err
		}
	}
	return fmt.Errorf("%w: none of the mutations of positive weight (%s) applies to the genome in %d draws each; last: %w",
		ErrNoMutation, strings.Join(tried, ", "), applyDraws, last)
}

// MutateWith applies the mutation k to a copy of parent. It returns an error
// wrapping errNotApplicable when k does not apply, or the validation error
// when the result is invalid or out of bounds.
func MutateWith(parent *Genome, k Kind, rng *rand.Rand, o MutateOptions) (*Genome, Change, error) {
	if k == None || k > numKinds {
		return nil, Change{}, fmt.Errorf("dna: unknown mutation %d", k)
	}
	child := parent.Clone()
	detail, err := mutators[k](child, rng, &o)
	if err != nil {
		return nil, Change{}, fmt.Errorf("dna: %s: %w", k, err)
	}
	child.sortGraph()
	if err := checkFlags(parent, child); err != nil {
		return nil, Change{}, fmt.Errorf("dna: %s: %w", k, err)
	}
	child.Parent = parent.ID()
	child.Mutation = k
	child.Nonce = rng.Uint64()
	if err := child.Validate(o.Bounds); err != nil {
		return nil, Change{}, fmt.Errorf("dna: %s refused: %w", k, err)
	}
	return child, diffWeights(k, detail, parent.WeightIDs(), child.WeightIDs()), nil
}

func diffWeights(k Kind, detail string, before, after []uint32) Change {
	ch := Change{Kind: k, Detail: detail}
	for _, id := range before {
		if _, ok := slices.BinarySearch(after, id); ok {
			ch.Kept = append(ch.Kept, id)
		} else {
			ch.Dropped = append(ch.Dropped, id)
		}
	}
	for _, id := range after {
		if _, ok := slices.BinarySearch(before, id); !ok {
			ch.Created = append(ch.Created, id)
		}
	}
	return ch
}

// drawKind draws a mutation with probability proportional to its weight.
func drawKind(rng *rand.Rand, weights map[Kind]float64) Kind {
	if len(weights) == 0 {
		return Kind(1 + rng.IntN(int(numKinds)))
	}
	total := 0.0
	for _, k := range Kinds() {
		total += weights[k]
	}
	x := rng.Float64() * total
	for _, k := range Kinds() {
		x -= weights[k]
		if x < 0 {
			return k
		}
	}
	// Rounding left x at or just above zero: take the last weighted kind.
	for _, k := range slices.Backward(Kinds()) {
		if weights[k] > 0 {
			return k
		}
	}
	return KeepTraining
}

// checkFlags enforces the mutability flags on any mutation's result: a
// vertex whose inputs (outputs) are immutable keeps exactly the same
// in-edges (out-edges), by edge ID, and a vertex may be removed only if
// both its inputs and its outputs are mutable.
func checkFlags(parent, child *Genome) error {
	edgeSets := func(g *Genome) (in, out map[uint32][]uint32) {
		in, out = map[uint32][]uint32{}, map[uint32][]uint32{}
		for _, e := range g.Edges {
			in[e.To] = append(in[e.To], e.ID)
			out[e.From] = append(out[e.From], e.ID)
		}
		return in, out
	}
	pin, pout := edgeSets(parent)
	cin, cout := edgeSets(child)
	for _, v := range parent.Vertices {
		if child.Vertex(v.ID) == nil {
			if !v.InputsMutable || !v.OutputsMutable {
				return fmt.Errorf("%w: it would remove vertex %d, which is protected", errNotApplicable, v.ID)
			}
			continue
		}
		if !v.InputsMutable && !slices.Equal(pin[v.ID], cin[v.ID]) {
			return fmt.Errorf("%w: it would change the inputs of vertex %d, which are protected", errNotApplicable, v.ID)
		}
		if !v.OutputsMutable && !slices.Equal(pout[v.ID], cout[v.ID]) {
			return fmt.Errorf("%w: it would change the outputs of vertex %d, which are protected", errNotApplicable, v.ID)
		}
	}
	return nil
}

// Helpers shared by the mutations.

// convEdges returns the indices of the CONV edges.
func (g *Genome) convEdges() []int {
	var out []int
	for i, e := range g.Edges {
		if e.Type == Conv {
			out = append(out, i)
		}
	}
	return out
}

// pick returns a uniformly chosen element of xs.
func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }
