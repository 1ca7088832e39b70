package eval

import (
	"math"
	"strconv"
	"strings"
)

// This file writes JSON the way Python's json module does with its defaults, so that the files
// spanqa writes compare byte for byte with those written by HF's utils_qa.py and the official
// scripts:
//
//   - floats use repr(float): the shortest digits that round-trip a float64, in fixed notation
//     with at least one decimal ("100.0") when the decimal exponent is in [-4, 16), otherwise in
//     exponent notation with at least two exponent digits ("1e-05", "1.5e+16"); NaN and
//     infinities are written NaN, Infinity and -Infinity (allow_nan=True);
//   - strings are escaped with ensure_ascii=True: \" \\ \n \r \t \b \f, every other character
//     outside printable ASCII as a lower-case \uXXXX, astral characters as surrogate pairs;
//   - indent=N puts one member per line, ", " is replaced by "," at line ends and keys are
//     followed by ": ".
//
// A float32 value (HF's logits, scores and probabilities are numpy float32) is written the way
// Python writes float(np.float32(x)): the float64 with the same value, in its shortest float64
// repr (0.1f is written 0.10000000149011612).

// pyFloat formats f as Python's repr(float) / json.dumps does.
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return string(appendPyFloat(nil, f))
}

// appendPyFloat appends repr(f) for a finite f.
func appendPyFloat(dst []byte, f float64) []byte {
	// Shortest round-trip digits, as "d.ddddde±XX".
	e := strconv.FormatFloat(f, 'e', -1, 64)
	neg := false
	if e[0] == '-' {
		neg = true
		e = e[1:]
	}
	mant, expStr, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expStr)
	digits := strings.Replace(mant, ".", "", 1)
	// Python's decpt: value = 0.DIGITS * 10^decpt.
	decpt := exp + 1
	if neg {
		dst = append(dst, '-')
	}
	if f == 0 {
		return append(dst, "0.0"...)
	}
	if decpt <= -4 || decpt > 16 {
		dst = append(dst, digits[0])
		if len(digits) > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'e')
		x := decpt - 1
		if x < 0 {
			dst = append(dst, '-')
			x = -x
		} else {
			dst = append(dst, '+')
		}
		if x < 10 {
			dst = append(dst, '0')
		}
		return strconv.AppendInt(dst, int64(x), 10)
	}
	switch {
	case decpt <= 0:
		dst = append(dst, "0."...)
		for i := 0; i < -decpt; i++ {
			dst = append(dst, '0')
		}
		dst = append(dst, digits...)
	case decpt >= len(digits):
		dst = append(dst, digits...)
		for i := len(digits); i < decpt; i++ {
			dst = append(dst, '0')
		}
		dst = append(dst, ".0"...)
	default:
		dst = append(dst, digits[:decpt]...)
		dst = append(dst, '.')
		dst = append(dst, digits[decpt:]...)
	}
	return dst
}

// pyString quotes s as json.dumps does with ensure_ascii=True. Invalid UTF-8 bytes are written
// as U+FFFD.
func pyString(s string) string {
	return string(appendPyString(nil, s))
}

const hexDigits = "0123456789abcdef"

func appendU4(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', hexDigits[r>>12&0xF], hexDigits[r>>8&0xF], hexDigits[r>>4&0xF], hexDigits[r&0xF])
}

// appendPyString appends the ensure_ascii JSON quoting of s.
func appendPyString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for _, r := range s {
		switch {
		case r == '"':
			dst = append(dst, '\\', '"')
		case r == '\\':
			dst = append(dst, '\\', '\\')
		case r == '\n':
			dst = append(dst, '\\', 'n')
		case r == '\r':
			dst = append(dst, '\\', 'r')
		case r == '\t':
			dst = append(dst, '\\', 't')
		case r == '\b':
			dst = append(dst, '\\', 'b')
		case r == '\f':
			dst = append(dst, '\\', 'f')
		case r >= ' ' && r <= '~':
			dst = append(dst, byte(r))
		case r > 0xFFFF:
			r1, r2 := utf16Surrogates(r)
			dst = appendU4(appendU4(dst, r1), r2)
		default:
			dst = appendU4(dst, r)
		}
	}
	return append(dst, '"')
}

func utf16Surrogates(r rune) (rune, rune) {
	r -= 0x10000
	return 0xD800 + (r>>10)&0x3FF, 0xDC00 + r&0x3FF
}

// pyKV is one member of an ordered JSON object whose value is already encoded.
type pyKV struct {
	Key   string
	Value string
}

// pyObject encodes an ordered object as json.dumps(obj, indent=indent) does; indent < 0 gives
// the one-line form json.dumps(obj) prints ({"a": 1, "b": 2}). level is the nesting depth of the
// object (0 at the top).
func pyObject(members []pyKV, indent, level int) string {
	if len(members) == 0 {
		return "{}"
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			b.WriteByte(',')
			if indent < 0 {
				b.WriteByte(' ')
			}
		}
		if indent >= 0 {
			b.WriteByte('\n')
			b.WriteString(strings.Repeat(" ", indent*(level+1)))
		}
		b.WriteString(pyString(m.Key))
		b.WriteString(": ")
		b.WriteString(m.Value)
	}
	if indent >= 0 {
		b.WriteByte('\n')
		b.WriteString(strings.Repeat(" ", indent*level))
	}
	b.WriteByte('}')
	return b.String()
}
