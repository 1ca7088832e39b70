package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"testing"

	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/spanqa/spanqa/models"
)

// TestRecordHistograms rewrites squad_v11_dev_lengths.json from SQuAD v1.1 dev and the tokenizer
// fixtures. It runs only when asked (SPANQA_BENCH_RECORD=1), since the file is shipped:
//
//	SPANQA_BENCH_RECORD=1 go test ./train/bench/ -run TestRecordHistograms
func TestRecordHistograms(t *testing.T) {
	if os.Getenv("SPANQA_BENCH_RECORD") == "" {
		t.Skip("set SPANQA_BENCH_RECORD=1 to re-record the length histograms")
	}
	dev := fixtures.Data(t, "squad", "v1.1", "dev-v1.1.json")
	out := Histograms{
		Source:     "SQuAD v1.1 dev-v1.1.json, run_qa.py training windows (doc_stride 128) cut by spanqa's tokenizers; counts only",
		Tokenizers: map[string]Histogram{},
	}
	for i := range archs {
		a := &archs[i]
		key := fmt.Sprintf("%s@%d", a.Tokenizer, a.MaxLength)
		if _, done := out.Tokenizers[key]; done {
			continue
		}
		cfg, err := a.config()
		if err != nil {
			t.Fatal(err)
		}
		ws, n, err := realWindows(a, dev, fixtures.Tokenizers(t, a.Tokenizer), int(limitOf(cfg)))
		if err != nil {
			t.Fatal(err)
		}
		out.Tokenizers[key] = histogramOf(ws, a.MaxLength, n)
		t.Logf("%s: %d examples, %d windows", key, n, len(ws))
	}
	// One line per tokenizer keeps the file small and its diffs readable.
	var b bytes.Buffer
	src, _ := json.Marshal(out.Source)
	fmt.Fprintf(&b, "{\"source\": %s,\n \"tokenizers\": {\n", src)
	keys := slices.Sorted(maps.Keys(out.Tokenizers))
	for i, k := range keys {
		h, err := json.Marshal(out.Tokenizers[k])
		if err != nil {
			t.Fatal(err)
		}
		sep := ","
		if i == len(keys)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "  %q: %s%s\n", k, h, sep)
	}
	b.WriteString(" }\n}\n")
	if _, err := parseHistograms(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("squad_v11_dev_lengths.json", b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func limitOf(cfg *models.Config) int64 { return cfg.MaxLength() }
