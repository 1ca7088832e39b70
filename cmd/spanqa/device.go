package main

import (
	"fmt"

	"github.com/spanqa/spanqa/torch"
)

// parseDevice reads --device and checks CUDA is there when asked for.
func parseDevice(s string) (torch.Device, error) {
	dev, err := torch.ParseDevice(s)
	if err != nil {
		return dev, err
	}
	if dev.Type == torch.CUDADevice && dev.Index >= torch.CUDADeviceCount() {
		return dev, fmt.Errorf("device %s: only %d CUDA devices visible (is this a CUDA build? see README)", s, torch.CUDADeviceCount())
	}
	return dev, nil
}
