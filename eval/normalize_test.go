package eval

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNormalizeAnswer(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"The Denver Broncos", "denver broncos"},
		{"  an  Apple!\t", "apple"},
		{"a the an", ""},
		{".", ""},
		{"Denver Broncos 's", "denver broncos s"},
		{"theory another atheist", "theory another atheist"},
		{"the_end a_", "theend"},                                 // "_" is punctuation, removed before the articles
		{"\u201cquoted\u201d", "\u201cquoted\u201d"},             // non-ASCII punctuation is kept
		{"New\u00a0York\u3000City", "new york city"},             // Unicode whitespace splits
		{"zero\u200bwidth", "zero\u200bwidth"},                   // U+200B is not whitespace
		{"x\x1cy", "x y"},                                        // Python's isspace includes U+001C
		{"the\u0301 cat", "\u0301 cat"},                          // a combining mark is not a word character
		{"th\u00e9", "th\u00e9"},                                 // a non-ASCII letter is one
		{"a\u00b2", "a\u00b2"},                                   // so is a superscript digit
		{"\u0130stanbul", "i\u0307stanbul"},                      // full lowercase mapping
		{"\u039f\u0394\u039f\u03a3", "\u03bf\u03b4\u03bf\u03c2"}, // final sigma
		{"\u03a3\u039f", "\u03c3\u03bf"},                         // not final
		{"\u039f\u03a3.\u039f", "\u03bf\u03c3\u03bf"},            // '.' is case-ignorable: not final
		{"STRASSE \u1e9e", "strasse \u00df"},
	} {
		assert.Equal(t, c.want, NormalizeAnswer(c.in), "%q", c.in)
	}
}

func TestF1Definitions(t *testing.T) {
	// v1.1: no common token scores 0, even when both sides are empty; EM still matches.
	assert.Equal(t, 0.0, F1V1("", "."))
	assert.True(t, ExactMatch("", "."))
	// v2.0: both empty scores 1, one empty 0.
	assert.Equal(t, 1.0, F1V2("the", ""))
	assert.Equal(t, 0.0, F1V2("", "cat"))
	assert.InDelta(t, 0.8, F1V1("Denver Broncos defeated", "Denver Broncos"), 1e-15)
	// Counter intersection counts repeated tokens once per occurrence on both sides.
	assert.InDelta(t, 2*(2.0/3)*(1.0)/((2.0/3)+1.0), F1V1("a b b c", "b b"), 1e-15)
}

type pyNormCase struct {
	Pred     string  `json:"pred"`
	Gold     string  `json:"gold"`
	NormPred string  `json:"norm_pred"`
	NormGold string  `json:"norm_gold"`
	F1V1     float64 `json:"f1_v1"`
	F1V2     float64 `json:"f1_v2"`
}

// TestNormalizeMatchesPython checks normalisation and both F1 definitions against values that
// CPython 3.11 computed (testdata/normalize_py311.json: random strings over a hostile alphabet of
// articles, Unicode whitespace and punctuation, combining marks, final sigma, U+0130...).
// SPANQA_NORMALIZE_CASES may name a larger file in the same format.
func TestNormalizeMatchesPython(t *testing.T) {
	paths := []string{"testdata/normalize_py311.json"}
	if p := os.Getenv("SPANQA_NORMALIZE_CASES"); p != "" {
		paths = append(paths, p)
	}
	for _, path := range paths {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		var doc struct {
			Cases []pyNormCase `json:"cases"`
		}
		require.NoError(t, json.Unmarshal(b, &doc))
		require.NotEmpty(t, doc.Cases)
		bad := 0
		for _, c := range doc.Cases {
			ok := NormalizeAnswer(c.Pred) == c.NormPred && NormalizeAnswer(c.Gold) == c.NormGold &&
				F1V1(c.Pred, c.Gold) == c.F1V1 && F1V2(c.Pred, c.Gold) == c.F1V2
			if !ok {
				bad++
				if bad <= 10 {
					t.Errorf("%q / %q: got %q %q %v %v, want %q %q %v %v", c.Pred, c.Gold,
						NormalizeAnswer(c.Pred), NormalizeAnswer(c.Gold), F1V1(c.Pred, c.Gold), F1V2(c.Pred, c.Gold),
						c.NormPred, c.NormGold, c.F1V1, c.F1V2)
				}
			}
		}
		assert.Zero(t, bad, "%s: %d of %d cases differ", path, bad, len(doc.Cases))
	}
}
