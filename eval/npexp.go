package eval

import (
	"math"
	"math/big"
)

// npExp32 is numpy's float32 exp as its x86-64 SIMD kernel (AVX2+FMA3 and AVX512F, the code path
// of np.exp on float32 arrays on current x86 machines) computes it: k = rint(x*log2(e)) by the
// 1.5*2^23 trick (fused, see below), a two-constant Cody-Waite reduction y = x - k*ln2 with fused multiply-adds, a
// degree 5/2 rational approximation of exp(y) evaluated with fused multiply-adds, and the scaling
// by 2^k. Results differ from the correctly rounded exp in about a third of the inputs (by up to
// 2.5 ulp), so HF's softmax probabilities are reproduced bit for bit only with this kernel.
// (numpy on other architectures calls the C library's expf; see softmax.)
func npExp32(x float32) float32 {
	const (
		xmax  = float32(88.72283935546875)
		xmin  = float32(-103.97208404541015625)
		log2e = float32(1.442695040888963407359924681001892137)
		magic = float32(0x1.8p+23)
		c1    = float32(-6.93145752e-1)
		c2    = float32(-1.42860677e-6)
		p0    = float32(9.999999999980870924916e-01)
		p1    = float32(7.257664613233124478488e-01)
		p2    = float32(2.473615434895520810817e-01)
		p3    = float32(5.114512081637298353406e-02)
		p4    = float32(6.757896990527504603057e-03)
		p5    = float32(5.082762527590693718096e-04)
		q0    = float32(1.0)
		q1    = float32(-2.742335390411667452936e-01)
		q2    = float32(2.159509375685829852307e-02)
	)
	switch {
	case x != x:
		return x
	case x >= xmax:
		return float32(math.Inf(1))
	case x <= xmin:
		return 0
	}
	// The kernel writes x*log2e + magic as a multiply and an add, which the compiler numpy is
	// built with contracts into one fused multiply-add (this decides k when x*log2e lies within
	// rounding error of a half-integer).
	k := fma32(x, log2e, magic)
	k = float32(k - magic)
	y := fma32(k, c1, x)
	y = fma32(k, c2, y)
	num := fma32(p5, y, p4)
	num = fma32(num, y, p3)
	num = fma32(num, y, p2)
	num = fma32(num, y, p1)
	num = fma32(num, y, p0)
	den := fma32(q2, y, q1)
	den = fma32(den, y, q0)
	poly := float32(num / den)
	// poly * 2^k, rounded once (exact unless the result is subnormal).
	return float32(math.Ldexp(float64(poly), int(k)))
}

// fma32 is the float32 fused multiply-add a*b + c with a single rounding. The product is exact in
// float64; the sum is rounded to odd in float64, after which rounding to float32 is correct.
func fma32(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	cc := float64(c)
	s := p + cc
	// TwoSum: the exact error of s.
	bb := s - p
	e := (p - (s - bb)) + (cc - bb)
	if e != 0 && math.Float64bits(s)&1 == 0 {
		if e > 0 {
			s = math.Nextafter(s, math.Inf(1))
		} else {
			s = math.Nextafter(s, math.Inf(-1))
		}
	}
	return float32(s)
}

// ln2Digits is ln(2) to 80 significant digits.
const ln2Digits = "0.69314718055994530941723212145817656807550013436025525412068000949339362196969472"

// exp64 is the correctly rounded float64 exp, which is what the C library's exp (glibc's,
// called by numpy for float64 arrays on machines without AVX-512) returns in practice; Go's
// math.Exp may be one ulp off. It is used only for the rare float64 softmax (HF's placeholder),
// so its cost (arbitrary precision arithmetic) does not matter.
func exp64(x float64) float64 {
	switch {
	case x != x || math.IsInf(x, 0):
		return math.Exp(x)
	case x == 0:
		return 1
	case x > 709.8:
		return math.Inf(1)
	case x < -745.2:
		return 0
	}
	const prec = 256
	ln2, _, _ := big.ParseFloat(ln2Digits, 10, prec, big.ToNearestEven)
	k := math.Round(x / math.Ln2)
	// r = x - k*ln2, |r| <= ~0.35.
	r := new(big.Float).SetPrec(prec).SetFloat64(x)
	kl := new(big.Float).SetPrec(prec).SetFloat64(k)
	kl.Mul(kl, ln2)
	r.Sub(r, kl)
	// Taylor series of exp(r).
	sum := new(big.Float).SetPrec(prec).SetInt64(1)
	term := new(big.Float).SetPrec(prec).SetInt64(1)
	eps := new(big.Float).SetPrec(prec).SetMantExp(big.NewFloat(1), -prec)
	for n := int64(1); n < 200; n++ {
		term.Mul(term, r)
		term.Quo(term, new(big.Float).SetPrec(prec).SetInt64(n))
		sum.Add(sum, term)
		if new(big.Float).Abs(term).Cmp(eps) < 0 {
			break
		}
	}
	sum.SetMantExp(sum, int(k))
	f, _ := sum.Float64()
	return f
}
