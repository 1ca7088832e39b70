package serve

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/internal/fixtures"
)

// fixtureVocab is the fixtures' vocab_size: every token id must stay below it.
const fixtureVocab = 1000

// testModelDir builds a model folder for a tiny fixture model: links to its config.json and
// model.safetensors plus a real tokenizer of the architecture's family cut down to ids below
// 1000, so that words tokenize into words and sub-words rather than all into [UNK] (the weights
// are random, so which token gets which id does not matter).
func testModelDir(t testing.TB, arch string) string {
	t.Helper()
	src := fixtures.Models(t, arch)
	dir := t.TempDir()
	for _, f := range []string{"config.json", "model.safetensors"} {
		require.NoError(t, os.Symlink(filepath.Join(src, f), filepath.Join(dir, f)))
	}
	switch arch {
	case "bert":
		writeWordPieceVocab(t, fixtures.Tokenizers(t, "bert-base-uncased", "vocab.txt"), dir)
	case "roberta", "longformer":
		writeBPEVocab(t, fixtures.Tokenizers(t, "roberta-base", "merges.txt"), dir)
	case "deberta-v3":
		writeUnigramVocab(t, fixtures.Tokenizers(t, "deberta-v3-base", "tokenizer.json"), dir)
	default:
		t.Fatalf("no test tokenizer for %s", arch)
	}
	return dir
}

// writeWordPieceVocab writes vocab.txt: the special tokens, every printable ASCII character
// alone and as a "##" continuation (so that any ASCII word tokenizes), then the most frequent
// words of bert-base-uncased, in its order, up to 1000 lines.
func writeWordPieceVocab(t testing.TB, src, dir string) {
	t.Helper()
	lines := readLines(t, src)
	vocab := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
	seen := map[string]bool{}
	for _, v := range vocab {
		seen[v] = true
	}
	add := func(tok string) {
		if !seen[tok] && len(vocab) < fixtureVocab {
			seen[tok] = true
			vocab = append(vocab, tok)
		}
	}
	for c := '!'; c <= '~'; c++ {
		if !unicode.IsUpper(c) {
			add(string(c))
			add("##" + string(c))
		}
	}
	for _, l := range lines[1996:] {
		add(l)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "vocab.txt"), []byte(strings.Join(vocab, "\n")+"\n"), 0o644))
}

// writeBPEVocab writes vocab.json and merges.txt: RoBERTa's special tokens, the 256 byte-level
// characters and the tokens of roberta-base's first merges (in rank order) up to 1000 ids, with
// exactly the merges that build them.
func writeBPEVocab(t testing.TB, mergesPath, dir string) {
	t.Helper()
	vocab := map[string]int{}
	add := func(tok string) {
		if _, ok := vocab[tok]; !ok {
			vocab[tok] = len(vocab)
		}
	}
	for _, s := range []string{"<s>", "<pad>", "</s>", "<unk>"} {
		add(s)
	}
	for _, r := range byteLevelAlphabet() {
		add(string(r))
	}
	merges := []string{"#version: 0.2"}
	for _, l := range readLines(t, mergesPath)[1:] {
		a, b, ok := strings.Cut(l, " ")
		if !ok || len(vocab) >= fixtureVocab-1 {
			continue
		}
		if _, okA := vocab[a]; !okA {
			continue
		}
		if _, okB := vocab[b]; !okB {
			continue
		}
		add(a + b)
		merges = append(merges, l)
	}
	add("<mask>")
	data, err := json.Marshal(vocab)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "vocab.json"), data, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "merges.txt"), []byte(strings.Join(merges, "\n")+"\n"), 0o644))
}

// byteLevelAlphabet is GPT-2's bytes_to_unicode: the 256 characters byte-level BPE uses.
func byteLevelAlphabet() []rune {
	var out []rune
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			out = append(out, rune(b))
		} else {
			out = append(out, rune(256+n))
			n++
		}
	}
	return out
}

// writeUnigramVocab writes deberta-v3-base's tokenizer.json with its vocabulary cut to the first
// 999 pieces (specials, byte pieces, the most frequent pieces) and [MASK] moved to id 999.
func writeUnigramVocab(t testing.TB, src, dir string) {
	t.Helper()
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	var tj map[string]any
	require.NoError(t, json.Unmarshal(data, &tj))
	model := tj["model"].(map[string]any)
	model["vocab"] = model["vocab"].([]any)[:fixtureVocab-1]
	for _, a := range tj["added_tokens"].([]any) {
		if tok := a.(map[string]any); tok["content"] == "[MASK]" {
			tok["id"] = fixtureVocab - 1
		}
	}
	out, err := json.Marshal(tj)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tokenizer.json"), out, 0o644))
}

func readLines(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	require.NoError(t, sc.Err())
	return out
}

// fixturePair is one line of the tokenizer fixtures' pairs.jsonl.
type fixturePair struct {
	ID       string `json:"id"`
	Category string `json:"category"`
	Question string `json:"question"`
	Context  string `json:"context"`
}

// fixturePairs reads pairs.jsonl: 305 questions over plain, accented, CJK, RTL, emoji,
// control-character and very long contexts.
func fixturePairs(t testing.TB) []fixturePair {
	t.Helper()
	var out []fixturePair
	for _, l := range readLines(t, fixtures.Tokenizers(t, "pairs.jsonl")) {
		var p fixturePair
		require.NoError(t, json.Unmarshal([]byte(l), &p))
		out = append(out, p)
	}
	return out
}

// loadTestModel loads the fixture model arch with a test tokenizer; Close runs at cleanup.
func loadTestModel(t testing.TB, arch string, o Options) *Model {
	t.Helper()
	m, err := Load(testModelDir(t, arch), o)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}
