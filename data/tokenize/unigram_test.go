package tokenize

import (
	"bufio"
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
		s, err := newUnigramFromSPM(filepath.Join(dir, "spm.model"))
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

func readJSONL[T any](t testing.TB, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var v T
		require.NoError(t, json.Unmarshal(sc.Bytes(), &v))
		out = append(out, v)
	}
	require.NoError(t, sc.Err())
	return out
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
// strings and byte offsets), for the encoder built from tokenizer.json and from spm.model.
func TestUnigramGoldenSingle(t *testing.T) {
	fromJSON, fromSPM := loadDebertaEncoders(t)
	dir := fixtures.Tokenizers(t, "deberta-v3-base")
	pairs := readJSONL[qaPair](t, filepath.Join(dir, "..", "pairs.jsonl"))
	golden := readJSONL[goldenSingle](t, filepath.Join(dir, "golden_single.jsonl"))
	require.Len(t, golden, len(pairs))
	for name, enc := range map[string]*unigramEncoder{"tokenizer.json": fromJSON, "spm.model": fromSPM} {
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
// segment, with start <= end and non-decreasing starts.
func FuzzUnigramEncode(f *testing.F) {
	for _, s := range []string{"", "hello world", "  x  ", "e\u0301\r\n\u200d👩‍👩‍👧", "\x07™\x1eg", "ﾊﾟ한\u1100\u1161", "[UNK][CLS]", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc, _ := loadDebertaEncoders(t)
		ps, err := enc.encode(s)
		if err != nil {
			t.Fatalf("encode(%q): %v", s, err)
		}
		last := 0
		for i, p := range ps {
			if p.Start < 0 || p.End > len(s) || p.Start > p.End || p.Start < last {
				t.Fatalf("encode(%q): piece %d %q has offsets [%d,%d) after start %d", s, i, p.Text, p.Start, p.End, last)
			}
			if !utf8.ValidString(p.Text) || p.Text == "" {
				t.Fatalf("encode(%q): piece %d has text %q", s, i, p.Text)
			}
			last = p.Start
		}
	})
}

// BenchmarkUnigramEncode measures the encoder alone (no windows): question and context of every
// pair of pairs.jsonl per iteration.
func BenchmarkUnigramEncode(b *testing.B) {
	enc, _ := loadDebertaEncoders(b)
	pairs := readJSONL[qaPair](b, filepath.Join(fixtures.Tokenizers(b, "deberta-v3-base"), "..", "pairs.jsonl"))
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
