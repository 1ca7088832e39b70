package squad

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// jsonKind names the JSON type of an encoded value, for error messages.
func jsonKind(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// jsonText decodes a JSON string into a field, remembering invalid UTF-8 (which encoding/json
// would silently replace by U+FFFD) and wrong types instead of failing the whole object.
type jsonText struct{ field }

// UnmarshalJSON implements json.Unmarshaler; it never fails.
func (t *jsonText) UnmarshalJSON(b []byte) error {
	t.field = decodeText(b)
	return nil
}

func decodeText(b []byte) field {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return field{}
	}
	if len(b) == 0 || b[0] != '"' {
		return field{typ: jsonKind(b)}
	}
	var s string
	if len(b) >= 2 && b[len(b)-1] == '"' && bytes.IndexByte(b, '\\') < 0 {
		s = string(b[1 : len(b)-1]) // no escapes: the text is the bytes between the quotes
	} else if err := json.Unmarshal(b, &s); err != nil {
		return field{typ: "an invalid string"}
	}
	// Escapes are ASCII, so checking the encoded bytes checks the text.
	f := field{present: true, s: s, badUTF8: !utf8.Valid(b)}
	if !f.badUTF8 && bytes.Contains(b, []byte(`\u`)) && hasLoneSurrogate(b) {
		f.badUTF8 = true
	}
	return f
}

// hasLoneSurrogate reports a \uD800-\uDFFF escape that is not part of a valid surrogate pair
// (Python would keep it as a lone surrogate; Go replaces it with U+FFFD).
func hasLoneSurrogate(b []byte) bool {
	hex4 := func(i int) (rune, bool) {
		if i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
			return 0, false
		}
		v, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 16)
		return rune(v), err == nil
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if i+1 < len(b) && b[i+1] != 'u' {
			i++ // skip the escaped character (it may be a backslash)
			continue
		}
		r, ok := hex4(i)
		if !ok {
			continue
		}
		switch {
		case r >= 0xD800 && r < 0xDC00:
			lo, ok := hex4(i + 6)
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return true
			}
			i += 11
		case r >= 0xDC00 && r <= 0xDFFF:
			return true
		default:
			i += 5
		}
	}
	return false
}

// jsonInt decodes answer_start: an integer (12 or 12.0), remembering wrong types.
type jsonInt struct {
	v       int64
	present bool
	typ     string
}

// UnmarshalJSON implements json.Unmarshaler; it never fails.
func (n *jsonInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*n = jsonInt{}
	if string(b) == "null" {
		return nil
	}
	if jsonKind(b) != "a number" {
		n.typ = jsonKind(b)
		return nil
	}
	if v, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		n.v, n.present = v, true
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		n.typ = "the non-integer " + string(b)
		return nil
	}
	n.v, n.present = int64(f), true
	return nil
}

// answerJSON is one SQuAD answer object.
type answerJSON struct {
	Text  jsonText `json:"text"`
	Start jsonInt  `json:"answer_start"`
}

// jsonAnswers decodes answers given either as SQuAD's list of {"text","answer_start"} objects or
// as HF's {"text": [...], "answer_start": [...]}.
type jsonAnswers struct {
	list    []rawAnswer
	present bool
	problem string
}

// UnmarshalJSON implements json.Unmarshaler; it never fails.
func (a *jsonAnswers) UnmarshalJSON(b []byte) error {
	*a = decodeAnswers(b)
	return nil
}

func toRaw(t jsonText, s jsonInt, i int) (rawAnswer, string) {
	if t.typ != "" {
		return rawAnswer{}, fmt.Sprintf("answer %d text: expected a string, got %s", i, t.typ)
	}
	if s.typ != "" {
		return rawAnswer{}, fmt.Sprintf("answer %d answer_start: expected an integer, got %s", i, s.typ)
	}
	if !t.present {
		return rawAnswer{}, fmt.Sprintf("answer %d: missing text", i)
	}
	return rawAnswer{text: t.field, start: s.v, hasStart: s.present}, ""
}

func decodeAnswers(b []byte) jsonAnswers {
	b = bytes.TrimSpace(b)
	var out jsonAnswers
	switch jsonKind(b) {
	case "null":
		return out
	case "an array":
		out.present = true
		var items []json.RawMessage
		if err := json.Unmarshal(b, &items); err != nil {
			out.problem = "answers: " + err.Error()
			return out
		}
		out.list = make([]rawAnswer, 0, len(items))
		for i, item := range items {
			if jsonKind(item) != "an object" {
				out.problem = fmt.Sprintf("answer %d: expected an object, got %s", i, jsonKind(item))
				return out
			}
			var aj answerJSON
			if err := json.Unmarshal(item, &aj); err != nil {
				out.problem = fmt.Sprintf("answer %d: %v", i, err)
				return out
			}
			ra, msg := toRaw(aj.Text, aj.Start, i)
			if msg != "" {
				out.problem = msg
				return out
			}
			out.list = append(out.list, ra)
		}
	case "an object":
		out.present = true
		var lists struct {
			Text  json.RawMessage `json:"text"`
			Start json.RawMessage `json:"answer_start"`
		}
		if err := json.Unmarshal(b, &lists); err != nil {
			out.problem = "answers: " + err.Error()
			return out
		}
		var texts []jsonText
		var starts []jsonInt
		if lists.Text == nil || string(lists.Text) == "null" {
			out.problem = "answers: missing text"
			return out
		}
		if lists.Start == nil || string(lists.Start) == "null" {
			out.problem = "answers: missing answer_start"
			return out
		}
		if err := json.Unmarshal(lists.Text, &texts); err != nil {
			out.problem = "answers.text: expected an array, got " + jsonKind(lists.Text)
			return out
		}
		if err := json.Unmarshal(lists.Start, &starts); err != nil {
			out.problem = "answers.answer_start: expected an array, got " + jsonKind(lists.Start)
			return out
		}
		if len(texts) != len(starts) {
			out.problem = fmt.Sprintf("answers: %d texts but %d answer_start values", len(texts), len(starts))
			return out
		}
		out.list = make([]rawAnswer, 0, len(texts))
		for i := range texts {
			if !starts[i].present && starts[i].typ == "" {
				out.problem = fmt.Sprintf("answer %d: answer_start is null", i)
				return out
			}
			ra, msg := toRaw(texts[i], starts[i], i)
			if msg != "" {
				out.problem = msg
				return out
			}
			out.list = append(out.list, ra)
		}
	default:
		out.problem = "answers: expected an array or an object, got " + jsonKind(b)
	}
	return out
}

// decodeFlat decodes one flat record ({"id":..., "context":..., "answers": {...}}).
func decodeFlat(b []byte, cols Columns, index int) *rawExample {
	r := &rawExample{index: index}
	var m map[string]json.RawMessage
	if jsonKind(b) != "an object" {
		r.fail("expected a JSON object, got %s", jsonKind(b))
		return r
	}
	if err := json.Unmarshal(b, &m); err != nil {
		r.fail("%v", err)
		return r
	}
	get := func(name string) field {
		v, ok := m[name]
		if !ok {
			return field{}
		}
		return decodeText(v)
	}
	r.id, r.title, r.context, r.question = get(cols.ID), get(cols.Title), get(cols.Context), get(cols.Question)
	if v, ok := m[cols.Answers]; ok {
		ans := decodeAnswers(v)
		r.hasAnswers, r.answers = ans.present, ans.list
		if ans.problem != "" {
			r.fail("%s", ans.problem)
		}
	}
	return r
}
