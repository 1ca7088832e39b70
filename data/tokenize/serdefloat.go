package tokenize

import (
	"fmt"
	"math"
	"strconv"
	"sync"
)

// parseSerdeFloat parses a JSON number to the float64 that HF's tokenizers gets for it.
//
// tokenizers reads tokenizer.json with serde_json, built without its "float_roundtrip" feature.
// That parser is not correctly rounded: it keeps up to 19-20 significant digits in a u64 (later
// digits are dropped), converts that integer to float64 (one rounding) and then multiplies or
// divides by an exact-as-possible power of ten (a second rounding). For the 17-digit scores of a
// Unigram vocabulary the result is 1 ULP away from strconv.ParseFloat's for about a quarter of the
// pieces (32,428 of deberta-v3-base's 128,000). One ULP decides Viterbi's ties between equally
// scored segmentations (a run of 46 "a" as 9+1+9+9+9+9 or 1+9+9+9+9+9 pieces), so spanqa must use
// the same values to segment as HF does. This follows serde_json's de.rs (parse_integer,
// parse_decimal, parse_exponent and f64_from_parts of the non-float_roundtrip build) step by step.
func parseSerdeFloat(s string) (float64, error) {
	bad := func() (float64, error) { return 0, fmt.Errorf("invalid JSON number %q", s) }
	i := 0
	positive := true
	if i < len(s) && s[i] == '-' {
		positive = false
		i++
	}
	if i >= len(s) || s[i] < '0' || s[i] > '9' {
		return bad()
	}
	var significand uint64
	exponent := 0 // decimal exponent applied to significand
	// overflows reports whether significand*10+digit would not fit a u64 (serde's overflow!).
	overflows := func(d uint64) bool {
		const c = math.MaxUint64
		return significand >= c/10 && (significand > c/10 || d > c%10)
	}
	if s[i] == '0' {
		i++
		if i < len(s) && s[i] >= '0' && s[i] <= '9' {
			return bad() // a leading zero (serde rejects "01" too)
		}
	} else {
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			d := uint64(s[i] - '0')
			if overflows(d) {
				// parse_long_integer: the remaining integer digits only scale the value.
				for i < len(s) && s[i] >= '0' && s[i] <= '9' {
					exponent++
					i++
				}
				break
			}
			significand = significand*10 + d
			i++
		}
	}
	if i < len(s) && s[i] == '.' {
		i++
		start := i
		dropping := false
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			d := uint64(s[i] - '0')
			if !dropping && overflows(d) {
				dropping = true // parse_decimal_overflow: every further digit is ignored
			}
			if !dropping {
				significand = significand*10 + d
				exponent--
			}
			i++
		}
		if i == start {
			return bad()
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		posExp := true
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			posExp = s[i] == '+'
			i++
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return bad()
		}
		var exp int64
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			exp = exp*10 + int64(s[i]-'0')
			if exp > math.MaxInt32 {
				// parse_exponent_overflow: zero stays zero, a huge positive exponent is out of
				// range, a huge negative one underflows to zero.
				for i < len(s) && s[i] >= '0' && s[i] <= '9' {
					i++
				}
				if i != len(s) {
					return bad()
				}
				if significand != 0 && posExp {
					return 0, fmt.Errorf("JSON number %q is out of range", s)
				}
				return math.Copysign(0, sign(positive)), nil
			}
			i++
		}
		if posExp {
			exponent += int(exp)
		} else {
			exponent -= int(exp)
		}
	}
	if i != len(s) {
		return bad()
	}
	f := float64(significand) // Rust's `as f64`: round to nearest, ties to even, like Go's
	pow := serdePow10()
	for {
		if e := exponent; e >= -308 && e <= 308 {
			if e >= 0 {
				f *= pow[e]
				if math.IsInf(f, 0) {
					return 0, fmt.Errorf("JSON number %q is out of range", s)
				}
			} else {
				f /= pow[-e]
			}
			break
		}
		if f == 0 {
			break
		}
		if exponent >= 0 {
			return 0, fmt.Errorf("JSON number %q is out of range", s)
		}
		f /= 1e308
		exponent += 308
	}
	if !positive {
		f = -f
	}
	return f, nil
}

func sign(positive bool) float64 {
	if positive {
		return 1
	}
	return -1
}

// serdePow10 is serde_json's POW10 table: 1e0 ... 1e308, each the correctly rounded literal
// (math.Pow10 is not correctly rounded for every exponent, ParseFloat is).
var serdePow10 = sync.OnceValue(func() []float64 {
	t := make([]float64, 309)
	for e := range t {
		t[e], _ = strconv.ParseFloat("1e"+strconv.Itoa(e), 64)
	}
	return t
})
