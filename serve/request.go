package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Limits bound what one HTTP request may ask for.
type Limits struct {
	// MaxBodyBytes bounds the request body (default 1 MiB).
	MaxBodyBytes int64
	// MaxPairs bounds the pairs in one request (default 64).
	MaxPairs int
	// MaxContextBytes bounds each context (default 100,000 bytes, about 25k tokens of English).
	MaxContextBytes int
	// MaxQuestionBytes bounds each question (default 4096 bytes).
	MaxQuestionBytes int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = 1 << 20
	}
	if l.MaxPairs <= 0 {
		l.MaxPairs = 64
	}
	if l.MaxContextBytes <= 0 {
		l.MaxContextBytes = 100_000
	}
	if l.MaxQuestionBytes <= 0 {
		l.MaxQuestionBytes = 4096
	}
	return l
}

// pairJSON is one pair of a request (and one line of `spanqa predict --input`).
type pairJSON struct {
	// ID is echoed back unchanged (any JSON value); it is optional.
	ID       json.RawMessage `json:"id,omitempty"`
	Question *string         `json:"question"`
	Context  *string         `json:"context"`
}

// optionsJSON are AnswerOptions as a request spells them.
type optionsJSON struct {
	TopK            int     `json:"top_k"`
	AllowNull       bool    `json:"allow_null"`
	NullThreshold   float64 `json:"null_threshold"`
	MaxAnswerLength int     `json:"max_answer_length"`
}

func (o optionsJSON) options() AnswerOptions {
	return AnswerOptions{TopK: o.TopK, AllowNull: o.AllowNull, NullThreshold: o.NullThreshold, MaxAnswerLength: o.MaxAnswerLength}
}

// answerRequest is the body of POST /v1/answer: one pair ({"question", "context"}) or a list
// ({"pairs": [...]}), with options; a bare JSON array of pairs is a list too.
type answerRequest struct {
	pairJSON
	Pairs []pairJSON `json:"pairs"`
	optionsJSON
}

// parsedRequest is a checked request.
type parsedRequest struct {
	pairs []Pair
	ids   []json.RawMessage
	list  bool
	opts  AnswerOptions
}

// parseRequest decodes and checks a request body. Every error wraps ErrInvalidInput or
// ErrTooLarge and says what is wrong in words a client can act on.
func parseRequest(body []byte, lim Limits) (*parsedRequest, error) {
	if !utf8.Valid(body) {
		return nil, inputError("the request body is not valid UTF-8")
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, inputError(`the request body is empty; send {"question": "...", "context": "..."}`)
	}
	var req answerRequest
	var items []pairJSON
	list := trimmed[0] == '['
	if list {
		if err := decodeStrict(trimmed, &items); err != nil {
			return nil, err
		}
	} else {
		if err := decodeStrict(trimmed, &req); err != nil {
			return nil, err
		}
		single := req.Question != nil || req.Context != nil || req.ID != nil
		switch {
		case req.Pairs != nil && single:
			return nil, inputError(`give either "question" and "context" or "pairs", not both`)
		case req.Pairs != nil:
			list, items = true, req.Pairs
		default:
			items = []pairJSON{req.pairJSON}
		}
	}
	if len(items) == 0 {
		return nil, inputError("no pairs to answer")
	}
	if len(items) > lim.MaxPairs {
		return nil, tooLarge("%d pairs in one request; the limit is %d", len(items), lim.MaxPairs)
	}
	p := &parsedRequest{list: list, opts: req.options(), pairs: make([]Pair, len(items)), ids: make([]json.RawMessage, len(items))}
	for i, it := range items {
		pair, err := it.check(lim)
		if err != nil {
			if list {
				return nil, fmt.Errorf("pairs[%d]: %w", i, err)
			}
			return nil, err
		}
		p.pairs[i], p.ids[i] = pair, it.ID
	}
	if _, err := p.opts.check(); err != nil {
		return nil, err
	}
	return p, nil
}

// check validates one pair against the limits.
func (it pairJSON) check(lim Limits) (Pair, error) {
	switch {
	case it.Question == nil:
		return Pair{}, inputError(`missing field "question"`)
	case it.Context == nil:
		return Pair{}, inputError(`missing field "context"`)
	case len(*it.Question) > lim.MaxQuestionBytes:
		return Pair{}, tooLarge("the question is %d bytes; the limit is %d", len(*it.Question), lim.MaxQuestionBytes)
	case len(*it.Context) > lim.MaxContextBytes:
		return Pair{}, tooLarge("the context is %d bytes; the limit is %d", len(*it.Context), lim.MaxContextBytes)
	}
	p := Pair{Question: *it.Question, Context: *it.Context}
	return p, CheckPair(p)
}

// decodeStrict decodes exactly one JSON value into v, rejecting unknown fields (a misspelt
// option would otherwise be ignored silently) and trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return inputError("%s", describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return inputError("unexpected data after the JSON value")
	}
	return nil
}

// describeJSONError turns encoding/json's errors into messages for API clients.
func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		if typ.Field != "" {
			// Fields of embedded structs come as "pairJSON.question": name the JSON field only.
			field := strings.TrimPrefix(strings.TrimPrefix(typ.Field, "pairJSON."), "optionsJSON.")
			return fmt.Sprintf("field %q must be %s, not JSON %s", field, jsonKind(typ.Type.Kind().String()), typ.Value)
		}
		return fmt.Sprintf("the request must be a JSON object or array, not JSON %s", typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "invalid JSON: unexpected end of the request body"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")
}

// jsonKind names a Go kind as a JSON type.
func jsonKind(k string) string {
	switch k {
	case "string", "ptr":
		return "a string"
	case "int", "int64":
		return "an integer"
	case "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "slice":
		return "an array"
	}
	return "a " + k
}
