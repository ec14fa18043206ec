//go:build emu && cgo

package main

// --device emu: the CUDA kernels compiled for the CPU, for testing the GPU
// path (commands, daemon, agreement check) on machines without a GPU.
import _ "github.com/evoswarm/evoswarm/train/cuda/emu"
