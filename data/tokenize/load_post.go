package tokenize

import (
	"encoding/json"
	"fmt"
)

// parsePostProcessor reads the post_processor and reports whether token type ids are returned.
func parsePostProcessor(raw json.RawMessage, cfg *tokenizerConfig) (postProcessor, bool, error) {
	if isNull(raw) {
		return postProcessor{}, true, nil
	}
	var p struct {
		Type           string                     `json:"type"`
		Single         []json.RawMessage          `json:"single"`
		Pair           []json.RawMessage          `json:"pair"`
		SpecialTokens  map[string]templateSpecial `json:"special_tokens"`
		Sep            []json.RawMessage          `json:"sep"`
		Cls            []json.RawMessage          `json:"cls"`
		TrimOffsets    *bool                      `json:"trim_offsets"`
		AddPrefixSpace *bool                      `json:"add_prefix_space"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return postProcessor{}, false, fmt.Errorf("parsing post_processor: %w", err)
	}
	flag := func(p *bool, cfgVal *bool, def bool) bool {
		if cfgVal != nil {
			return *cfgVal
		}
		if p != nil {
			return *p
		}
		return def
	}
	switch p.Type {
	case "TemplateProcessing":
		single, err := parseTemplate(p.Single, p.SpecialTokens)
		if err != nil {
			return postProcessor{}, false, fmt.Errorf("post_processor single template: %w", err)
		}
		pair, err := parseTemplate(p.Pair, p.SpecialTokens)
		if err != nil {
			return postProcessor{}, false, fmt.Errorf("post_processor pair template: %w", err)
		}
		return postProcessor{single: single, pair: pair}, true, nil
	case "BertProcessing", "RobertaProcessing":
		cls, clsID, err := tokenAndID(p.Cls)
		if err != nil {
			return postProcessor{}, false, fmt.Errorf("post_processor cls: %w", err)
		}
		sep, sepID, err := tokenAndID(p.Sep)
		if err != nil {
			return postProcessor{}, false, fmt.Errorf("post_processor sep: %w", err)
		}
		if p.Type == "BertProcessing" {
			return bertTemplates(cls, sep, clsID, sepID), true, nil
		}
		return robertaTemplates(cls, sep, clsID, sepID, flag(p.TrimOffsets, cfg.TrimOffsets, true),
			flag(p.AddPrefixSpace, cfg.AddPrefixSpace, true)), false, nil
	case "ByteLevel":
		return postProcessor{single: []templateItem{{seq: 0}}, pair: []templateItem{{seq: 0}, {seq: 1}},
			trimOffsets: flag(p.TrimOffsets, cfg.TrimOffsets, true), addPrefixSpace: flag(p.AddPrefixSpace, cfg.AddPrefixSpace, true)}, false, nil
	}
	return postProcessor{}, false, fmt.Errorf("post_processor %q is not supported", p.Type)
}

// templateSpecial is an entry of TemplateProcessing's special_tokens.
type templateSpecial struct {
	ID     string   `json:"id"`
	IDs    []int64  `json:"ids"`
	Tokens []string `json:"tokens"`
}

func parseTemplate(items []json.RawMessage, specials map[string]templateSpecial) ([]templateItem, error) {
	var out []templateItem
	for _, raw := range items {
		var it struct {
			Sequence *struct {
				ID     string `json:"id"`
				TypeID int64  `json:"type_id"`
			} `json:"Sequence"`
			SpecialToken *struct {
				ID     string `json:"id"`
				TypeID int64  `json:"type_id"`
			} `json:"SpecialToken"`
		}
		if err := json.Unmarshal(raw, &it); err != nil {
			return nil, err
		}
		switch {
		case it.Sequence != nil:
			seq := 0
			if it.Sequence.ID == "B" {
				seq = 1
			}
			out = append(out, templateItem{seq: seq, typeID: it.Sequence.TypeID})
		case it.SpecialToken != nil:
			sp, ok := specials[it.SpecialToken.ID]
			if !ok || len(sp.IDs) != len(sp.Tokens) {
				return nil, fmt.Errorf("special token %q is missing from special_tokens", it.SpecialToken.ID)
			}
			out = append(out, templateItem{seq: -1, typeID: it.SpecialToken.TypeID, ids: sp.IDs, tokens: sp.Tokens})
		default:
			return nil, fmt.Errorf("template item %s is neither Sequence nor SpecialToken", raw)
		}
	}
	return out, nil
}

// tokenAndID reads BertProcessing/RobertaProcessing's ["[CLS]", 101] form.
func tokenAndID(raw []json.RawMessage) (string, int64, error) {
	if len(raw) != 2 {
		return "", 0, fmt.Errorf("want [token, id], got %d items", len(raw))
	}
	var tok string
	var id int64
	if err := json.Unmarshal(raw[0], &tok); err != nil {
		return "", 0, err
	}
	if err := json.Unmarshal(raw[1], &id); err != nil {
		return "", 0, err
	}
	return tok, id, nil
}
