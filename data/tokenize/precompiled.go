package tokenize

import (
	"encoding/binary"
	"fmt"
	"sync"
	"unicode"
	"unicode/utf8"
)

// This file holds SentencePiece's "precompiled charsmap" normaliser (nmt_nfkc for DeBERTa-v3) as
// Hugging Face's Precompiled normalizer applies it, plus the extended grapheme cluster
// segmentation that normalizer depends on.
//
// The charsmap blob is [u32 little-endian trie size in bytes][trie: u32 units][normalized strings,
// each NUL-terminated]. The trie is a darts-clone double array over the UTF-8 bytes of the source
// text; its values are offsets of the replacement strings.

// precompiledCharsmap is a parsed SentencePiece precompiled_charsmap.
type precompiledCharsmap struct {
	units       []uint32
	replacement string
	// ascii caches the lookup of every single ASCII byte, the hot path for Latin text.
	ascii [128]struct {
		repl string
		ok   bool
	}
}

// parsePrecompiledCharsmap decodes the binary charsmap stored in spm.model's normalizer_spec and,
// base64-encoded, in tokenizer.json's Precompiled normalizer.
func parsePrecompiledCharsmap(blob []byte) (*precompiledCharsmap, error) {
	if len(blob) < 4 {
		return nil, fmt.Errorf("precompiled charsmap: %d bytes, too short for its header", len(blob))
	}
	trieSize := int(binary.LittleEndian.Uint32(blob))
	if trieSize%4 != 0 || trieSize > len(blob)-4 || trieSize == 0 {
		return nil, fmt.Errorf("precompiled charsmap: trie size %d does not fit the %d-byte blob", trieSize, len(blob))
	}
	cm := &precompiledCharsmap{units: make([]uint32, trieSize/4)}
	for i := range cm.units {
		cm.units[i] = binary.LittleEndian.Uint32(blob[4+4*i:])
	}
	rest := blob[4+trieSize:]
	if !utf8.Valid(rest) {
		return nil, fmt.Errorf("precompiled charsmap: replacement strings are not valid UTF-8")
	}
	cm.replacement = string(rest)
	for b := 0; b < 128; b++ {
		cm.ascii[b].repl, cm.ascii[b].ok = cm.lookupSlow(string(rune(b)))
	}
	return cm, nil
}

// Accessors of one double-array unit (darts-clone layout).
func dartsHasLeaf(u uint32) bool  { return (u>>8)&1 == 1 }
func dartsValue(u uint32) int     { return int(u & (1<<31 - 1)) }
func dartsLabel(u uint32) uint32  { return u & (1<<31 | 0xFF) }
func dartsOffset(u uint32) uint32 { return (u >> 10) << ((u & (1 << 9)) >> 6) }

// lookup returns the replacement of the SHORTEST key that is a prefix of chunk. That is what HF
// does (it takes the first result of a common-prefix search), even when chunk is a whole
// grapheme and the key covers only part of it: the rest of the grapheme is then dropped. The
// search stops at a NUL byte, so NUL is never replaced.
func (cm *precompiledCharsmap) lookup(chunk string) (string, bool) {
	if len(chunk) == 1 && chunk[0] < 0x80 {
		e := &cm.ascii[chunk[0]]
		return e.repl, e.ok
	}
	return cm.lookupSlow(chunk)
}

func (cm *precompiledCharsmap) lookupSlow(chunk string) (string, bool) {
	units := cm.units
	pos := dartsOffset(units[0])
	for i := 0; i < len(chunk); i++ {
		c := uint32(chunk[i])
		if c == 0 {
			break
		}
		pos ^= c
		if int(pos) >= len(units) {
			return "", false
		}
		u := units[pos]
		if dartsLabel(u) != c {
			return "", false
		}
		pos ^= dartsOffset(u)
		if dartsHasLeaf(u) {
			if int(pos) >= len(units) {
				return "", false
			}
			return cm.replacementAt(dartsValue(units[pos])), true
		}
	}
	return "", false
}

// replacementAt returns the NUL-terminated replacement string starting at off.
func (cm *precompiledCharsmap) replacementAt(off int) string {
	if off >= len(cm.replacement) {
		return ""
	}
	end := off
	for end < len(cm.replacement) && cm.replacement[end] != 0 {
		end++
	}
	return cm.replacement[off:end]
}

// ugTransform is one character of a normalised text with HF's "change" code: 0 replaces the
// next source character, +1 is inserted, -N replaces the next source character and removes the N
// after it. ugText.transform applies a list of them.
type ugTransform struct {
	r      rune
	change int
}

// charsmapWriter applies HF's Precompiled transformations to src as they are produced, writing
// the result to out. HF first builds the whole list of (char, change) transformations, patching
// the last entry when characters disappear, then replays it with NormalizedString::transform. Only
// the most recent entry is ever patched, so the list can be replayed on the fly: the writer
// remembers where the last entry's bytes are and whether it was an inserted character.
type charsmapWriter struct {
	src, out *ugText
	// off is the next source byte a replacing entry consumes. It runs behind the scan position
	// when a removal was lost (see remove).
	off          int
	emitted      bool // at least one entry was written
	lastInserted bool // the last entry is an inserted character (change +1)
	lastStart    int  // out.b index of the last entry's first byte
}

// spanAtOff is the span of the source character at off (HF indexes alignments[offset]).
func (w *charsmapWriter) spanAtOff() ugSpan {
	if w.off < len(w.src.align) {
		return w.src.align[w.off]
	}
	if n := len(w.src.align); n > 0 {
		return w.src.align[n-1]
	}
	return ugSpan{}
}

func (w *charsmapWriter) consume() {
	if w.off < len(w.src.b) {
		_, size := utf8.DecodeRune(w.src.b[w.off:])
		w.off += size
	}
}

func (w *charsmapWriter) emit(r rune, sp ugSpan, inserted bool) {
	w.lastStart = len(w.out.b)
	w.out.b = utf8.AppendRune(w.out.b, r)
	for range len(w.out.b) - w.lastStart {
		w.out.align = append(w.out.align, sp)
	}
	w.emitted, w.lastInserted = true, inserted
}

// replace writes r in place of the next source character (change 0).
func (w *charsmapWriter) replace(r rune) {
	sp := w.spanAtOff()
	w.consume()
	w.emit(r, sp, false)
}

// insert writes r as a new character (change +1): it shares the span of the byte before off.
func (w *charsmapWriter) insert(r rune) {
	var sp ugSpan
	if w.off >= 1 {
		sp = w.src.align[w.off-1]
	}
	w.emit(r, sp, true)
}

// remove drops m source characters. HF charges the removal to the last entry written, possibly
// one of an earlier grapheme; an inserted entry thereby becomes a replacing one and takes the
// span at off. With no entry yet the removal is lost and later characters align to the wrong
// source characters; HF's offsets show that, so it is reproduced.
func (w *charsmapWriter) remove(m int) {
	if !w.emitted {
		return
	}
	if w.lastInserted {
		sp := w.spanAtOff()
		for k := w.lastStart; k < len(w.out.align); k++ {
			w.out.align[k] = sp
		}
		w.lastInserted = false
	}
	for range m {
		w.consume()
	}
}

// replaceWith writes repl for m source characters, as HF's replace helper does: the first
// min(k, m) characters of repl replace, the rest are inserted, and missing ones are removed.
func (w *charsmapWriter) replaceWith(m int, repl string) {
	k := 0
	for _, r := range repl {
		if k < m {
			w.replace(r)
		} else {
			w.insert(r)
		}
		k++
	}
	if k < m {
		w.remove(m - k)
	}
}

// copyUnchanged writes src[i:j], characters no rule touches. While off is in step with the scan
// this is a plain copy; otherwise each character takes the span at off, as HF's replay does.
func (w *charsmapWriter) copyUnchanged(i, j int) {
	if i >= j {
		return
	}
	if w.off == i {
		w.out.b = append(w.out.b, w.src.b[i:j]...)
		w.out.align = append(w.out.align, w.src.align[i:j]...)
		w.off = j
		_, size := utf8.DecodeLastRune(w.src.b[i:j])
		w.lastStart = len(w.out.b) - size
		w.emitted, w.lastInserted = true, false
		return
	}
	for k := i; k < j; {
		r, size := utf8.DecodeRune(w.src.b[k:j])
		w.replace(r)
		k += size
	}
}

// normalize applies the charsmap to t the way HF's Precompiled normalizer does: per extended
// grapheme cluster when the cluster is shorter than 6 bytes and has a rule, otherwise per
// character.
func (cm *precompiledCharsmap) normalize(t *ugText, sc *ugScratch) {
	s := t.b
	w := charsmapWriter{src: t, out: &sc.tmp}
	w.out.b, w.out.align = w.out.b[:0], w.out.align[:0]
	modified := false
	plain := 0 // start of the pending run of unchanged characters
	for i := 0; i < len(s); {
		// Fast path: ASCII characters that stand alone and have no rule.
		if c := s[i]; c < utf8.RuneSelf && c != '\r' && !cm.ascii[c].ok &&
			(i+1 == len(s) || s[i+1] < utf8.RuneSelf) {
			i++
			continue
		}
		end := graphemeEnd(s, i)
		if end-i < 6 && end-i > 1 {
			if repl, ok := cm.lookup(ugBytesToString(s[i:end])); ok {
				w.copyUnchanged(plain, i)
				w.replaceWith(utf8.RuneCount(s[i:end]), repl)
				modified = true
				i, plain = end, end
				continue
			}
		}
		for i < end {
			size := 1
			if s[i] >= utf8.RuneSelf {
				_, size = utf8.DecodeRune(s[i:])
			}
			if repl, ok := cm.lookup(ugBytesToString(s[i : i+size])); ok {
				w.copyUnchanged(plain, i)
				w.replaceWith(1, repl)
				modified = true
				plain = i + size
			}
			i += size
		}
	}
	if !modified {
		return // HF leaves the text alone, and so did every step above
	}
	w.copyUnchanged(plain, len(s))
	t.b, w.out.b = w.out.b, t.b
	t.align, w.out.align = w.out.align, t.align
}

// ---- extended grapheme clusters (UAX #29) ----

// Grapheme_Cluster_Break classes; gcbPictographic is a flag bit for Extended_Pictographic.
const (
	gcbOther uint8 = iota
	gcbCR
	gcbLF
	gcbControl
	gcbExtend
	gcbZWJ
	gcbRegional
	gcbPrepend
	gcbSpacingMark
	gcbL
	gcbV
	gcbT
	gcbLV
	gcbLVT

	gcbClassMask    uint8 = 0x0F
	gcbPictographic uint8 = 0x10
)

// Code points whose class the general category does not give. The lists follow the derivation of
// GraphemeBreakProperty.txt in UAX #29 (checked against Unicode 14 data).
var (
	gcbPrependRanges = [][2]rune{
		{0x600, 0x605}, {0x6DD, 0x6DD}, {0x70F, 0x70F}, {0x890, 0x891}, {0x8E2, 0x8E2}, {0xD4E, 0xD4E},
		{0x110BD, 0x110BD}, {0x110CD, 0x110CD}, {0x111C2, 0x111C3}, {0x1193F, 0x1193F}, {0x11941, 0x11941},
		{0x11A3A, 0x11A3A}, {0x11A84, 0x11A89}, {0x11D46, 0x11D46}, {0x11F02, 0x11F02},
	}
	// Spacing marks (Mc) that are nevertheless not SpacingMark.
	gcbNotSpacingMark = [][2]rune{
		{0x102B, 0x102C}, {0x1038, 0x1038}, {0x1062, 0x1064}, {0x1067, 0x106D}, {0x1083, 0x1083},
		{0x1087, 0x108C}, {0x108F, 0x108F}, {0x109A, 0x109C}, {0x1A61, 0x1A61}, {0x1A63, 0x1A64},
		{0xAA7B, 0xAA7B}, {0xAA7D, 0xAA7D}, {0x11720, 0x11721},
	}
	gcbPictographicRanges = [][2]rune{
		{0xA9, 0xA9}, {0xAE, 0xAE}, {0x203C, 0x203C}, {0x2049, 0x2049}, {0x2122, 0x2122}, {0x2139, 0x2139},
		{0x2194, 0x2199}, {0x21A9, 0x21AA}, {0x231A, 0x231B}, {0x2328, 0x2328}, {0x2388, 0x2388},
		{0x23CF, 0x23CF}, {0x23E9, 0x23F3}, {0x23F8, 0x23FA}, {0x24C2, 0x24C2}, {0x25AA, 0x25AB},
		{0x25B6, 0x25B6}, {0x25C0, 0x25C0}, {0x25FB, 0x25FE}, {0x2600, 0x2605}, {0x2607, 0x2612},
		{0x2614, 0x2685}, {0x2690, 0x2705}, {0x2708, 0x2712}, {0x2714, 0x2714}, {0x2716, 0x2716},
		{0x271D, 0x271D}, {0x2721, 0x2721}, {0x2728, 0x2728}, {0x2733, 0x2734}, {0x2744, 0x2744},
		{0x2747, 0x2747}, {0x274C, 0x274C}, {0x274E, 0x274E}, {0x2753, 0x2755}, {0x2757, 0x2757},
		{0x2763, 0x2767}, {0x2795, 0x2797}, {0x27A1, 0x27A1}, {0x27B0, 0x27B0}, {0x27BF, 0x27BF},
		{0x2934, 0x2935}, {0x2B05, 0x2B07}, {0x2B1B, 0x2B1C}, {0x2B50, 0x2B50}, {0x2B55, 0x2B55},
		{0x3030, 0x3030}, {0x303D, 0x303D}, {0x3297, 0x3297}, {0x3299, 0x3299}, {0x1F000, 0x1F0FF},
		{0x1F10D, 0x1F10F}, {0x1F12F, 0x1F12F}, {0x1F16C, 0x1F171}, {0x1F17E, 0x1F17F}, {0x1F18E, 0x1F18E},
		{0x1F191, 0x1F19A}, {0x1F1AD, 0x1F1E5}, {0x1F201, 0x1F20F}, {0x1F21A, 0x1F21A}, {0x1F22F, 0x1F22F},
		{0x1F232, 0x1F23A}, {0x1F23C, 0x1F23F}, {0x1F249, 0x1F3FA}, {0x1F400, 0x1F53D}, {0x1F546, 0x1F64F},
		{0x1F680, 0x1F6FF}, {0x1F774, 0x1F77F}, {0x1F7D5, 0x1F7FF}, {0x1F80C, 0x1F80F}, {0x1F848, 0x1F84F},
		{0x1F85A, 0x1F85F}, {0x1F888, 0x1F88F}, {0x1F8AE, 0x1F8FF}, {0x1F90C, 0x1F93A}, {0x1F93C, 0x1F945},
		{0x1F947, 0x1FAFF}, {0x1FC00, 0x1FFFD},
	}
)

func gcbInRanges(r rune, ranges [][2]rune) bool {
	lo, hi := 0, len(ranges)
	for lo < hi {
		m := (lo + hi) / 2
		switch {
		case r < ranges[m][0]:
			hi = m
		case r > ranges[m][1]:
			lo = m + 1
		default:
			return true
		}
	}
	return false
}

// classifyGrapheme derives the Grapheme_Cluster_Break class of r (plus the pictographic flag)
// from Go's Unicode tables and the lists above.
func classifyGrapheme(r rune) uint8 {
	var pict uint8
	if gcbInRanges(r, gcbPictographicRanges) {
		pict = gcbPictographic
	}
	switch {
	case r == '\r':
		return gcbCR
	case r == '\n':
		return gcbLF
	case r == 0x200D:
		return gcbZWJ | pict
	case gcbInRanges(r, gcbPrependRanges):
		return gcbPrepend | pict
	case r >= 0x1100 && r <= 0x115F, r >= 0xA960 && r <= 0xA97C:
		return gcbL
	case r >= 0x1160 && r <= 0x11A7, r >= 0xD7B0 && r <= 0xD7C6:
		return gcbV
	case r >= 0x11A8 && r <= 0x11FF, r >= 0xD7CB && r <= 0xD7FB:
		return gcbT
	case r >= 0xAC00 && r <= 0xD7A3:
		if (r-0xAC00)%28 == 0 {
			return gcbLV
		}
		return gcbLVT
	case r >= 0x1F1E6 && r <= 0x1F1FF:
		return gcbRegional
	case unicode.In(r, unicode.Mn, unicode.Me, unicode.Other_Grapheme_Extend), r >= 0x1F3FB && r <= 0x1F3FF:
		return gcbExtend | pict
	case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp),
		r == 0x2065, r >= 0xFFF0 && r <= 0xFFF8, r >= 0xE0000 && r <= 0xE0FFF:
		return gcbControl | pict
	case r == 0x0E33 || r == 0x0EB3,
		unicode.Is(unicode.Mc, r) && !gcbInRanges(r, gcbNotSpacingMark):
		return gcbSpacingMark | pict
	}
	return gcbOther | pict
}

var (
	gcbTableOnce sync.Once
	gcbTable     []uint8 // class of every BMP code point
)

func graphemeClass(r rune) uint8 {
	if r < 0x80 {
		switch {
		case r == '\r':
			return gcbCR
		case r == '\n':
			return gcbLF
		case r < 0x20 || r == 0x7F:
			return gcbControl
		}
		return gcbOther
	}
	if r < 0x10000 {
		gcbTableOnce.Do(func() {
			gcbTable = make([]uint8, 0x10000)
			for c := rune(0); c < 0x10000; c++ {
				gcbTable[c] = classifyGrapheme(c)
			}
		})
		return gcbTable[r]
	}
	return classifyGrapheme(r)
}

// graphemeEnd returns the end of the extended grapheme cluster of s that starts at i.
func graphemeEnd(s []byte, i int) int {
	c0 := s[i]
	if c0 < 0x80 {
		// An ASCII character stands alone unless it is CR before LF or a non-ASCII mark follows.
		if i+1 == len(s) {
			return i + 1
		}
		if n := s[i+1]; n < 0x80 {
			if c0 == '\r' && n == '\n' {
				return i + 2
			}
			return i + 1
		}
	}
	r, size := utf8.DecodeRune(s[i:])
	prev := graphemeClass(r)
	// pict tracks rule GB11 (ExtPict Extend* ZWJ × ExtPict): 1 after ExtPict Extend*, 2 after
	// its ZWJ. riOdd: an odd number of regional indicators precedes (GB12/13).
	pict := 0
	if prev&gcbPictographic != 0 {
		pict = 1
	}
	riOdd := prev&gcbClassMask == gcbRegional
	j := i + size
	for j < len(s) {
		r, size = utf8.DecodeRune(s[j:])
		cur := graphemeClass(r)
		if !graphemeJoins(prev, cur, pict == 2, riOdd) {
			break
		}
		cc := cur & gcbClassMask
		switch {
		case cur&gcbPictographic != 0:
			pict = 1
		case pict == 1 && cc == gcbExtend:
		case pict == 1 && cc == gcbZWJ:
			pict = 2
		default:
			pict = 0
		}
		riOdd = cc == gcbRegional && !riOdd
		prev = cur
		j += size
	}
	return j
}

// graphemeJoins reports whether there is no cluster boundary between a character of class prev
// and the next one of class cur (rules GB3–GB13).
func graphemeJoins(prev, cur uint8, afterPictZWJ, riOdd bool) bool {
	p, c := prev&gcbClassMask, cur&gcbClassMask
	switch {
	case p == gcbCR && c == gcbLF:
		return true
	case p == gcbControl || p == gcbCR || p == gcbLF:
		return false
	case c == gcbControl || c == gcbCR || c == gcbLF:
		return false
	case p == gcbL && (c == gcbL || c == gcbV || c == gcbLV || c == gcbLVT):
		return true
	case (p == gcbLV || p == gcbV) && (c == gcbV || c == gcbT):
		return true
	case (p == gcbLVT || p == gcbT) && c == gcbT:
		return true
	case c == gcbExtend || c == gcbZWJ || c == gcbSpacingMark:
		return true
	case p == gcbPrepend:
		return true
	case p == gcbZWJ && cur&gcbPictographic != 0 && afterPictZWJ:
		return true
	case p == gcbRegional && c == gcbRegional && riOdd:
		return true
	}
	return false
}
