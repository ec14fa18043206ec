//go:build cgo

package emu

import "github.com/evoswarm/evoswarm/train/device"

// The emulated device is registered as "emu" so that a binary built with
// -tags emu can run its GPU path (--device emu) on any machine: the
// commands, the node's one worker per device, the agreement check.
func init() { device.Register("emu", backend{}) }

type backend struct{}

func (backend) Count() (int, error)             { return 1, nil }
func (backend) Open(int) (device.Device, error) { return New(), nil }
