package tokenize

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// debertaEncoders loads the DeBERTa-v3 encoder from tokenizer.json and from spm.model once.
var debertaEncoders = struct {
	once      sync.Once
	json, spm *unigramEncoder
	err       error
}{}

func loadDebertaEncoders(t testing.TB) (fromJSON, fromSPM *unigramEncoder) {
	t.Helper()
	dir := fixtures.Tokenizers(t, "deberta-v3-base")
	debertaEncoders.once.Do(func() {
		data, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
		if err != nil {
			debertaEncoders.err = err
			return
		}
		var tj struct {
			Model        json.RawMessage `json:"model"`
			Normalizer   json.RawMessage `json:"normalizer"`
			PreTokenizer json.RawMessage `json:"pre_tokenizer"`
		}
		if err := json.Unmarshal(data, &tj); err != nil {
			debertaEncoders.err = err
			return
		}
		j, err := newUnigramFromJSON(tj.Model, tj.Normalizer, tj.PreTokenizer)
		if err != nil {
			debertaEncoders.err = err
			return
		}
		s, err := newUnigramFromSPM(filepath.Join(dir, "spm.model"), defaultSPMOptions)
		if err != nil {
			debertaEncoders.err = err
			return
		}
		debertaEncoders.json, debertaEncoders.spm = j.(*unigramEncoder), s.(*unigramEncoder)
	})
	require.NoError(t, debertaEncoders.err)
	return debertaEncoders.json, debertaEncoders.spm
}

// debertaSpecials are DeBERTa-v3's added tokens as its tokenizer.json declares them: [UNK] is
// matched on normalised text, the others on the original text.
var debertaSpecials = map[string]int64{"[PAD]": 0, "[CLS]": 1, "[SEP]": 2, "[MASK]": 128000}

// findLiterals returns the leftmost-longest non-overlapping occurrences of the given tokens.
func findLiterals(s string, tokens map[string]int64) []addedMatch {
	var out []addedMatch
	for i := 0; i < len(s); {
		best := ""
		for tok := range tokens {
			if strings.HasPrefix(s[i:], tok) && len(tok) > len(best) {
				best = tok
			}
		}
		if best == "" {
			i++
			continue
		}
		out = append(out, addedMatch{start: i, end: i + len(best), id: tokens[best]})
		i += len(best)
	}
	return out
}

// encodeLikeHF runs one sequence through the encoder with HF's two-pass added-token handling,
// standing in for the pipeline: split on [PAD]/[CLS]/[SEP]/[MASK] in the original text, then
// let the encoder match [UNK] in each normalised segment.
func encodeLikeHF(t testing.TB, e *unigramEncoder, text string) []piece {
	t.Helper()
	matchUnk := func(n string) []addedMatch { return findLiterals(n, map[string]int64{"[UNK]": 3}) }
	var out []piece
	at := 0
	emit := func(a, b int) {
		if a >= b {
			return
		}
		ps, err := e.encodeSplitting(text[a:b], matchUnk)
		require.NoError(t, err)
		for _, p := range ps {
			p.Start += a
			p.End += a
			out = append(out, p)
		}
	}
	for _, m := range findLiterals(text, debertaSpecials) {
		emit(at, m.start)
		out = append(out, piece{ID: m.id, Text: text[m.start:m.end], Start: m.start, End: m.end})
		at = m.end
	}
	emit(at, len(text))
	return out
}

type goldenSeq struct {
	IDs         []int64  `json:"ids"`
	Tokens      []string `json:"tokens"`
	Offsets     [][2]int `json:"offsets"`
	ByteOffsets [][2]int `json:"byte_offsets"`
}

type goldenSingle struct {
	ID       string    `json:"id"`
	Question goldenSeq `json:"question"`
	Context  goldenSeq `json:"context"`
}

type qaPair struct {
	ID       string `json:"id"`
	Category string `json:"category"`
	Question string `json:"question"`
	Context  string `json:"context"`
}

// diffPieces describes the first difference between pieces and a golden sequence, or "".
func diffPieces(ps []piece, g goldenSeq) string {
	for i := 0; i < max(len(ps), len(g.IDs)); i++ {
		if i >= len(ps) {
			return fmt.Sprintf("token %d: missing, golden %q %d %v", i, g.Tokens[i], g.IDs[i], g.ByteOffsets[i])
		}
		if i >= len(g.IDs) {
			return fmt.Sprintf("token %d: extra %q %d [%d %d]", i, ps[i].Text, ps[i].ID, ps[i].Start, ps[i].End)
		}
		p := ps[i]
		if p.ID != g.IDs[i] || p.Text != g.Tokens[i] || p.Start != g.ByteOffsets[i][0] || p.End != g.ByteOffsets[i][1] {
			return fmt.Sprintf("token %d: got %q %d [%d %d], golden %q %d %v", i, p.Text, p.ID, p.Start, p.End,
				g.Tokens[i], g.IDs[i], g.ByteOffsets[i])
		}
	}
	return ""
}

// TestUnigramGoldenSingle checks every single-sequence golden of deberta-v3-base (ids, token
// strings and byte offsets) for the encoder built from tokenizer.json. (The one built from
// spm.model follows transformers 5.x, whose pipeline differs: TestParityDeBERTaSPM.)
func TestUnigramGoldenSingle(t *testing.T) {
	fromJSON, _ := loadDebertaEncoders(t)
	dir := fixtures.Tokenizers(t, "deberta-v3-base")
	pairs := fixtures.ReadJSONL[qaPair](t, filepath.Join(dir, "..", "pairs.jsonl"))
	golden := fixtures.ReadJSONL[goldenSingle](t, filepath.Join(dir, "golden_single.jsonl"))
	require.Len(t, golden, len(pairs))
	for name, enc := range map[string]*unigramEncoder{"tokenizer.json": fromJSON} {
		ok, total := 0, 0
		for i, p := range pairs {
			g := golden[i]
			require.Equal(t, p.ID, g.ID)
			for _, seq := range []struct {
				which string
				text  string
				want  goldenSeq
			}{{"question", p.Question, g.Question}, {"context", p.Context, g.Context}} {
				total++
				if d := diffPieces(encodeLikeHF(t, enc, seq.text), seq.want); d != "" {
					t.Errorf("%s %s %s (%s): %s", name, p.ID, seq.which, p.Category, d)
					continue
				}
				ok++
			}
		}
		t.Logf("%s: %d/%d single sequences identical to HF", name, ok, total)
	}
}

// TestUnigramOffsetRules checks hand-picked inputs against HF's offset rules.
func TestUnigramOffsetRules(t *testing.T) {
	enc, _ := loadDebertaEncoders(t)
	cases := []struct {
		in   string
		want []string // "text start end" in bytes
	}{
		{"hello world", []string{"▁hello 0 5", "▁world 5 11"}},
		{"  a  b ", []string{"▁a 2 3", "▁b 4 6"}},
		// A squeezed run of spaces keeps the span of its LAST character (HF's replace).
		{"a\n\nb", []string{"▁a 0 1", "▁b 2 4"}},
		// Control characters removed before anything was emitted shift the alignment (HF quirk).
		{"\x07\x07ab", []string{"▁ab 0 2"}},
	}
	for _, c := range cases {
		ps, err := enc.encode(c.in)
		require.NoError(t, err)
		var got []string
		for _, p := range ps {
			got = append(got, fmt.Sprintf("%s %d %d", p.Text, p.Start, p.End))
		}
		assert.Equal(t, c.want, got, "input %q", c.in)
	}
}

// FuzzUnigramEncode checks that arbitrary text never panics and that offsets stay within the
// segment with start <= end and non-decreasing starts, for the encoders built from
// tokenizer.json and from spm.model. (The two differ by design: TestSPMMatchesTokenizerJSON.)
func FuzzUnigramEncode(f *testing.F) {
	for _, s := range []string{"", "hello world", "  x  ", "e\u0301\r\n\u200d👩‍👩‍👧", "\x07™\x1eg", "ﾊﾟ한\u1100\u1161",
		"a [UNK] b", "[UNK][CLS]", "\xff\xfe", "▁▁ ▁", "\u3000\u00a0x\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fromJSON, fromSPM := loadDebertaEncoders(t)
		matchUnk := func(n string) []addedMatch { return findLiterals(n, map[string]int64{"[UNK]": 3}) }
		for name, enc := range map[string]*unigramEncoder{"tokenizer.json": fromJSON, "spm.model": fromSPM} {
			ps, err := enc.encodeSplitting(s, matchUnk)
			if err != nil {
				t.Fatalf("%s: encode(%q): %v", name, s, err)
			}
			last := 0
			for i, p := range ps {
				if p.Start < 0 || p.End > len(s) || p.Start > p.End || p.Start < last {
					t.Fatalf("%s: encode(%q): piece %d %q has offsets [%d,%d) after start %d", name, s, i, p.Text, p.Start, p.End, last)
				}
				if !utf8.ValidString(p.Text) || p.Text == "" {
					t.Fatalf("%s: encode(%q): piece %d has text %q", name, s, i, p.Text)
				}
				last = p.Start
			}
		}
	})
}

func cmpPieces(a, b []piece) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d pieces vs %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			return fmt.Sprintf("piece %d: %+v vs %+v", i, a[i], b[i])
		}
	}
	return ""
}

// BenchmarkUnigramEncode measures the encoder alone (no windows): question and context of every
// pair of pairs.jsonl per iteration.
func BenchmarkUnigramEncode(b *testing.B) {
	enc, _ := loadDebertaEncoders(b)
	pairs := fixtures.ReadJSONL[qaPair](b, filepath.Join(fixtures.Tokenizers(b, "deberta-v3-base"), "..", "pairs.jsonl"))
	b.ResetTimer()
	for range b.N {
		for _, p := range pairs {
			if _, err := enc.encode(p.Question); err != nil {
				b.Fatal(err)
			}
			if _, err := enc.encode(p.Context); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(pairs))/b.Elapsed().Seconds(), "pairs/s")
}

// BenchmarkEncodePairDeBERTa is the full QA encode (both sequences, truncation, every window)
// of pairs.jsonl with deberta-v3-base at max_length 384 and stride 128 (see benchmarkEncodePair).
// HF tokenizers 0.22.2 does 1,947 pairs/s on one core; compare with
//
//	taskset -c 0 go test ./data/tokenize -run '^$' -bench EncodePairDeBERTa -cpu 1
func BenchmarkEncodePairDeBERTa(b *testing.B) { benchmarkEncodePair(b, "deberta-v3-base") }

// tinyModel builds a Unigram model from (piece, score) pairs with unk id 0.
func tinyModel(t *testing.T, byteFallback bool, vocab ...any) *unigramModel {
	t.Helper()
	var pieces []string
	var scores []float64
	for i := 0; i < len(vocab); i += 2 {
		pieces = append(pieces, vocab[i].(string))
		scores = append(scores, vocab[i+1].(float64))
	}
	m, err := newUnigramModel(pieces, scores, 0, byteFallback)
	require.NoError(t, err)
	return m
}

func tokenizeWords(t *testing.T, m *unigramModel, word string) []string {
	t.Helper()
	var sc ugScratch
	toks, err := m.tokenize(word, &sc, nil)
	require.NoError(t, err)
	var out []string
	for _, tk := range toks {
		out = append(out, fmt.Sprintf("%s:%d:%d-%d", tk.text, tk.id, tk.start, tk.end))
	}
	return out
}

func TestUnigramViterbi(t *testing.T) {
	// HF's own doc example: best path plus fused unknowns.
	m := tinyModel(t, false, "<unk>", 0.0, "a", 0.0, "b", 0.0, "c", 0.0, "d", 0.0, "cd", 1.0, "ab", 2.0, "abc", 5.0, "abcd", 10.0)
	assert.Equal(t, []string{"abcd:8:0-4", "a:1:4-5", "cd:5:5-7", "xx:0:7-9"}, tokenizeWords(t, m, "abcdacdxx"))

	// Ties: HF keeps the first candidate reaching a position (strict >), so "gogogo" is go|gogo.
	m = tinyModel(t, false, "<unk>", 0.0, "go", -1.0, "gogo", -2.0)
	assert.Equal(t, []string{"go:1:0-2", "gogo:2:2-6"}, tokenizeWords(t, m, "gogogo"))

	// Unknown characters: one fused token; a fused run that spells a piece gets that piece's id.
	m = tinyModel(t, false, "<unk>", 0.0, "a", -1.0, "éé", -30.0)
	assert.Equal(t, []string{"a:1:0-1", "ωψ:0:1-5", "a:1:5-6"}, tokenizeWords(t, m, "aωψa"))
	assert.Equal(t, []string{"éé:2:0-4"}, tokenizeWords(t, m, "éé"))

	// A duplicated piece resolves to its last id, as HF's token map does.
	m = tinyModel(t, false, "<unk>", 0.0, "a", -1.0, "a", -2.0)
	assert.Equal(t, []string{"a:2:0-1"}, tokenizeWords(t, m, "a"))
}

func TestUnigramByteFallback(t *testing.T) {
	vocab := []any{"<unk>", 0.0, "a", -1.0}
	for b := 0; b < 256; b++ {
		vocab = append(vocab, fmt.Sprintf("<0x%02X>", b), 0.0)
	}
	m := tinyModel(t, true, vocab...)
	// Each byte of the unknown run becomes its <0xNN> piece, all spanning the whole run.
	assert.Equal(t, []string{"a:1:0-1", "<0xCF>:209:1-3", "<0x89>:139:1-3", "a:1:3-4"}, tokenizeWords(t, m, "aωa"))

	// Without every byte piece, the run stays unknown.
	m = tinyModel(t, true, "<unk>", 0.0, "a", -1.0, "<0xCF>", 0.0)
	assert.Equal(t, []string{"ω:0:0-2"}, tokenizeWords(t, m, "ω"))
}

func TestUnigramJSONConfig(t *testing.T) {
	// Normalisers: Strip, Replace (literal and regex; the replacement takes the span of the last
	// replaced byte, as in HF), Lowercase, and a Precompiled without charsmap (nothing to do).
	enc := tinyEncoder(t, `{"type":"Sequence","normalizers":[{"type":"Strip","strip_left":true,"strip_right":false},
		{"type":"Replace","pattern":{"String":"x"},"content":"b"},{"type":"Replace","pattern":{"Regex":"c+"},"content":"a"},
		{"type":"Lowercase"},{"type":"Precompiled","precompiled_charsmap":null}]}`, `{"type":"Metaspace","replacement":"▁"}`)
	ps, err := enc.encode("  AxccB ")
	require.NoError(t, err)
	assert.Equal(t, []string{"▁a 2 2 3", "b 3 3 4", "a 5 5 6", "b 3 6 7", "▁ 1 7 8"}, render(ps))

	for _, bad := range [][3]string{
		{`{"type":"BPE","vocab":{}}`, `null`, `null`},
		{`{"type":"Unigram","unk_id":5,"vocab":[["a",0]]}`, `null`, `null`},
		{`{"type":"Unigram","vocab":[]}`, `null`, `null`},
		{`{"type":"Unigram","vocab":[["a","x"]]}`, `null`, `null`},
		{tinyUnigramJSON, `{"type":"NFKC"}`, `null`},
		{tinyUnigramJSON, `{"type":"Replace","pattern":{"Regex":"("},"content":""}`, `null`},
		{tinyUnigramJSON, `{"type":"Replace","pattern":{},"content":""}`, `null`},
		{tinyUnigramJSON, `{"type":"Precompiled","precompiled_charsmap":"!!"}`, `null`},
		{tinyUnigramJSON, `{"type":"Precompiled","precompiled_charsmap":"AAAA"}`, `null`},
	} {
		_, err := newUnigramFromJSON(json.RawMessage(bad[0]), json.RawMessage(bad[1]), json.RawMessage(bad[2]))
		assert.Error(t, err, "%v", bad)
	}

	// A model without unk_id fails on unknown characters instead of inventing an id.
	enc2, err := newUnigramFromJSON(json.RawMessage(`{"type":"Unigram","vocab":[["a",-1]]}`), nil, nil)
	require.NoError(t, err)
	_, err = enc2.encode("ab")
	assert.Error(t, err)
	ps, err = enc2.encode("aa")
	require.NoError(t, err)
	assert.Len(t, ps, 2)
}

// TestUnigramConcurrent encodes from several goroutines (the scratch pool and the word cache are
// shared) and expects the sequential results.
func TestUnigramConcurrent(t *testing.T) {
	enc, _ := loadDebertaEncoders(t)
	pairs := fixtures.ReadJSONL[qaPair](t, filepath.Join(fixtures.Tokenizers(t), "pairs.jsonl"))
	if testing.Short() {
		pairs = pairs[:40]
	}
	want := make([][]piece, len(pairs))
	for i, p := range pairs {
		var err error
		want[i], err = enc.encode(p.Context)
		require.NoError(t, err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range pairs {
				i := (k + g*len(pairs)/4) % len(pairs)
				got, err := enc.encode(pairs[i].Context)
				if err != nil {
					errs <- err.Error()
					return
				}
				if d := cmpPieces(got, want[i]); d != "" {
					errs <- pairs[i].ID + ": " + d
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
