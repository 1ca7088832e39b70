package features

import (
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/spanqa/spanqa/data/squad"
	"github.com/spanqa/spanqa/data/tokenize"
)

// FuzzWindows: any (question, context, answer, max_length, stride) gives windows within
// max_length whose training positions are in range and equal HF's rule, or a too-long-question
// error; never a panic.
func FuzzWindows(f *testing.F) {
	f.Add("What is it?", "Paris is the capital of France.", uint16(0), uint16(5), uint8(20), uint8(4))
	f.Add("  q", "Zoë Ødegård served 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 coffee 🍵 to Ἀριστοτέλης.", uint16(19), uint16(7), uint8(0), uint8(3))
	f.Add("[CLS] [SEP]", "東京は日本の首都です。 [SEP] 人口は約1400万人。", uint16(14), uint16(7), uint8(9), uint8(200))
	f.Add("", "   ", uint16(1), uint16(1), uint8(1), uint8(1))
	f.Fuzz(func(t *testing.T, q, c string, start, length uint16, maxLen, stride uint8) {
		if !utf8.ValidString(q) || !utf8.ValidString(c) {
			return // the readers reject invalid UTF-8
		}
		for _, dir := range []string{"bert-base-uncased", "roberta-base"} {
			tok := loadTok(t, dir)
			ex := squad.Example{ID: "f", Question: q, Context: c}
			if n := runeLen(c); n > 0 && length > 0 {
				s := int(start) % n
				ex.Answers = []squad.Answer{runeAnswer(c, s, 1+int(length)%(n-s))}
			}
			opts := Options{MaxLength: 8 + int(maxLen)%120}
			opts.Stride = int(stride) % opts.MaxLength
			for _, mode := range []Mode{ModeTrain, ModeEval} {
				ws, err := build([]squad.Example{ex}, tok, mode, opts)
				if errors.Is(err, tokenize.ErrQuestionTooLong) {
					continue
				}
				if err != nil {
					t.Fatalf("%s %v: %v", dir, mode, err)
				}
				if len(ws) == 0 {
					t.Fatal("no window")
				}
				for _, w := range ws {
					n := len(w.IDs)
					if n > opts.MaxLength || len(w.Mask) != n || len(w.Offsets) != n || len(w.SequenceIDs) != n || (w.TypeIDs != nil && len(w.TypeIDs) != n) {
						t.Fatalf("window of %d tokens (max %d), mask %d, offsets %d", n, opts.MaxLength, len(w.Mask), len(w.Offsets))
					}
					if w.ExampleID != "f" || w.ExampleIndex != 0 {
						t.Fatal("wrong example")
					}
					if mode == ModeEval {
						continue
					}
					if w.StartPos < 0 || w.StartPos >= n || w.EndPos < 0 || w.EndPos >= n {
						t.Fatalf("positions %d..%d outside %d tokens", w.StartPos, w.EndPos, n)
					}
					starts, texts := answerLists(&ex)
					hs, he, ok := hfLabels(w.IDs, seqPtrs(w.SequenceIDs), w.Offsets, tok.CLSID(), tok.CLSID(), starts, texts, true)
					if !ok {
						hs, he = 0, 0
					}
					if hs != w.StartPos || he != w.EndPos {
						t.Fatalf("positions %d,%d; HF %d,%d", w.StartPos, w.EndPos, hs, he)
					}
				}
			}
		}
	})
}
