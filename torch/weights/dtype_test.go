package weights

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDTypeNamesAndSizes(t *testing.T) {
	want := map[DType]struct {
		name string
		size int
	}{
		F32: {"F32", 4}, F16: {"F16", 2}, BF16: {"BF16", 2}, F64: {"F64", 8}, I64: {"I64", 8},
		I32: {"I32", 4}, I8: {"I8", 1}, U8: {"U8", 1}, BOOL: {"BOOL", 1},
	}
	for d, w := range want {
		assert.Equal(t, w.name, d.String())
		assert.Equal(t, w.size, d.Size())
		got, err := ParseDType(w.name)
		require.NoError(t, err)
		assert.Equal(t, d, got)
	}
	for _, bad := range []string{"F8_E4M3", "I16", "f32", ""} {
		_, err := ParseDType(bad)
		assert.ErrorIs(t, err, ErrFormat, bad)
	}
	assert.False(t, DType(0).Valid())
	assert.Equal(t, 0, DType(0).Size())
	assert.Equal(t, "DType(0)", DType(0).String())
}

func TestF16ToF32KnownBits(t *testing.T) {
	cases := []struct {
		h    uint16
		want float32
	}{
		{0x0000, 0}, {0x3c00, 1}, {0xc000, -2}, {0x3555, 0.333251953125}, {0x7bff, 65504},
		{0x0400, 0x1p-14}, {0x0001, 0x1p-24}, {0x03ff, 1023 * 0x1p-24}, {0x8001, -0x1p-24},
		{0x2e66, 0.0999755859375}, {0x7c00, float32(math.Inf(1))}, {0xfc00, float32(math.Inf(-1))},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, F16ToF32(c.h), "0x%04x", c.h)
	}
	assert.Equal(t, uint32(0x80000000), math.Float32bits(F16ToF32(0x8000)), "negative zero keeps its sign")
	assert.True(t, math.IsNaN(float64(F16ToF32(0x7e00))))
	assert.True(t, math.IsNaN(float64(F16ToF32(0xfc01))))
}

func TestF32ToF16KnownBits(t *testing.T) {
	cases := []struct {
		f    float32
		want uint16
	}{
		{1, 0x3c00}, {-2, 0xc000}, {0.1, 0x2e66}, {65504, 0x7bff}, {65519.99, 0x7bff},
		{65520, 0x7c00}, {1e6, 0x7c00}, {-1e6, 0xfc00}, {float32(math.Inf(1)), 0x7c00},
		{0x1p-14, 0x0400}, {0x1p-24, 0x0001},
		{0x1p-25, 0x0000},                          // exactly half the smallest subnormal: tie to even 0
		{math.Nextafter32(0x1p-25, 1), 0x0001},     // just above the tie rounds up
		{3 * 0x1p-25, 0x0002},                      // 1.5 units: tie to even 2
		{0x1p-26, 0x0000},                          // underflow
		{1023.5 * 0x1p-24, 0x0400},                 // tie at the subnormal/normal border carries into the exponent
		{1 + 0x1p-11, 0x3c00},                      // tie, even stays
		{1 + 3*0x1p-11, 0x3c02},                    // tie, odd rounds up
		{1 + 0x1p-11 + 0x1p-20, 0x3c01},            // above the tie
		{float32(math.Copysign(0, -1)), 0x8000},    // negative zero
		{-0x1p-30, 0x8000},                         // negative underflow keeps the sign
		{float32(math.NaN()), 0x7e00},              // quiet NaN like c10::Half
		{-float32(math.NaN()), 0xfe00},             // sign of NaN kept like c10::Half
		{math.Float32frombits(0x7f800001), 0x7e00}, // signalling NaN becomes quiet
		{math.Float32frombits(0x477fefff), 0x7bff}, // largest float below 65520
		{math.Float32frombits(0x33000001), 0x0001}, // smallest float above 2^-25
		{math.Float32frombits(0x387fe000), 0x0400}, // 0x3ff.8 units of 2^-24: tie, odd, carries to normal
		{math.Float32frombits(0x387fa000), 0x03fe}, // 0x3fe.8 units: tie, stays on the even 0x3fe
	}
	for _, c := range cases {
		assert.Equal(t, c.want, F32ToF16(c.f), "%g (0x%08x)", c.f, math.Float32bits(c.f))
	}
}

func TestF16RoundTripExhaustive(t *testing.T) {
	for h := range 1 << 16 {
		f := F16ToF32(uint16(h))
		if math.IsNaN(float64(f)) {
			assert.True(t, F32ToF16(f)&0x7c00 == 0x7c00 && F32ToF16(f)&0x3ff != 0, "NaN 0x%04x", h)
			continue
		}
		if got := F32ToF16(f); got != uint16(h) {
			t.Fatalf("0x%04x -> %g -> 0x%04x", h, f, got)
		}
	}
}

// refF32ToF16 rounds through float64 with an independent method (scale by the half ulp and
// RoundToEven, both exact in float64), then looks the value up among all halves.
func refF32ToF16(f float32, table map[float32]uint16) uint16 {
	x := float64(f)
	a := math.Abs(x)
	if a >= 65520 {
		return uint16(math.Float32bits(f)>>16)&0x8000 | 0x7c00
	}
	ulp := 0x1p-24
	if a >= 0x1p-14 {
		_, e := math.Frexp(a) // a = m * 2^e, m in [0.5, 1)
		ulp = math.Ldexp(1, e-11)
	}
	r := math.Copysign(math.RoundToEven(a/ulp)*ulp, x)
	return table[float32(r)]
}

func TestF32ToF16AgainstReference(t *testing.T) {
	table := map[float32]uint16{}
	for h := range 1 << 16 {
		if f := F16ToF32(uint16(h)); !math.IsNaN(float64(f)) {
			table[f] = uint16(h)
		}
	}
	table[0] = 0 // the map cannot tell +0 from -0; compare magnitudes' bits below
	for b := uint32(0); b < 0x7f800000; b += 997 {
		for _, bits := range []uint32{b, b | 0x80000000} {
			f := math.Float32frombits(bits)
			got, want := F32ToF16(f), refF32ToF16(f, table)
			if got&0x7fff != want&0x7fff {
				t.Fatalf("%g (0x%08x): got 0x%04x want 0x%04x", f, bits, got, want)
			}
			if got>>15 != uint16(bits>>31) {
				t.Fatalf("%g: sign lost: 0x%04x", f, got)
			}
		}
	}
}

func TestBF16KnownBits(t *testing.T) {
	cases := []struct {
		f    float32
		want uint16
	}{
		{1, 0x3f80}, {-2, 0xc000}, {math.Pi, 0x4049}, {1 + 0x1p-8, 0x3f80}, {1 + 3*0x1p-8, 0x3f82},
		{1 + 0x1p-8 + 0x1p-20, 0x3f81}, {math.MaxFloat32, 0x7f80}, {-math.MaxFloat32, 0xff80},
		{float32(math.Inf(-1)), 0xff80}, {float32(math.NaN()), 0x7fc0}, {-float32(math.NaN()), 0x7fc0},
		{float32(math.Copysign(0, -1)), 0x8000}, {math.Float32frombits(0x000116c2), 0x0001}, // subnormal
		{math.Float32frombits(0x00018000), 0x0002}, // subnormal tie to even
	}
	for _, c := range cases {
		assert.Equal(t, c.want, F32ToBF16(c.f), "%g", c.f)
	}
	assert.Equal(t, float32(1), BF16ToF32(0x3f80))
	assert.Equal(t, float32(3.140625), BF16ToF32(0x4049))
	assert.Equal(t, float32(math.Inf(1)), BF16ToF32(0x7f80))
	assert.True(t, math.IsNaN(float64(BF16ToF32(0x7fc1))))
	for h := range 1 << 16 {
		f := BF16ToF32(uint16(h))
		if !math.IsNaN(float64(f)) && F32ToBF16(f) != uint16(h) {
			t.Fatalf("bf16 0x%04x does not round-trip", h)
		}
	}
}

func TestSliceConversions(t *testing.T) {
	f32 := must(t)(FromFloat32("a", []int64{2, 2}, []float32{1, -2.5, 0.1, 65504}))
	got, err := f32.Float32s()
	require.NoError(t, err)
	assert.Equal(t, []float32{1, -2.5, 0.1, 65504}, got)
	assert.Equal(t, []byte{0, 0, 0x80, 0x3f}, f32.Data[:4], "little-endian")
	assert.Equal(t, int64(4), f32.Numel())

	f16, err := f32.Cast(F16)
	require.NoError(t, err)
	assert.Equal(t, []byte{0x00, 0x3c, 0x00, 0xc1, 0x66, 0x2e, 0xff, 0x7b}, f16.Data)
	back, err := f16.Float32s()
	require.NoError(t, err)
	assert.Equal(t, []float32{1, -2.5, 0.0999755859375, 65504}, back)

	bf, err := f32.Cast(BF16)
	require.NoError(t, err)
	f64, err := bf.Float64s()
	require.NoError(t, err)
	assert.Equal(t, []float64{1, -2.5, 0.10009765625, 65536}, f64)

	d := must(t)(FromFloat64("d", []int64{2}, []float64{0.1, 1e300}))
	_, err = d.Float32s()
	assert.Error(t, err, "narrowing must be asked for with Cast")
	d32, err := d.Cast(F32)
	require.NoError(t, err)
	v, _ := d32.Float32s()
	assert.Equal(t, []float32{0.1, float32(math.Inf(1))}, v)

	i64 := must(t)(FromInt64("i", []int64{3}, []int64{-1, 1 << 40, 7}))
	iv, err := i64.Int64s()
	require.NoError(t, err)
	assert.Equal(t, []int64{-1, 1 << 40, 7}, iv)
	for _, tn := range []Tensor{
		must(t)(FromInt32("", []int64{3}, []int32{-1, 5, 7})),
		must(t)(FromInt8("", []int64{3}, []int8{-1, 5, 7})),
	} {
		iv, err := tn.Int64s()
		require.NoError(t, err)
		assert.Equal(t, []int64{-1, 5, 7}, iv, tn.DType.String())
	}
	u8 := must(t)(FromUint8("", []int64{2}, []uint8{255, 0}))
	iv, _ = u8.Int64s()
	assert.Equal(t, []int64{255, 0}, iv)
	b := must(t)(FromBool("", []int64{3}, []bool{true, false, true}))
	assert.Equal(t, []byte{1, 0, 1}, b.Data)
	bv, err := b.Bools()
	require.NoError(t, err)
	assert.Equal(t, []bool{true, false, true}, bv)
	i32, err := must(t)(FromInt32("", nil, []int32{9})).Int32s()
	require.NoError(t, err)
	assert.Equal(t, []int32{9}, i32, "shape [] is a scalar of one element")

	_, err = FromFloat32("bad", []int64{3}, []float32{1})
	assert.ErrorContains(t, err, `"bad"`)
	_, err = FromFloat32("neg", []int64{-1}, nil)
	assert.Error(t, err)
	_, err = f32.Int64s()
	assert.ErrorContains(t, err, "F32")
	_, err = i64.Cast(F32)
	assert.Error(t, err)
	short := Tensor{Name: "short", DType: F32, Shape: []int64{2}, Data: make([]byte, 7)}
	_, err = short.Float32s()
	assert.ErrorContains(t, err, "needs 8 bytes")

	c := f32.Clone()
	c.Data[0] = 99
	assert.NotEqual(t, c.Data[0], f32.Data[0])
}
