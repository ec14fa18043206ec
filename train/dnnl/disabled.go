//go:build !dnnl

package dnnl

// Enabled reports whether this build has the oneDNN engine.
const Enabled = false

// ISA names the instruction set oneDNN dispatches to; empty without it.
func ISA() string { return "" }

// Block is 0: there are no blocked layouts without oneDNN.
func Block() int { return 0 }

// Net is a network built with oneDNN; this build has none.
type Net struct{}

// New fails: this build has no oneDNN engine.
func New(*Spec) (*Net, error) { return nil, ErrDisabled }

func (*Net) Close()                                            {}
func (*Net) Release(bool)                                      {}
func (*Net) Param(int) []float32                               { return nil }
func (*Net) Batch(int, int, bool) ([]float32, []int32, error)  { return nil, nil, ErrDisabled }
func (*Net) Step(int, float32) (float64, error)                { return 0, ErrDisabled }
func (*Net) Forward(int, int) ([]float32, error)               { return nil, ErrDisabled }
func (*Net) LaneInput(int, int, int, int) ([]float32, error)   { return nil, ErrDisabled }
func (*Net) LaneForward(int, int, int, int) ([]float32, error) { return nil, ErrDisabled }
func (*Net) Impls(int, bool) (string, error)                   { return "", ErrDisabled }
func (*Net) Folded(int) (int, error)                           { return 0, ErrDisabled }
func (*Net) ChannelsLast() bool                                { return false }
