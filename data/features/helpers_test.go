package features

import (
	"path/filepath"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/spanqa/spanqa/data/squad"
	"github.com/spanqa/spanqa/data/tokenize"
	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/stretchr/testify/require"
)

// tokCase is one tokenizer under test: Longformer uses RoBERTa's files (see the fixtures'
// longformer-base-4096/README.md) with its own limit.
type tokCase struct {
	name, dir string
	limit     int
}

var tokCases = []tokCase{
	{"bert-base-uncased", "bert-base-uncased", 0},
	{"roberta-base", "roberta-base", 0},
	{"deberta-v3-base", "deberta-v3-base", 0},
	{"longformer-base-4096", "roberta-base", 4096},
}

var (
	tokMu    sync.Mutex
	tokCache = map[string]*tokenize.Tokenizer{}
)

// loadTok loads (once per test binary) a fixture tokenizer, or skips.
func loadTok(t testing.TB, dir string) *tokenize.Tokenizer {
	t.Helper()
	path := fixtures.Tokenizers(t, dir)
	tokMu.Lock()
	defer tokMu.Unlock()
	if tok, ok := tokCache[dir]; ok {
		return tok
	}
	tok, err := tokenize.Load(path)
	require.NoError(t, err)
	tokCache[dir] = tok
	return tok
}

type pairJSON struct {
	ID       string `json:"id"`
	Category string `json:"category"`
	Question string `json:"question"`
	Context  string `json:"context"`
}

type goldenWindow struct {
	InputIDs      []int64  `json:"input_ids"`
	TokenTypeIDs  []int64  `json:"token_type_ids"`
	AttentionMask []int64  `json:"attention_mask"`
	Offsets       [][2]int `json:"offsets"`
	ByteOffsets   [][2]int `json:"byte_offsets"`
	SequenceIDs   []*int   `json:"sequence_ids"`
	Overflow      int      `json:"overflow_to_sample_mapping"`
}

type golden struct {
	ID      string         `json:"id"`
	Windows []goldenWindow `json:"windows"`
	Error   string         `json:"error"`
}

func loadPairs(t testing.TB) []pairJSON {
	return fixtures.ReadJSONL[pairJSON](t, filepath.Join(fixtures.Tokenizers(t), "pairs.jsonl"))
}

var goldenCache = map[string][]golden{}

// loadGolden reads (once per test binary) a tokenizer's golden windows.
func loadGolden(t testing.TB, dir string) []golden {
	path := filepath.Join(fixtures.Tokenizers(t, dir), "golden.jsonl")
	tokMu.Lock()
	defer tokMu.Unlock()
	if g, ok := goldenCache[dir]; ok {
		return g
	}
	g := fixtures.ReadJSONL[golden](t, path)
	goldenCache[dir] = g
	return g
}

var devOnce struct {
	sync.Once
	exs []squad.Example
	err error
}

// devV11 reads SQuAD v1.1 dev once per test binary.
func devV11(t testing.TB) []squad.Example {
	t.Helper()
	path := fixtures.Data(t, "squad", "v1.1", "dev-v1.1.json")
	devOnce.Do(func() { devOnce.exs, _, devOnce.err = squad.ReadJSON(path, squad.Options{}) })
	require.NoError(t, devOnce.err)
	return devOnce.exs
}

// runeAnswer builds an Answer for context runes [s, s+n).
func runeAnswer(context string, s, n int) squad.Answer {
	rs := []rune(context)
	bs := len(string(rs[:s]))
	return squad.Answer{Text: string(rs[s : s+n]), Start: s, ByteStart: bs}
}

// answerLists returns HF's answers["answer_start"], answers["text"] for an example.
func answerLists(ex *squad.Example) ([]int, []string) {
	var starts []int
	var texts []string
	for _, a := range ex.Answers {
		starts = append(starts, a.Start)
		texts = append(texts, a.Text)
	}
	return starts, texts
}

func runeLen(s string) int { return utf8.RuneCountInString(s) }
