package dna

// PaperLearningRate is the initial individuals' learning rate in the paper.
const PaperLearningRate = 0.1

// Initial returns the paper's initial individual: no convolutions at all,
// input -> global average pool -> fully connected -> softmax. The input vertex
// is joined to the output vertex by one identity edge, the backbone that
// INSERT-CONVOLUTION later grows.
func Initial(input Shape, classes int, learningRate float64) *Genome {
	g := &Genome{
		LearningRate: learningRate,
		Input:        input,
		Classes:      classes,
	}
	in := g.newID()
	out := g.newID()
	g.InputVertex, g.OutputVertex = in, out
	g.Vertices = []Vertex{
		{ID: in, Type: Linear, InputsMutable: false, OutputsMutable: true},
		{ID: out, Type: Linear, InputsMutable: true, OutputsMutable: false},
	}
	g.Edges = []Edge{{
		ID: g.newID(), From: in, To: out, Type: Identity,
		DepthPrecedence: BackbonePrecedence, ScalePrecedence: BackbonePrecedence,
	}}
	g.FCWeightID = g.newID()
	return g
}
