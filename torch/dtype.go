package torch

// #include "cbridge.h"
import "C"

import "fmt"

// DType is a tensor element type. The values mirror cbridge.h's spq_dtype.
type DType int

// The element types spanqa uses.
const (
	Float32  DType = C.SPQ_F32
	Float16  DType = C.SPQ_F16
	BFloat16 DType = C.SPQ_BF16
	Float64  DType = C.SPQ_F64
	Int64    DType = C.SPQ_I64
	Int32    DType = C.SPQ_I32
	Bool     DType = C.SPQ_BOOL
	Uint8    DType = C.SPQ_U8
	Int8     DType = C.SPQ_I8
)

var dtypeNames = map[DType]string{Float32: "float32", Float16: "float16", BFloat16: "bfloat16",
	Float64: "float64", Int64: "int64", Int32: "int32", Bool: "bool", Uint8: "uint8", Int8: "int8"}

func (d DType) String() string {
	if s, ok := dtypeNames[d]; ok {
		return s
	}
	return fmt.Sprintf("dtype(%d)", int(d))
}

// Size is the element size in bytes.
func (d DType) Size() int {
	switch d {
	case Float64, Int64:
		return 8
	case Float32, Int32:
		return 4
	case Float16, BFloat16:
		return 2
	default:
		return 1
	}
}

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool { return d == Float32 || d == Float16 || d == BFloat16 || d == Float64 }

// DeviceType is CPU or CUDA.
type DeviceType int

// Device types.
const (
	CPUDevice  DeviceType = 0
	CUDADevice DeviceType = 1
)

// Device names where a tensor lives.
type Device struct {
	Type  DeviceType
	Index int
}

// CPU is the host device.
var CPU = Device{Type: CPUDevice}

// CUDA returns the n-th CUDA device.
func CUDA(n int) Device { return Device{Type: CUDADevice, Index: n} }

func (d Device) String() string {
	if d.Type == CUDADevice {
		return fmt.Sprintf("cuda:%d", d.Index)
	}
	return "cpu"
}

// ParseDevice reads "cpu", "cuda" or "cuda:N" and checks (CheckDevice) that the device can be
// used here, so that --device cuda on a machine without one fails at once and clearly.
func ParseDevice(s string) (Device, error) {
	dev, err := parseDevice(s)
	if err != nil {
		return CPU, err
	}
	return dev, CheckDevice(dev)
}

func parseDevice(s string) (Device, error) {
	switch {
	case s == "" || s == "cpu":
		return CPU, nil
	case s == "cuda":
		return CUDA(0), nil
	}
	var n int
	if _, err := fmt.Sscanf(s, "cuda:%d", &n); err == nil && n >= 0 && s == fmt.Sprintf("cuda:%d", n) {
		return CUDA(n), nil
	}
	return CPU, fmt.Errorf("torch: unknown device %q (want cpu, cuda or cuda:N)", s)
}
