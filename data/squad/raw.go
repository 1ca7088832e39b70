package squad

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// field is a string as a reader found it, before validation.
type field struct {
	s       string
	present bool   // false: missing or null
	badUTF8 bool   // the encoded bytes were not valid UTF-8
	typ     string // the JSON type found instead of a string, if any
}

// textField makes a present field from raw bytes, checking UTF-8 validity.
func textField(b []byte) field {
	return field{s: string(b), present: true, badUTF8: !utf8.Valid(b)}
}

// rawAnswer is one answer as read.
type rawAnswer struct {
	text     field
	start    int64
	hasStart bool
}

// rawExample is an example as a reader found it; validate turns it into an Example.
type rawExample struct {
	index                        int
	id, title, context, question field
	hasAnswers                   bool
	answers                      []rawAnswer
	// problem is set by the reader for structural defects (wrong JSON types, null list items).
	problem string
}

func (r *rawExample) fail(format string, args ...any) {
	if r.problem == "" {
		r.problem = fmt.Sprintf(format, args...)
	}
}

// checkText validates one required text field.
func checkText(f field, name string, allowBlank bool) string {
	switch {
	case f.typ != "":
		return fmt.Sprintf("%s: expected a string, got %s", name, f.typ)
	case !f.present:
		return "missing " + name
	case f.badUTF8:
		return name + " is not valid UTF-8"
	case !allowBlank && strings.TrimSpace(f.s) == "":
		return "empty " + name
	}
	return ""
}

// validate checks r and converts it into an Example, converting answer_start (runes) to bytes.
func (r *rawExample) validate() (Example, string) {
	if r.problem != "" {
		return Example{}, r.problem
	}
	if msg := checkText(r.id, "id", false); msg != "" {
		return Example{}, msg
	}
	if r.title.present || r.title.typ != "" {
		if msg := checkText(r.title, "title", true); msg != "" {
			return Example{}, msg
		}
	}
	if msg := checkText(r.question, "question", false); msg != "" {
		return Example{}, msg
	}
	if msg := checkText(r.context, "context", false); msg != "" {
		return Example{}, msg
	}
	if !r.hasAnswers {
		return Example{}, "missing answers"
	}
	ex := Example{ID: r.id.s, Title: r.title.s, Context: r.context.s, Question: r.question.s}
	if len(r.answers) > 0 {
		ex.Answers = make([]Answer, len(r.answers))
	}
	conv := newRuneIndex(ex.Context)
	for i, a := range r.answers {
		if msg := checkText(a.text, fmt.Sprintf("answer %d text", i), true); msg != "" {
			return Example{}, msg
		}
		if a.text.s == "" {
			return Example{}, fmt.Sprintf("answer %d text is empty", i)
		}
		if !a.hasStart {
			return Example{}, fmt.Sprintf("answer %d: missing answer_start", i)
		}
		if a.start < 0 {
			return Example{}, fmt.Sprintf("answer %d: negative answer_start %d", i, a.start)
		}
		n := int64(conv.runes)
		if a.start > n {
			return Example{}, fmt.Sprintf("answer_start %d beyond context of %d runes", a.start, n)
		}
		start := int(a.start)
		textRunes := utf8.RuneCountInString(a.text.s)
		if int64(start)+int64(textRunes) > n {
			return Example{}, fmt.Sprintf("answer %d %q at answer_start %d runs past the end of the context (%d runes)", i, a.text.s, start, n)
		}
		bs, be := conv.byteOf(start), conv.byteOf(start+textRunes)
		if got := ex.Context[bs:be]; got != a.text.s {
			return Example{}, fmt.Sprintf("answer %d text %q does not match the context at answer_start %d (context has %q)", i, a.text.s, start, got)
		}
		ex.Answers[i] = Answer{Text: a.text.s, Start: start, ByteStart: bs}
	}
	return ex, ""
}

// runeIndex converts rune offsets of one string to byte offsets.
type runeIndex struct {
	s     string
	runes int
	ascii bool
	bytes []int // bytes[i] = byte offset of rune i; nil for ASCII
}

func newRuneIndex(s string) *runeIndex {
	n := utf8.RuneCountInString(s)
	ri := &runeIndex{s: s, runes: n, ascii: n == len(s)}
	return ri
}

// byteOf returns the byte offset of rune offset i (0 <= i <= runes).
func (ri *runeIndex) byteOf(i int) int {
	if ri.ascii {
		return i
	}
	if ri.bytes == nil {
		ri.bytes = make([]int, 0, ri.runes+1)
		for b := range ri.s {
			ri.bytes = append(ri.bytes, b)
		}
		ri.bytes = append(ri.bytes, len(ri.s))
	}
	return ri.bytes[i]
}
