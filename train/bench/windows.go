package bench

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"

	"github.com/spanqa/spanqa/data/features"
	"github.com/spanqa/spanqa/data/squad"
	"github.com/spanqa/spanqa/data/tokenize"
	"github.com/spanqa/spanqa/internal/fixtures"
)

// Stride is the seed's doc_stride.
const Stride = 128

// recordedJSON is the window-length histogram of SQuAD v1.1 dev for each tokenizer, recorded
// once by TestRecordHistograms (SPANQA_BENCH_RECORD=1). It holds counts only, no text, so the
// benchmark keeps the real length distribution on machines without the data set.
//
//go:embed squad_v11_dev_lengths.json
var recordedJSON []byte

// Histograms is the recorded file: one histogram per tokenizer folder name.
type Histograms struct {
	Source     string               `json:"source"`
	Tokenizers map[string]Histogram `json:"tokenizers"`
}

// Histogram counts windows by length (special tokens included) and by question length (the
// tokens before the first separator, [CLS]/<s> included: Longformer's global tokens).
type Histogram struct {
	MaxLength int      `json:"max_length"`
	Stride    int      `json:"stride"`
	Examples  int      `json:"examples"`
	Windows   int      `json:"windows"`
	Lengths   [][2]int `json:"lengths"`   // [length, count], ascending
	Questions [][2]int `json:"questions"` // [tokens before the first separator, count]
}

// recorded returns the shipped histogram for a tokenizer folder and max length.
func recorded(tokenizer string, maxLength int) (Histogram, error) {
	hs, err := parseHistograms(recordedJSON)
	if err != nil {
		return Histogram{}, err
	}
	h, ok := hs.Tokenizers[fmt.Sprintf("%s@%d", tokenizer, maxLength)]
	if !ok {
		return Histogram{}, fmt.Errorf("bench: no recorded histogram for %s at max length %d", tokenizer, maxLength)
	}
	return h, nil
}

func parseHistograms(data []byte) (Histograms, error) {
	var hs Histograms
	if err := json.Unmarshal(data, &hs); err != nil {
		return hs, fmt.Errorf("bench: recorded histograms: %w", err)
	}
	return hs, nil
}

// histogramOf counts the windows of ws.
func histogramOf(ws []features.Window, maxLength, examples int) Histogram {
	lengths, questions := map[int]int{}, map[int]int{}
	for i := range ws {
		lengths[len(ws[i].IDs)]++
		questions[questionTokens(&ws[i])]++
	}
	flat := func(m map[int]int) [][2]int {
		var out [][2]int
		for k, v := range m {
			out = append(out, [2]int{k, v})
		}
		slices.SortFunc(out, func(a, b [2]int) int { return a[0] - b[0] })
		return out
	}
	return Histogram{MaxLength: maxLength, Stride: Stride, Examples: examples, Windows: len(ws), Lengths: flat(lengths), Questions: flat(questions)}
}

// questionTokens is the number of tokens before the first context token ([CLS]/<s> and the
// question, as far as the first separator): what Longformer's QA model makes global.
func questionTokens(w *features.Window) int {
	for i, s := range w.SequenceIDs {
		if s == 1 {
			// Back over the separators between question and context.
			j := i
			for j > 0 && w.SequenceIDs[j-1] == -1 {
				j--
			}
			return max(j, 1)
		}
	}
	return 1
}

// squadPath is where the benchmark looks for SQuAD v1.1: path when given, else the shared data
// folder's dev set (train-v1.1.json is preferred when it is there). "" when there is none.
func squadPath(path string) string {
	if path != "" {
		return path
	}
	dir := filepath.Join(fixtures.DataDir(), "squad", "v1.1")
	for _, name := range []string{"train-v1.1.json", "dev-v1.1.json"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// tokenizerDir is the tokenizer fixture folder of a, or "" when absent.
func tokenizerDir(a *arch) string {
	d := filepath.Join(fixtures.FixturesDir(), "tokenizers", a.Tokenizer)
	if _, err := os.Stat(d); err != nil {
		return ""
	}
	return d
}

// realWindows cuts the SQuAD file at path into the training windows the seed's run_qa.py makes
// for a (max length a.MaxLength, stride 128): the real token ids and lengths.
func realWindows(a *arch, path, tokDir string, modelLimit int) ([]features.Window, int, error) {
	examples, _, err := squad.Read(path, squad.Options{SkipInvalid: true})
	if err != nil {
		return nil, 0, err
	}
	tok, err := tokenize.Load(tokDir)
	if err != nil {
		return nil, 0, err
	}
	ws, err := features.Train(examples, tok, features.Options{MaxLength: a.MaxLength, Stride: Stride, ModelLimit: modelLimit, SkipTooLong: true})
	if err != nil {
		return nil, 0, err
	}
	return ws, len(examples), nil
}

// syntheticWindows makes windows with exactly the histogram's lengths (in a seeded order) and
// question lengths drawn from it: random token ids in the tokenizer's layout
// ([CLS] q [SEP] c [SEP], or <s> q </s></s> c </s>), all-ones masks, and answers inside the
// context. Speed depends on shapes and on Longformer's global tokens, never on token values.
func syntheticWindows(a *arch, h Histogram, vocab int64, seed uint64) []features.Window {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	var lengths []int
	for _, lc := range h.Lengths {
		for range lc[1] {
			lengths = append(lengths, lc[0])
		}
	}
	r.Shuffle(len(lengths), func(i, j int) { lengths[i], lengths[j] = lengths[j], lengths[i] })
	var qs []int
	for _, qc := range h.Questions {
		for range qc[1] {
			qs = append(qs, qc[0])
		}
	}
	seps := 1
	if a.DoubleSep {
		seps = 2
	}
	ws := make([]features.Window, len(lengths))
	for i, n := range lengths {
		q := 8
		if len(qs) > 0 {
			q = qs[r.IntN(len(qs))]
		}
		// Leave at least one context token and the final separator.
		q = max(1, min(q, n-seps-2))
		w := features.Window{ExampleID: fmt.Sprintf("synthetic-%d", i), ExampleIndex: i,
			IDs: make([]int64, n), Mask: make([]int64, n), SequenceIDs: make([]int, n)}
		if a.TypeIDs {
			w.TypeIDs = make([]int64, n)
		}
		for k := range n {
			w.IDs[k] = 1000 + r.Int64N(vocab-1000)
			w.Mask[k] = 1
			switch {
			case k == 0 || k == n-1 || (k >= q && k < q+seps):
				w.SequenceIDs[k] = -1
			case k < q:
				w.SequenceIDs[k] = 0
			default:
				w.SequenceIDs[k] = 1
			}
			if w.TypeIDs != nil && k >= q+1 {
				w.TypeIDs[k] = 1
			}
		}
		w.IDs[0], w.IDs[n-1] = a.CLS, a.SEP
		for k := q; k < q+seps; k++ {
			w.IDs[k] = a.SEP
		}
		ctxStart, ctxEnd := q+seps, n-2
		w.StartPos = ctxStart + r.IntN(ctxEnd-ctxStart+1)
		w.EndPos = min(ctxEnd, w.StartPos+r.IntN(4))
		ws[i] = w
	}
	return ws
}
