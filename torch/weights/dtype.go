// Package weights reads and writes model weight files (safetensors, sharded safetensors and
// PyTorch's zip-format pytorch_model.bin) natively in Go, without cgo and without copying
// tensor data where the format allows it: files are memory-mapped and tensors are views.
//
// The package deliberately knows nothing about libtorch; it hands out raw little-endian bytes
// (Tensor) that the torch package turns into libtorch tensors.
package weights

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// ErrFormat is wrapped by every error that reports a malformed or unsupported weight file, so
// callers can tell "the file is bad" (errors.Is(err, ErrFormat)) from I/O failures.
var ErrFormat = errors.New("invalid weight file")

// formatErr builds an error that wraps ErrFormat.
func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

// DType is the element type of a Tensor. The zero value is not a valid dtype, so a forgotten
// field is caught by validation instead of silently meaning float32.
type DType uint8

// The supported element types. Their String form is the safetensors spelling.
const (
	F32  DType = iota + 1 // IEEE 754 binary32
	F16                   // IEEE 754 binary16
	BF16                  // bfloat16: the upper half of a binary32
	F64                   // IEEE 754 binary64
	I64                   // signed 64-bit integer
	I32                   // signed 32-bit integer
	I8                    // signed 8-bit integer
	U8                    // unsigned 8-bit integer
	BOOL                  // one byte per element, 0 or 1
)

var dtypeInfo = [...]struct {
	name string
	size int
}{
	F32: {"F32", 4}, F16: {"F16", 2}, BF16: {"BF16", 2}, F64: {"F64", 8},
	I64: {"I64", 8}, I32: {"I32", 4}, I8: {"I8", 1}, U8: {"U8", 1}, BOOL: {"BOOL", 1},
}

// Valid reports whether d is one of the supported dtypes.
func (d DType) Valid() bool { return d >= F32 && int(d) < len(dtypeInfo) }

// Size is the number of bytes of one element, or 0 for an invalid dtype.
func (d DType) Size() int {
	if !d.Valid() {
		return 0
	}
	return dtypeInfo[d].size
}

// String returns the safetensors name ("F32", "BF16", ...).
func (d DType) String() string {
	if !d.Valid() {
		return fmt.Sprintf("DType(%d)", uint8(d))
	}
	return dtypeInfo[d].name
}

// ParseDType maps a safetensors dtype name to a DType. Names the package does not support
// (F8_E4M3, I16, U64, ...) are an error wrapping ErrFormat rather than being guessed at.
func ParseDType(name string) (DType, error) {
	for d := F32; d.Valid(); d++ {
		if dtypeInfo[d].name == name {
			return d, nil
		}
	}
	return 0, formatErr("unsupported dtype %q", name)
}

// IsFloat reports whether d is a floating-point dtype.
func (d DType) IsFloat() bool { return d == F32 || d == F16 || d == BF16 || d == F64 }

// Tensor is a raw tensor: row-major, little-endian element bytes plus dtype and shape.
//
// Tensors returned by a File, TorchFile or Set are views into a read-only memory map: Data
// must not be written to (that faults) and must not be used after the Set is closed. Use Clone
// for a copy that outlives the Set.
type Tensor struct {
	Name  string
	DType DType
	Shape []int64
	Data  []byte
}

// numel multiplies the dims, reporting negative dims and int64 overflow instead of wrapping,
// because shapes come from untrusted files.
func numel(shape []int64) (int64, error) {
	n := uint64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > 1<<62 {
			return 0, fmt.Errorf("shape %v has too many elements", shape)
		}
		n = lo
	}
	return int64(n), nil
}

// byteSize is numel(shape) * dtype size with the same overflow checks.
func byteSize(dt DType, shape []int64) (int64, error) {
	if !dt.Valid() {
		return 0, fmt.Errorf("invalid dtype %v", dt)
	}
	n, err := numel(shape)
	if err != nil {
		return 0, err
	}
	if n > (1<<62)/int64(dt.Size()) {
		return 0, fmt.Errorf("shape %v of %v is too large", shape, dt)
	}
	return n * int64(dt.Size()), nil
}

// Numel is the number of elements (1 for a scalar of shape []). It returns 0 for a shape that
// Validate would reject.
func (t Tensor) Numel() int64 {
	n, err := numel(t.Shape)
	if err != nil {
		return 0
	}
	return n
}

// Validate checks that the dtype is known, no dim is negative and len(Data) matches the shape.
func (t Tensor) Validate() error {
	want, err := byteSize(t.DType, t.Shape)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if int64(len(t.Data)) != want {
		return fmt.Errorf("tensor %q: %v shape %v needs %d bytes, has %d", t.Name, t.DType, t.Shape, want, len(t.Data))
	}
	return nil
}

// Clone returns a deep copy whose Data lives on the Go heap, e.g. to keep a tensor after
// closing the file it was mapped from.
func (t Tensor) Clone() Tensor {
	return Tensor{Name: t.Name, DType: t.DType, Shape: slices.Clone(t.Shape), Data: slices.Clone(t.Data)}
}

// checkKind returns an error unless t's dtype is one of want and its Data fits its shape.
func (t Tensor) checkKind(want ...DType) error {
	if !slices.Contains(want, t.DType) {
		return fmt.Errorf("tensor %q is %v, want one of %v", t.Name, t.DType, want)
	}
	return t.Validate()
}

// decode copies little-endian data into a new slice of n elements.
func decode[T any](data []byte, n int) []T {
	out := make([]T, n)
	if _, err := binary.Decode(data, binary.LittleEndian, out); err != nil {
		panic(err) // unreachable: callers validated len(data) == n*size
	}
	return out
}

// Float32s returns the elements as float32. F16 and BF16 are widened exactly; F64 is refused
// because narrowing loses precision (use Cast(F32) to ask for it explicitly).
func (t Tensor) Float32s() ([]float32, error) {
	if err := t.checkKind(F32, F16, BF16); err != nil {
		return nil, err
	}
	switch t.DType {
	case F16:
		return widenHalves(t.Data, F16ToF32), nil
	case BF16:
		return widenHalves(t.Data, BF16ToF32), nil
	}
	return decode[float32](t.Data, len(t.Data)/4), nil
}

func widenHalves(data []byte, conv func(uint16) float32) []float32 {
	out := make([]float32, len(data)/2)
	for i := range out {
		out[i] = conv(binary.LittleEndian.Uint16(data[2*i:]))
	}
	return out
}

// Float64s returns the elements as float64; every float dtype widens exactly.
func (t Tensor) Float64s() ([]float64, error) {
	if t.DType == F64 {
		if err := t.Validate(); err != nil {
			return nil, err
		}
		return decode[float64](t.Data, len(t.Data)/8), nil
	}
	f32, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(f32))
	for i, v := range f32 {
		out[i] = float64(v)
	}
	return out, nil
}

// Int64s returns the elements as int64; every integer dtype and BOOL widens exactly.
func (t Tensor) Int64s() ([]int64, error) {
	if err := t.checkKind(I64, I32, I8, U8, BOOL); err != nil {
		return nil, err
	}
	switch t.DType {
	case I64:
		return decode[int64](t.Data, len(t.Data)/8), nil
	case I32:
		return widen(decode[int32](t.Data, len(t.Data)/4)), nil
	case I8:
		return widen(decode[int8](t.Data, len(t.Data))), nil
	case BOOL:
		out := make([]int64, len(t.Data))
		for i, b := range t.Data {
			if b != 0 {
				out[i] = 1
			}
		}
		return out, nil
	}
	return widen(t.Data), nil
}

func widen[T int32 | int8 | uint8](in []T) []int64 {
	out := make([]int64, len(in))
	for i, v := range in {
		out[i] = int64(v)
	}
	return out
}

// Int32s returns the elements of an I32 tensor.
func (t Tensor) Int32s() ([]int32, error) {
	if err := t.checkKind(I32); err != nil {
		return nil, err
	}
	return decode[int32](t.Data, len(t.Data)/4), nil
}

// Bools returns the elements of a BOOL tensor (any non-zero byte is true).
func (t Tensor) Bools() ([]bool, error) {
	if err := t.checkKind(BOOL); err != nil {
		return nil, err
	}
	out := make([]bool, len(t.Data))
	for i, b := range t.Data {
		out[i] = b != 0
	}
	return out, nil
}

// fromSlice encodes values little-endian; it errors when the shape does not hold len(values).
func fromSlice[T any](name string, dt DType, shape []int64, values []T) (Tensor, error) {
	t := Tensor{Name: name, DType: dt, Shape: slices.Clone(shape)}
	n, err := numel(shape)
	if err != nil {
		return Tensor{}, fmt.Errorf("tensor %q: %w", name, err)
	}
	if n != int64(len(values)) {
		return Tensor{}, fmt.Errorf("tensor %q: shape %v holds %d elements, got %d values", name, shape, n, len(values))
	}
	t.Data = make([]byte, int(n)*dt.Size())
	if _, err := binary.Encode(t.Data, binary.LittleEndian, values); err != nil {
		return Tensor{}, fmt.Errorf("tensor %q: %w", name, err)
	}
	return t, nil
}

// FromFloat32 builds an F32 tensor from values laid out row-major in shape.
func FromFloat32(name string, shape []int64, values []float32) (Tensor, error) {
	return fromSlice(name, F32, shape, values)
}

// FromFloat64 builds an F64 tensor.
func FromFloat64(name string, shape []int64, values []float64) (Tensor, error) {
	return fromSlice(name, F64, shape, values)
}

// FromInt64 builds an I64 tensor.
func FromInt64(name string, shape []int64, values []int64) (Tensor, error) {
	return fromSlice(name, I64, shape, values)
}

// FromInt32 builds an I32 tensor.
func FromInt32(name string, shape []int64, values []int32) (Tensor, error) {
	return fromSlice(name, I32, shape, values)
}

// FromInt8 builds an I8 tensor.
func FromInt8(name string, shape []int64, values []int8) (Tensor, error) {
	return fromSlice(name, I8, shape, values)
}

// FromUint8 builds a U8 tensor.
func FromUint8(name string, shape []int64, values []uint8) (Tensor, error) {
	return fromSlice(name, U8, shape, values)
}

// FromBool builds a BOOL tensor (bytes 0 and 1).
func FromBool(name string, shape []int64, values []bool) (Tensor, error) {
	return fromSlice(name, BOOL, shape, values)
}

// Cast converts a floating-point tensor to another float dtype, rounding to nearest-even where
// the target is narrower (as torch's .to(dtype) does). Casting to the same dtype returns t
// unchanged (sharing Data). Integer casts are not supported.
func (t Tensor) Cast(to DType) (Tensor, error) {
	if err := t.Validate(); err != nil {
		return Tensor{}, err
	}
	if t.DType == to {
		return t, nil
	}
	if !t.DType.IsFloat() || !to.IsFloat() {
		return Tensor{}, fmt.Errorf("tensor %q: cast %v -> %v is not supported (floats only)", t.Name, t.DType, to)
	}
	src, err := t.Float64s()
	if err != nil {
		return Tensor{}, err
	}
	out := Tensor{Name: t.Name, DType: to, Shape: slices.Clone(t.Shape), Data: make([]byte, len(src)*to.Size())}
	for i, v := range src {
		switch to {
		case F64:
			binary.LittleEndian.PutUint64(out.Data[8*i:], math.Float64bits(v))
		case F32:
			binary.LittleEndian.PutUint32(out.Data[4*i:], math.Float32bits(float32(v)))
		case F16:
			// Through float32, like c10::Half(double): a F64 source is rounded twice, as in torch.
			binary.LittleEndian.PutUint16(out.Data[2*i:], F32ToF16(float32(v)))
		case BF16:
			binary.LittleEndian.PutUint16(out.Data[2*i:], F32ToBF16(float32(v)))
		}
	}
	return out, nil
}
