package serve

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/internal/fixtures"
)

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
	for _, l := range fixtures.ReadLines(t, fixtures.Tokenizers(t, "pairs.jsonl")) {
		var p fixturePair
		require.NoError(t, json.Unmarshal([]byte(l), &p))
		out = append(out, p)
	}
	return out
}

// testModelDir is fixtures.ModelDir: a fixture model folder with a real, cut-down tokenizer.
func testModelDir(t testing.TB, arch string) string { return fixtures.ModelDir(t, arch) }

// loadTestModel loads the fixture model arch with a test tokenizer; Close runs at cleanup.
func loadTestModel(t testing.TB, arch string, o Options) *Model {
	t.Helper()
	m, err := Load(testModelDir(t, arch), o)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}
