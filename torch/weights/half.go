package weights

import "math"

// F16ToF32 converts IEEE binary16 bits to float32. Every half value, subnormals included, is
// exactly representable as a float32, so this never rounds; infinities keep their sign and NaN
// payloads are carried over.
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0: // normal: rebias the exponent from 15 to 127
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign) // signed zero
	}
	// Subnormal: mant * 2^-24. Shift the leading one into the implicit bit position.
	e := uint32(127 - 15 + 1)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
}

// F32ToF16 converts a float32 to IEEE binary16 bits with round-to-nearest-even. Values from
// 65520 up become infinity, tiny values become (signed) subnormals or zero, and NaN becomes the
// quiet NaN 0x7e00 with the sign kept, as c10::Half does.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	b &^= 0x80000000
	switch {
	case b > 0x7f800000:
		return sign | 0x7e00
	case b >= 0x477ff000: // >= 65520 (the midpoint between 65504 and 2^16 ties up to inf)
		return sign | 0x7c00
	case b >= 0x38800000: // >= 2^-14: normal half
		exp := b>>23 - 127 + 15
		h := exp<<10 | (b>>13)&0x3ff
		return sign | uint16(roundNearestEven(h, b&0x1fff, 13))
	case b < 0x33000000: // < 2^-25: below half of the smallest subnormal
		return sign
	}
	// Subnormal half: the value is m * 2^(e-150) with the implicit bit in m; in units of 2^-24
	// that is m >> (126-e). Rounding may carry into 0x400, the smallest normal, which is right.
	e := b >> 23
	m := b&0x7fffff | 0x800000
	shift := 126 - e
	return sign | uint16(roundNearestEven(m>>shift, m&(1<<shift-1), shift))
}

// roundNearestEven rounds the truncated value kept, whose dropped low bits (dropBits of them)
// are rest, to nearest with ties to even.
func roundNearestEven(kept, rest, dropBits uint32) uint32 {
	half := uint32(1) << (dropBits - 1)
	if rest > half || (rest == half && kept&1 == 1) {
		kept++
	}
	return kept
}

// BF16ToF32 converts bfloat16 bits to float32 (exact: bf16 is the top half of a float32).
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 converts a float32 to bfloat16 with round-to-nearest-even, bit-identical to
// c10::BFloat16 (NaN becomes 0x7fc0; overflow rounds to infinity).
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return 0x7fc0
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}
