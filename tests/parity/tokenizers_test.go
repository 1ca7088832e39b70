package parity

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/data/tokenize"
	"github.com/spanqa/spanqa/internal/fixtures"
)

type tokWindow struct {
	IDs         []int64  `json:"ids"`
	TypeIDs     []int64  `json:"type_ids"`
	Offsets     [][2]int `json:"offsets"`
	SequenceIDs []int    `json:"sequence_ids"`
}

type tokCase struct {
	Question string      `json:"question"`
	Context  string      `json:"context"`
	Windows  []tokWindow `json:"windows"`
	Error    string      `json:"error"`
}

type tokMeta struct {
	MaxLength                   int      `json:"max_length"`
	Stride                      int      `json:"stride"`
	Pairs                       int      `json:"pairs"`
	Strings                     int      `json:"strings"`
	ConvertedDiffersIn          []string `json:"converted_differs_in"`
	ConvertedEncodingMismatches int      `json:"converted_encoding_mismatches"`
	ConvertedMismatchExamples   []any    `json:"converted_mismatch_examples"`
}

// minStrings is how many strings each tokenizer must have been compared on
// ($SPANQA_PARITY_MIN_STRINGS lowers it for a quick local run; run.sh never sets it).
func minStrings() int {
	if n, err := strconv.Atoi(os.Getenv("SPANQA_PARITY_MIN_STRINGS")); err == nil {
		return n
	}
	return 100000
}

var parityTokenizers = []string{"bert-base-uncased", "roberta-base", "deberta-v3-base"}

func readTokMeta(t *testing.T, dir, name string) tokMeta {
	var meta tokMeta
	data, err := os.ReadFile(filepath.Join(dir, name+".json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &meta))
	return meta
}

// TestTokenizerEncodings compares spanqa's pair encodings (ids, type ids, offsets, sequence ids,
// every overflow window with its stride) with the tokenizers package's on the tokenizer.json in
// ../shared, over ../shared's pairs and random strings. Exact equality.
func TestTokenizerEncodings(t *testing.T) {
	root := referenceDir(t, "tokenizers")
	for _, name := range parityTokenizers {
		t.Run(name, func(t *testing.T) {
			meta := readTokMeta(t, root, name)
			require.GreaterOrEqual(t, meta.Strings, minStrings(), "strings compared")
			tok, err := tokenize.Load(fixtures.Tokenizers(t, name))
			require.NoError(t, err)
			f, err := os.Open(filepath.Join(root, name+".jsonl"))
			require.NoError(t, err)
			defer f.Close()
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 1<<20), 64<<20)
			var cases []tokCase
			for sc.Scan() {
				var c tokCase
				require.NoError(t, json.Unmarshal(sc.Bytes(), &c))
				cases = append(cases, c)
			}
			require.NoError(t, sc.Err())
			require.Len(t, cases, meta.Pairs)
			opt := tokenize.PairOptions{MaxLength: meta.MaxLength, Stride: meta.Stride}
			fails := make([]string, len(cases))
			var wg sync.WaitGroup
			next := make(chan int)
			for range runtime.GOMAXPROCS(0) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range next {
						fails[i] = comparePair(tok, cases[i], opt)
					}
				}()
			}
			for i := range cases {
				next <- i
			}
			close(next)
			wg.Wait()
			var bad []string
			windows := 0
			for i, f := range fails {
				windows += len(cases[i].Windows)
				if f != "" {
					bad = append(bad, fmt.Sprintf("pair %d (%q | %.80q): %s", i, cases[i].Question, cases[i].Context, f))
				}
			}
			t.Logf("%s: %d pairs (%d strings), %d windows: %d differ", name, len(cases), meta.Strings, windows, len(bad))
			for i, b := range bad {
				if i == 10 {
					break
				}
				t.Log(b)
			}
			require.Empty(t, bad, "%d of %d pairs encode differently from the tokenizers package", len(bad), len(cases))
		})
	}
}

func comparePair(tok *tokenize.Tokenizer, c tokCase, opt tokenize.PairOptions) string {
	encs, err := tok.EncodePair(c.Question, c.Context, opt)
	if c.Error != "" {
		if err == nil {
			return "HF fails (" + c.Error + "), spanqa encodes"
		}
		return ""
	}
	if err != nil {
		return "spanqa: " + err.Error()
	}
	if len(encs) != len(c.Windows) {
		return fmt.Sprintf("%d windows, HF %d", len(encs), len(c.Windows))
	}
	for k, e := range encs {
		w := c.Windows[k]
		checks := []struct {
			name      string
			got, want any
		}{{"ids", e.IDs, w.IDs}, {"offsets", e.Offsets, w.Offsets}, {"sequence ids", e.SequenceIDs, w.SequenceIDs}}
		if tok.ReturnsTypeIDs() {
			checks = append(checks, struct {
				name      string
				got, want any
			}{"type ids", e.TypeIDs, w.TypeIDs})
		}
		for _, ch := range checks {
			if !reflect.DeepEqual(ch.got, ch.want) {
				return fmt.Sprintf("window %d: %s differ: spanqa %v, HF %v", k, ch.name, clip(ch.got), clip(ch.want))
			}
		}
	}
	return ""
}

func clip(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// TestTokenizerFilesMatchTransformers checks that the tokenizer.json files in ../shared encode
// like the tokenizers transformers builds today from the original vocabulary files
// (DebertaV2Converter from spm.model, RobertaConverter from vocab.json + merges.txt,
// BertConverter from vocab.txt), over the same pairs. Serialisation-only differences in the JSON
// are listed, not failed.
func TestTokenizerFilesMatchTransformers(t *testing.T) {
	root := referenceDir(t, "tokenizers")
	for _, name := range parityTokenizers {
		t.Run(name, func(t *testing.T) {
			meta := readTokMeta(t, root, name)
			t.Logf("%s: transformers' conversion differs from ../shared's tokenizer.json in %v", name, meta.ConvertedDiffersIn)
			if meta.ConvertedEncodingMismatches > 0 {
				ex, _ := json.Marshal(meta.ConvertedMismatchExamples)
				t.Logf("first examples: %.2000s", ex)
			}
			require.Zero(t, meta.ConvertedEncodingMismatches,
				"%d of %d pairs encode differently with transformers' own conversion of the original files", meta.ConvertedEncodingMismatches, meta.Pairs)
		})
	}
}
