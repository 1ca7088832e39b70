package synthetic

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestAnswersAreSpansAndDeterministic(t *testing.T) {
	a := Generate(Options{Seed: 7, Contexts: 200, LongFraction: 0.2, QuestionsPerContext: 3})
	b := Generate(Options{Seed: 7, Contexts: 200, LongFraction: 0.2, QuestionsPerContext: 3})
	require.Equal(t, a, b)
	nonASCII, long := 0, 0
	for _, e := range a {
		ans := e.Answers[0]
		require.Equal(t, ans.Text, e.Context[ans.ByteStart:ans.ByteStart+len(ans.Text)], e.ID)
		require.Equal(t, utf8.RuneCountInString(e.Context[:ans.ByteStart]), ans.Start, e.ID)
		if ans.Start != ans.ByteStart {
			nonASCII++
		}
		if len(strings.Fields(e.Context)) > 300 {
			long++
		}
	}
	require.Greater(t, nonASCII, 10, "some answers must sit after non-ASCII text")
	require.Greater(t, long, 10, "some contexts must need several windows")
}

func TestVocabCoversWords(t *testing.T) {
	v := map[string]bool{}
	for _, w := range Vocab() {
		v[w] = true
	}
	for _, e := range Generate(Options{Seed: 3, Contexts: 50, QuestionsPerContext: 2}) {
		for _, f := range strings.FieldsFunc(strings.ToLower(stripAccents(e.Context+" "+e.Question)), func(r rune) bool {
			return r == ' ' || r == '.' || r == ',' || r == '?'
		}) {
			require.True(t, v[f], "vocab lacks %q", f)
		}
	}
}

func TestAnswerIsAWholeWord(t *testing.T) {
	for _, e := range Generate(Options{Seed: 11, Contexts: 300, LongFraction: 0.1, QuestionsPerContext: 4}) {
		a := e.Answers[0]
		end := a.ByteStart + len(a.Text)
		require.True(t, a.ByteStart == 0 || e.Context[a.ByteStart-1] == ' ' || e.Context[a.ByteStart-1] == ',', "%s: %q starts mid-word", e.ID, a.Text)
		require.True(t, end == len(e.Context) || strings.ContainsRune(" .,", rune(e.Context[end])), "%s: %q ends mid-word", e.ID, a.Text)
	}
}

// With no cap every fact is asked about: 3 to 8 questions per context, each about another fact.
func TestEveryFactIsAskedByDefault(t *testing.T) {
	perContext := map[string]map[int]bool{}
	for _, e := range Generate(Options{Seed: 5, Contexts: 200, LongFraction: 0.1}) {
		if perContext[e.Title] == nil {
			perContext[e.Title] = map[int]bool{}
		}
		starts := perContext[e.Title]
		require.False(t, starts[e.Answers[0].ByteStart], "%s asks about a fact twice", e.ID)
		starts[e.Answers[0].ByteStart] = true
	}
	require.Len(t, perContext, 200)
	sizes := map[int]bool{}
	for title, starts := range perContext {
		require.True(t, len(starts) >= 3 && len(starts) <= len(relations()), "%s: %d questions", title, len(starts))
		sizes[len(starts)] = true
	}
	require.Len(t, sizes, len(relations())-2, "every context size from 3 to %d facts occurs", len(relations()))
}
