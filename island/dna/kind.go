package dna

import "fmt"

// Kind names a mutation. None marks an initial individual.
type Kind uint8

// The eleven mutations of the paper, in its order.
const (
	None Kind = iota
	AlterLearningRate
	KeepTraining // the paper's IDENTITY mutation
	ResetWeights
	InsertConvolution
	RemoveConvolution
	AlterStride
	AlterNumberOfChannels
	FilterSize
	InsertOneToOne
	AddSkip
	RemoveSkip

	numKinds = RemoveSkip
)

var kindNames = [...]string{
	None:                  "none",
	AlterLearningRate:     "alter-learning-rate",
	KeepTraining:          "identity",
	ResetWeights:          "reset-weights",
	InsertConvolution:     "insert-convolution",
	RemoveConvolution:     "remove-convolution",
	AlterStride:           "alter-stride",
	AlterNumberOfChannels: "alter-number-of-channels",
	FilterSize:            "filter-size",
	InsertOneToOne:        "insert-one-to-one",
	AddSkip:               "add-skip",
	RemoveSkip:            "remove-skip",
}

// Kinds returns the eleven mutations, in the paper's order.
func Kinds() []Kind {
	ks := make([]Kind, 0, numKinds)
	for k := AlterLearningRate; k <= numKinds; k++ {
		ks = append(ks, k)
	}
	return ks
}

// String returns the mutation's name as the paper writes it, in lower case
// with hyphens: "insert-convolution".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("mutation(%d)", uint8(k))
}

// ParseKind parses a mutation name as String writes it.
func ParseKind(s string) (Kind, error) {
	for k, name := range kindNames {
		if name == s {
			return Kind(k), nil
		}
	}
	return 0, fmt.Errorf("dna: unknown mutation %q", s)
}
