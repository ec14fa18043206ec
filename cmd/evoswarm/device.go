package main

import (
	"fmt"
	"io"

	"github.com/evoswarm/evoswarm/train/device"
	"github.com/spf13/cobra"
)

// deviceHelp is the --device flag's help, shared by train, bench and daemon.
const deviceHelp = "where children train: cpu, cuda (the first GPU), cuda:N, cuda:all, or auto (every GPU when CUDA loads, else the CPU)"

// addDeviceFlag adds --device to cmd with a default.
func addDeviceFlag(cmd *cobra.Command, spec *string, def string) {
	cmd.Flags().StringVar(spec, "device", def, deviceHelp)
}

// openDevices opens what --device names. For auto without a usable GPU it
// writes one line to w and returns none (the CPU). The caller closes what
// it gets.
func openDevices(spec string, w io.Writer) ([]device.Device, error) {
	devs, note, err := openDevicesNote(spec)
	if note != "" {
		fmt.Fprintf(w, "--device %s: %s\n", spec, note)
	}
	return devs, err
}

// openDevicesNote opens what --device names and returns, for auto without a
// usable GPU, why it fell back to the CPU.
func openDevicesNote(spec string) ([]device.Device, string, error) {
	s, err := device.ParseSpec(spec)
	if err != nil {
		return nil, "", fmt.Errorf("--device: %w", err)
	}
	devs, note, err := device.Open(s)
	if err != nil {
		return nil, "", fmt.Errorf("--device %s: %w", spec, err)
	}
	return devs, note, nil
}

// openOneDevice is openDevices for commands that run a single training: it
// keeps the first device and closes the others. nil means the CPU.
func openOneDevice(spec string, w io.Writer) (device.Device, error) {
	devs, err := openDevices(spec, w)
	if err != nil || len(devs) == 0 {
		return nil, err
	}
	for _, d := range devs[1:] {
		d.Close()
	}
	return devs[0], nil
}

func closeDevices(devs []device.Device) {
	for _, d := range devs {
		d.Close()
	}
}
