package tokenize

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testTokenizers caches loaded fixture tokenizers across tests (loading takes ~0.1 s).
var testTokenizers sync.Map // model -> *Tokenizer

func fixtureTokenizer(t testing.TB, model string) *Tokenizer {
	t.Helper()
	if tok, ok := testTokenizers.Load(model); ok {
		return tok.(*Tokenizer)
	}
	tok, err := Load(fixtures.Tokenizers(t, model))
	require.NoError(t, err)
	testTokenizers.Store(model, tok)
	return tok
}

func tokensOf(t *testing.T, tok *Tokenizer, text string) []string {
	t.Helper()
	e, err := tok.Encode(text)
	require.NoError(t, err)
	return e.Tokens
}

// The cases below are the hard cases of EVAL-sugarme.md, with HF's answers.

func TestBERTHardCases(t *testing.T) {
	tok := fixtureTokenizer(t, "bert-base-uncased")
	cases := map[string][]string{
		"café":                   {"cafe"},
		"Où":                     {"ou"},
		"Tragödie":               {"tr", "##ago", "##die"},
		"ひらがな":                   {"ひ", "##ら", "##か", "##な"},
		"100\u00a0km":            {"100", "km"},
		"a\u2028b\u3000c\u1680d": {"a", "b", "c", "d"},
		"In BERT, [CLS] starts":  {"in", "bert", ",", "[CLS]", "starts"},
		"[cls]":                  {"[", "cl", "##s", "]"}, // added tokens are case-sensitive
		"Ⱥ":                      {"[UNK]"},
		"İ":                      {"i"},
		"中文":                     {"中", "文"},
		strings.Repeat("a", 101): {"[UNK]"},
	}
	for text, want := range cases {
		assert.Equal(t, want, tokensOf(t, tok, text), "%q", text)
	}
	e, err := tok.Encode("Straße café")
	require.NoError(t, err)
	assert.Equal(t, [2]int{7, 11}, e.Offsets[len(e.Offsets)-1], "accent-stripped word covers the original characters")
	assert.Equal(t, [2]int{8, 13}, e.ByteOffsets[len(e.ByteOffsets)-1])
}

func TestRoBERTaHardCases(t *testing.T) {
	tok := fixtureTokenizer(t, "roberta-base")
	cases := map[string][]string{
		"a\n\nb":                     {"a", "Ċ", "Ċ", "b"},
		"x \u00a0y":                  {"x", "Ġ", "Âł", "y"},
		"Wow!!!!!":                   {"Wow", "!!!!!"},
		"LVIII":                      {"LV", "III"},
		"The cat sat on the <mask>.": {"The", "Ġcat", "Ġsat", "Ġon", "Ġthe", " <mask>", "."},
		"<s> in question":            {"<s>", "Ġin", "Ġquestion"},
		"it's they're we've I'm":     {"it", "'s", "Ġthey", "'re", "Ġwe", "'ve", "ĠI", "'m"},
		"":                           nil,
		"   ":                        {"Ġ", "Ġ", "Ġ"}, // GPT-2 has no "Ġ Ġ" merge
	}
	for text, want := range cases {
		got := tokensOf(t, tok, text)
		if len(want) == 0 {
			assert.Empty(t, got, "%q", text)
			continue
		}
		assert.Equal(t, want, got, "%q", text)
	}
	// trim_offsets: "Ġworld" starts at "w"; <mask>'s lstrip space is trimmed from its span.
	e, err := tok.Encode("hello world <mask>")
	require.NoError(t, err)
	assert.Equal(t, [][2]int{{0, 5}, {6, 11}, {12, 18}}, e.Offsets)
	assert.Equal(t, int64(50264), e.IDs[2])
}

func TestAccessors(t *testing.T) {
	bert := fixtureTokenizer(t, "bert-base-uncased")
	assert.Equal(t, WordPiece, bert.Kind())
	assert.Equal(t, int64(101), bert.CLSID())
	assert.Equal(t, int64(102), bert.SEPID())
	assert.Equal(t, int64(0), bert.PadID())
	assert.True(t, bert.ReturnsTypeIDs())
	assert.Equal(t, "right", bert.PaddingSide())
	assert.Equal(t, 0, bert.ModelMaxLength())
	id, ok := bert.TokenID("the")
	assert.True(t, ok)
	assert.Equal(t, int64(1996), id)
	assert.Equal(t, 30522, bert.VocabSize())

	rob := fixtureTokenizer(t, "roberta-base")
	assert.Equal(t, BPE, rob.Kind())
	assert.Equal(t, "BPE", rob.Kind().String())
	assert.Equal(t, int64(0), rob.CLSID())
	assert.Equal(t, int64(2), rob.SEPID())
	assert.Equal(t, int64(1), rob.PadID())
	assert.False(t, rob.ReturnsTypeIDs())
	id, ok = rob.TokenID("<mask>")
	assert.True(t, ok)
	assert.Equal(t, int64(50264), id)
	assert.Len(t, rob.AddedTokens(), 5)
	assert.Equal(t, 50265, rob.VocabSize())

	encs, err := rob.EncodePair("q", "c", qaOptions)
	require.NoError(t, err)
	assert.Nil(t, encs[0].TypeIDs)
}

// TestTokenizerConfig checks that tokenizer_config.json overrides the defaults, as
// transformers' fast tokenizers apply it.
func TestTokenizerConfig(t *testing.T) {
	dir := legacyDir(t, "bert-base-uncased", "vocab.txt")
	cfg := `{"do_lower_case": false, "padding_side": "left", "model_max_length": 512}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(cfg), 0o644))
	tok, err := Load(dir)
	require.NoError(t, err)
	assert.Equal(t, "left", tok.PaddingSide())
	assert.Equal(t, 512, tok.ModelMaxLength())
	// Cased: "Paris" is not in the uncased vocabulary, and accents are kept.
	assert.Equal(t, []string{"[UNK]", "is"}, tokensOf(t, tok, "Paris is"))

	huge := `{"model_max_length": 1000000000000000019884624838656}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(huge), 0o644))
	tok, err = Load(dir)
	require.NoError(t, err)
	assert.Equal(t, 0, tok.ModelMaxLength(), "transformers' 'no limit' placeholder means unknown")
}

func TestLoadErrors(t *testing.T) {
	_, err := Load(t.TempDir())
	assert.Error(t, err)
	_, err = LoadFile(filepath.Join(t.TempDir(), "tokenizer.json"))
	assert.Error(t, err)
	bad := filepath.Join(t.TempDir(), "tokenizer.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"model": {"type": "WordLevel", "vocab": {}}}`), 0o644))
	_, err = LoadFile(bad)
	assert.ErrorContains(t, err, "WordLevel")
}

func TestLoadFile(t *testing.T) {
	tok, err := LoadFile(filepath.Join(fixtures.Tokenizers(t, "bert-base-uncased"), "tokenizer.json"))
	require.NoError(t, err)
	assert.Equal(t, []string{"hello", "world"}, tokensOf(t, tok, "Hello world"))
}

// TestQuestionTooLong: HF errors when the question leaves no room for the context and panics
// when the room is not larger than the stride; both are ErrQuestionTooLong here.
func TestQuestionTooLong(t *testing.T) {
	for _, model := range []string{"bert-base-uncased", "roberta-base"} {
		tok := fixtureTokenizer(t, model)
		_, err := tok.EncodePair(strings.Repeat("word ", 500), "some context here", qaOptions)
		assert.ErrorIs(t, err, ErrQuestionTooLong, model)
		_, err = tok.EncodePair(strings.Repeat("word ", 300), strings.Repeat("context ", 400), qaOptions)
		assert.ErrorIs(t, err, ErrQuestionTooLong, model)
		assert.ErrorContains(t, err, "stride", model)
		// Without truncation everything fits in one window.
		encs, err := tok.EncodePair(strings.Repeat("word ", 300), strings.Repeat("context ", 400), PairOptions{})
		require.NoError(t, err, model)
		assert.Len(t, encs, 1)
	}
}

func TestInvalidUTF8(t *testing.T) {
	tok := fixtureTokenizer(t, "roberta-base")
	_, err := tok.Encode("a\xffb")
	assert.ErrorIs(t, err, ErrInvalidUTF8)
	_, err = tok.EncodePair("q", "a\xffb", qaOptions)
	assert.ErrorIs(t, err, ErrInvalidUTF8)
}

// TestWindowLayout checks the stride arithmetic on a long context: every window is full except
// the last, consecutive windows share exactly Stride context tokens, and the chunks put
// together give the context's own encoding.
func TestWindowLayout(t *testing.T) {
	for _, model := range []string{"bert-base-uncased", "roberta-base"} {
		tok := fixtureTokenizer(t, model)
		q, c := "Who?", strings.Repeat("The quick brown fox jumps over the lazy dog. ", 80)
		whole, err := tok.Encode(c)
		require.NoError(t, err)
		opt := PairOptions{MaxLength: 64, Stride: 16}
		encs, err := tok.EncodePair(q, c, opt)
		require.NoError(t, err)
		var rebuilt []int64
		for k, e := range encs {
			var ctx []int64
			for i, s := range e.SequenceIDs {
				if s == 1 {
					ctx = append(ctx, e.IDs[i])
				}
			}
			if k < len(encs)-1 {
				assert.Len(t, e.IDs, 64, "%s window %d", model, k)
			}
			if k > 0 {
				ctx = ctx[opt.Stride:]
			}
			rebuilt = append(rebuilt, ctx...)
		}
		assert.Equal(t, whole.IDs, rebuilt, model)
	}
}

// TestTruncateFirst: with only_first the first sequence is cut into windows and the second is
// repeated whole, with the same window size.
func TestTruncateFirst(t *testing.T) {
	tok := fixtureTokenizer(t, "bert-base-uncased")
	c, q := strings.Repeat("context words go here. ", 60), "What goes here?"
	opt := PairOptions{MaxLength: 64, Stride: 16, TruncateFirst: true}
	encs, err := tok.EncodePair(c, q, opt)
	require.NoError(t, err)
	require.Greater(t, len(encs), 2)
	qe, err := tok.Encode(q)
	require.NoError(t, err)
	for k, e := range encs {
		var second []int64
		for i, s := range e.SequenceIDs {
			if s == 1 {
				second = append(second, e.IDs[i])
			}
		}
		assert.Equal(t, qe.IDs, second, "window %d", k)
		if k < len(encs)-1 {
			assert.Len(t, e.IDs, 64)
		}
	}
}

// TestEncodePairs: the batch API gives the sequential results, with SampleIndex set, and
// reports the failing pair.
func TestEncodePairs(t *testing.T) {
	tok := fixtureTokenizer(t, "roberta-base")
	var pairs []Pair
	for _, p := range loadPairs(t)[:60] {
		pairs = append(pairs, Pair{p.Question, p.Context})
	}
	got, err := tok.EncodePairs(pairs, qaOptions)
	require.NoError(t, err)
	var want []Encoding
	for i, p := range pairs {
		encs, err := tok.EncodePair(p.Question, p.Context, qaOptions)
		require.NoError(t, err)
		for k := range encs {
			encs[k].SampleIndex = i
		}
		want = append(want, encs...)
	}
	assert.Equal(t, want, got)

	pairs = append(pairs, Pair{strings.Repeat("long ", 500), "ctx"})
	_, err = tok.EncodePairs(pairs, qaOptions)
	var pe *PairError
	require.True(t, errors.As(err, &pe))
	assert.Equal(t, len(pairs)-1, pe.Index)
	assert.ErrorIs(t, err, ErrQuestionTooLong)
}

func TestAddedTokenFlags(t *testing.T) {
	m := newAddedMatcher([]AddedToken{
		{ID: 1, Content: "<x>", LStrip: true},
		{ID: 2, Content: "<xy>", RStrip: true},
		{ID: 3, Content: "cat", SingleWord: true},
	})
	assert.Equal(t, []addedMatch{{1, 7, 1}}, m.find("a   <x>b"))
	assert.Equal(t, []addedMatch{{1, 7, 2}}, m.find("a<xy>  b"), "longest match wins, rstrip takes spaces")
	assert.Equal(t, []addedMatch{{0, 3, 3}}, m.find("cat concat cats"))
	assert.Empty(t, m.find(""))
}

func TestWordCacheBounded(t *testing.T) {
	c := newWordCache[int](cacheShards * 2)
	for i := range 10000 {
		c.put([]byte(strings.Repeat("k", i%300)+string(rune('a'+i%26))), i)
	}
	n := 0
	for i := range c.shards {
		n += len(c.shards[i].m)
	}
	assert.LessOrEqual(t, n, cacheShards*2)
	c.put([]byte("word"), 7)
	v, ok := c.get([]byte("word"))
	assert.True(t, ok)
	assert.Equal(t, 7, v)
	v, ok = c.getString("word")
	assert.True(t, ok)
	assert.Equal(t, 7, v)
}

// TestNormalizedAddedToken: an added token flagged normalized=true is matched in the normalised
// text by its normalised content, so an uncased BERT matches "HeLLo" against a "Hello" token.
func TestNormalizedAddedToken(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(fixtures.Tokenizers(t, "bert-base-uncased"), "tokenizer.json"))
	require.NoError(t, err)
	var file map[string]any
	require.NoError(t, json.Unmarshal(data, &file))
	file["added_tokens"] = append(file["added_tokens"].([]any), map[string]any{"id": 30522, "content": "Hello", "normalized": true})
	patched, err := json.Marshal(file)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "tokenizer.json")
	require.NoError(t, os.WriteFile(path, patched, 0o644))
	tok, err := LoadFile(path)
	require.NoError(t, err)
	e, err := tok.Encode("Say HeLLo, world")
	require.NoError(t, err)
	assert.Equal(t, []string{"say", "hello", ",", "world"}, e.Tokens)
	assert.Equal(t, int64(30522), e.IDs[1])
	assert.Equal(t, [2]int{4, 9}, e.Offsets[1])
}
