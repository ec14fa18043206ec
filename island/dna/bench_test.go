package dna

import (
	"testing"
)

// benchGenome is a mid-sized evolved genome: 40 mutations from the initial one.
func benchGenome(b *testing.B) *Genome {
	rng := newRand(7)
	g := Initial(mnist, 10, 0.1)
	o := DefaultMutateOptions()
	o.InsertMinChannels = 16
	for range 40 {
		c, _, err := Mutate(g, rng, o)
		if err != nil {
			b.Fatal(err)
		}
		g = c
	}
	return g
}

func BenchmarkMutate(b *testing.B) {
	g := benchGenome(b)
	rng := newRand(1)
	o := DefaultMutateOptions()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Mutate(g, rng, o); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "mutations/s")
}

func BenchmarkValidate(b *testing.B) {
	g := benchGenome(b)
	bounds := DefaultBounds()
	b.ReportAllocs()
	for b.Loop() {
		if err := g.Validate(bounds); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "validations/s")
}

func BenchmarkDecodeBinary(b *testing.B) {
	data, err := benchGenome(b).MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeBinary(data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decodes/s")
}

func BenchmarkDecodeJSON(b *testing.B) {
	data, err := benchGenome(b).MarshalJSON()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := new(Genome).UnmarshalJSON(data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decodes/s")
}
