package features

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/spanqa/spanqa/data/squad"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func identity(s string) string { return s }

// pairExamples turns pairs.jsonl into examples (no answers).
func pairExamples(pairs []pairJSON) []squad.Example {
	exs := make([]squad.Example, len(pairs))
	for i, p := range pairs {
		exs[i] = squad.Example{ID: p.ID, Question: p.Question, Context: p.Context}
	}
	return exs
}

// Every window of every hard-case pair equals HF's golden: ids, token types, mask, sequence ids,
// character and byte offsets (nulled outside the context in eval mode), overflow mapping.
func TestGoldenWindows(t *testing.T) {
	pairs := loadPairs(t)
	for _, tc := range tokCases {
		for _, mode := range []Mode{ModeTrain, ModeEval} {
			t.Run(tc.name+"/"+mode.String(), func(t *testing.T) {
				tok := loadTok(t, tc.dir)
				gold := loadGolden(t, tc.dir)
				b, err := NewBuilder(tok, mode, Options{MaxLength: 384, Stride: 128, ModelLimit: tc.limit, SkipTooLong: true})
				require.NoError(t, err)
				b.question = identity // the goldens tokenise the questions as stored
				ws, err := b.All(pairExamples(pairs))
				require.NoError(t, err)
				assert.Equal(t, []string{"p304"}, b.Skipped(), "p304's question leaves no room (HF panics)")

				var gws []goldenWindow
				for _, g := range gold {
					gws = append(gws, g.Windows...)
				}
				require.Len(t, ws, len(gws))
				for i, g := range gws {
					w := ws[i]
					where := fmt.Sprintf("window %d (%s)", i, pairs[g.Overflow].ID)
					require.Equal(t, g.Overflow, w.ExampleIndex, where)
					require.Equal(t, pairs[g.Overflow].ID, w.ExampleID, where)
					require.Equal(t, g.InputIDs, w.IDs, where)
					require.Equal(t, g.TokenTypeIDs, w.TypeIDs, where)
					require.Equal(t, g.AttentionMask, w.Mask, where)
					wantOff, wantByte := g.Offsets, g.ByteOffsets
					if mode == ModeEval {
						wantOff, wantByte = nullOutside(g.Offsets, g.SequenceIDs), nullOutside(g.ByteOffsets, g.SequenceIDs)
					}
					require.Equal(t, wantOff, w.Offsets, where)
					require.Equal(t, wantByte, w.ByteOffsets, where)
					require.Equal(t, len(g.SequenceIDs), len(w.SequenceIDs), where)
					for k, s := range g.SequenceIDs {
						want := -1
						if s != nil {
							want = *s
						}
						if w.SequenceIDs[k] != want {
							require.Equal(t, want, w.SequenceIDs[k], "%s token %d", where, k)
						}
					}
				}
			})
		}
	}
}

func nullOutside(offs [][2]int, seq []*int) [][2]int {
	out := make([][2]int, len(offs))
	for i, o := range offs {
		out[i] = o
		if seq[i] == nil || *seq[i] != 1 {
			out[i] = NoOffset
		}
	}
	return out
}

// synthAnswers makes answers over a context: its first and last rune spans, the whole context,
// and random spans, all non-empty.
func synthAnswers(r *rand.Rand, context string) []squad.Answer {
	n := runeLen(context)
	if n == 0 {
		return nil
	}
	out := []squad.Answer{runeAnswer(context, 0, min(n, 3)), runeAnswer(context, max(n-4, 0), min(n, 4)),
		runeAnswer(context, n-1, 1), runeAnswer(context, 0, n)}
	if i := strings.LastIndexByte(context, ' '); i > 0 && i+1 < len(context) { // the last word
		s := runeLen(context[:i+1])
		out = append(out, runeAnswer(context, s, n-s))
	}
	random := 10
	if n > 2000 { // long contexts: fewer, to keep the test quick
		random = 3
	}
	for range random {
		s := r.IntN(n)
		out = append(out, runeAnswer(context, s, 1+r.IntN(min(40, n-s))))
	}
	return out
}

// Training positions on the golden windows, recomputed with a literal transcription of
// run_qa.py's loop, equal spanqa's for every window of every synthesized answer.
func TestGoldenTrainPositions(t *testing.T) {
	pairs := loadPairs(t)
	for _, tc := range tokCases[:3] { // longformer's windows at 384 are roberta's
		t.Run(tc.name, func(t *testing.T) {
			tok := loadTok(t, tc.dir)
			gold := loadGolden(t, tc.dir)
			r := rand.New(rand.NewPCG(1, 2))
			var exs []squad.Example
			var from []int // pair of each example
			for i, p := range pairs {
				if gold[i].Error != "" {
					continue
				}
				exs = append(exs, squad.Example{ID: p.ID + "-none", Question: p.Question, Context: p.Context})
				from = append(from, i)
				for k, a := range synthAnswers(r, p.Context) {
					exs = append(exs, squad.Example{ID: fmt.Sprintf("%s-a%d", p.ID, k), Question: p.Question, Context: p.Context, Answers: []squad.Answer{a}})
					from = append(from, i)
				}
			}
			b, err := NewBuilder(tok, ModeTrain, DefaultOptions)
			require.NoError(t, err)
			b.question = identity
			ws, err := b.All(exs)
			require.NoError(t, err)
			cls, quirks, k := 0, 0, 0
			for i, w := range ws {
				if i > 0 && ws[i-1].ExampleIndex != w.ExampleIndex {
					k = 0
				}
				ex := &exs[w.ExampleIndex]
				g := gold[from[w.ExampleIndex]].Windows[k]
				k++
				starts, texts := answerLists(ex)
				hs, he, ok := hfLabels(g.InputIDs, g.SequenceIDs, g.Offsets, tok.CLSID(), tok.CLSID(), starts, texts, true)
				if !ok { // HF raises: the window has no context token
					assert.Equal(t, [2]int{0, 0}, [2]int{w.StartPos, w.EndPos}, ex.ID)
					continue
				}
				require.Equal(t, [2]int{hs, he}, [2]int{w.StartPos, w.EndPos}, "%s window %d", ex.ID, k-1)
				if hs == 0 {
					cls++
				} else if g.SequenceIDs[hs] == nil {
					quirks++
				}
			}
			t.Logf("%d examples, %d windows, %d labelled CLS, %d with HF's start-after-the-context edge case", len(exs), len(ws), cls, quirks)
		})
	}
}

// p304's question leaves no room for the context: an error naming the example (HF panics), or a
// skipped example with SkipTooLong.
func TestQuestionTooLong(t *testing.T) {
	pairs := loadPairs(t)
	tok := loadTok(t, "bert-base-uncased")
	exs := pairExamples(pairs[300:])
	_, err := Eval(exs, tok, DefaultOptions)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "features: example p304: tokenize: question too long")
	ws, err := Eval(exs, tok, Options{MaxLength: 384, Stride: 128, SkipTooLong: true})
	require.NoError(t, err)
	for _, w := range ws {
		assert.NotEqual(t, "p304", w.ExampleID)
	}
}

// run_qa.py left-strips questions (Python's whitespace, which includes U+001C..U+001F).
func TestQuestionLeftStripped(t *testing.T) {
	tok := loadTok(t, "roberta-base")
	ctx := "Paris is the capital of France."
	want, err := Eval([]squad.Example{{ID: "a", Question: "Where is it? ", Context: ctx}}, tok, DefaultOptions)
	require.NoError(t, err)
	for _, q := range []string{"  Where is it? ", "\t\n\u00a0\u3000\u2003\x1c\x1fWhere is it? ", "\u0085Where is it? "} {
		got, err := Eval([]squad.Example{{ID: "a", Question: q, Context: ctx}}, tok, DefaultOptions)
		require.NoError(t, err)
		assert.Equal(t, want[0].IDs, got[0].IDs, "%q", q)
	}
	assert.Equal(t, "x ", lstrip("\u200bx ")[len("\u200b"):], "U+200B is not whitespace for Python")
	assert.Equal(t, "\u200bx", lstrip("\u200bx"))
}

// All of SQuAD v1.1 dev, per tokenizer: training positions equal the literal HF rule for every
// window, evaluation windows equal training windows with offsets nulled outside the context,
// and consecutive windows of an example share exactly doc_stride context tokens.
func TestDevParity(t *testing.T) {
	dev := devV11(t)
	if testing.Short() {
		dev = dev[:1000]
	}
	for _, tc := range tokCases[:3] {
		t.Run(tc.name, func(t *testing.T) {
			tok := loadTok(t, tc.dir)
			train, err := Train(dev, tok, DefaultOptions)
			require.NoError(t, err)
			eval, err := Eval(dev, tok, DefaultOptions)
			require.NoError(t, err)
			require.Equal(t, len(train), len(eval))
			cls, quirks := 0, 0
			next := 0
			for i := range train {
				w, e := &train[i], &eval[i]
				require.LessOrEqual(t, len(w.IDs), 384)
				require.Equal(t, w.IDs, e.IDs)
				require.Equal(t, w.TypeIDs, e.TypeIDs)
				require.Equal(t, w.ExampleIndex, e.ExampleIndex)
				require.Equal(t, -1, e.StartPos)
				ex := &dev[w.ExampleIndex]
				require.Equal(t, ex.ID, w.ExampleID)
				// windows cover the examples in order
				if w.ExampleIndex != next-1 {
					require.Equal(t, next, w.ExampleIndex, "window %d", i)
					next++
				} else {
					prev := &train[i-1]
					pc, wc := contextOffsets(prev), contextOffsets(w)
					require.Equal(t, pc[len(pc)-128:], wc[:128], "%s: windows overlap by doc_stride", ex.ID)
				}
				for k, s := range w.SequenceIDs {
					want := NoOffset
					if s == 1 {
						want = w.Offsets[k]
					}
					if e.Offsets[k] != want {
						require.Equal(t, want, e.Offsets[k], "%s window %d token %d", ex.ID, i, k)
					}
				}
				starts, texts := answerLists(ex)
				hs, he, ok := hfLabels(w.IDs, seqPtrs(w.SequenceIDs), w.Offsets, tok.CLSID(), tok.CLSID(), starts, texts, true)
				require.True(t, ok, ex.ID)
				require.Equal(t, [2]int{hs, he}, [2]int{w.StartPos, w.EndPos}, "%s window %d", ex.ID, i)
				if hs == 0 {
					cls++
				} else if w.SequenceIDs[hs] != 1 {
					quirks++
				}
			}
			require.Equal(t, len(dev), next)
			t.Logf("%d examples -> %d windows; %d labelled CLS; %d with HF's start-after-the-context edge case", len(dev), len(train), cls, quirks)
		})
	}
}

func contextOffsets(w *Window) [][2]int {
	var out [][2]int
	for k, s := range w.SequenceIDs {
		if s == 1 {
			out = append(out, w.Offsets[k])
		}
	}
	return out
}

// Longformer: max_length is capped at the model's 4096, and long contexts make full 4096-token
// windows sharing doc_stride tokens, with positions by HF's rule.
func TestLongformer4096(t *testing.T) {
	tok := loadTok(t, "roberta-base")
	b, err := NewBuilder(tok, ModeTrain, Options{MaxLength: 5000, Stride: 128, ModelLimit: 4096})
	require.NoError(t, err)
	require.Equal(t, 4096, b.MaxLength())
	r := rand.New(rand.NewPCG(3, 4))
	var exs []squad.Example
	for _, p := range loadPairs(t) {
		if strings.HasPrefix(p.Category, "long_") && p.ID != "p304" {
			for k, a := range synthAnswers(r, p.Context)[:6] {
				exs = append(exs, squad.Example{ID: fmt.Sprintf("%s-%d", p.ID, k), Question: p.Question, Context: p.Context, Answers: []squad.Answer{a}})
			}
		}
	}
	ws, err := b.All(exs)
	require.NoError(t, err)
	full := 0
	for i, w := range ws {
		require.LessOrEqual(t, len(w.IDs), 4096)
		if len(w.IDs) == 4096 {
			full++
		}
		if i > 0 && ws[i-1].ExampleIndex == w.ExampleIndex {
			pc, wc := contextOffsets(&ws[i-1]), contextOffsets(&w)
			require.Equal(t, pc[len(pc)-128:], wc[:128])
		}
		ex := &exs[w.ExampleIndex]
		starts, texts := answerLists(ex)
		hs, he, ok := hfLabels(w.IDs, seqPtrs(w.SequenceIDs), w.Offsets, tok.CLSID(), tok.CLSID(), starts, texts, true)
		require.True(t, ok)
		require.Equal(t, [2]int{hs, he}, [2]int{w.StartPos, w.EndPos}, ex.ID)
	}
	assert.Positive(t, full, "some contexts need several 4096-token windows")
	t.Logf("%d examples -> %d windows, %d of 4096 tokens", len(exs), len(ws), full)
}
