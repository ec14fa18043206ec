//go:build gpu

package main

// The CUDA backend registers itself as "cuda" for --device.
import _ "github.com/evoswarm/evoswarm/train/cuda"
