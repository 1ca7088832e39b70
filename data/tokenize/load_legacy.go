package tokenize

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// loadBertVocab builds what transformers' BertConverter builds from a vocab.txt: BertNormalizer
// (lower-casing per do_lower_case, default true), BertPreTokenizer, WordPiece with "##" and
// max_input_chars_per_word 100, and "[CLS] $A [SEP] $B:1 [SEP]:1".
func loadBertVocab(path string, cfg *tokenizerConfig) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading vocab.txt: %w", err)
	}
	vocab := make(map[string]int32)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for id := int32(0); sc.Scan(); id++ {
		vocab[strings.TrimRight(sc.Text(), " \t\r")] = id
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading vocab.txt: %w", err)
	}
	model, err := newWordPiece(vocab, "[UNK]", "##", 100)
	if err != nil {
		return nil, err
	}
	lower := cfg.DoLowerCase == nil || *cfg.DoLowerCase
	strip := lower
	if cfg.StripAccents != nil {
		strip = *cfg.StripAccents
	}
	chinese := cfg.TokenizeChineseChars == nil || *cfg.TokenizeChineseChars
	t := &Tokenizer{kind: WordPiece, typeIDs: true,
		enc: newWordPieceEncoder(bertNormalizer{cleanText: true, handleChinese: chinese, stripAccents: strip, lowercase: lower}, model)}
	for _, s := range []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"} {
		if id, ok := vocab[s]; ok {
			t.added = append(t.added, AddedToken{ID: int64(id), Content: s, Special: true})
		}
	}
	cls, okC := vocab["[CLS]"]
	sep, okS := vocab["[SEP]"]
	if !okC || !okS {
		return nil, fmt.Errorf("vocab.txt lacks [CLS] or [SEP]")
	}
	t.post = bertTemplates("[CLS]", "[SEP]", int64(cls), int64(sep))
	t.finish(cfg, vocab)
	return t, nil
}

// loadRobertaFiles builds what transformers 5.x's RobertaTokenizer builds from vocab.json and
// merges.txt: ByteLevel (add_prefix_space per config, default false) + BPE, RobertaProcessing
// with trim_offsets, and the added tokens <s> <pad> </s> <unk> and <mask>.
func loadRobertaFiles(vocabPath, mergesPath string, cfg *tokenizerConfig) (*Tokenizer, error) {
	data, err := os.ReadFile(vocabPath)
	if err != nil {
		return nil, fmt.Errorf("reading vocab.json: %w", err)
	}
	var vocab map[string]int32
	if err := json.Unmarshal(data, &vocab); err != nil {
		return nil, fmt.Errorf("parsing vocab.json: %w", err)
	}
	data, err = os.ReadFile(mergesPath)
	if err != nil {
		return nil, fmt.Errorf("reading merges.txt: %w", err)
	}
	var merges [][2]string
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || (i == 0 && strings.HasPrefix(line, "#version")) {
			continue
		}
		a, b, ok := strings.Cut(line, " ")
		if !ok {
			return nil, fmt.Errorf("merges.txt line %d %q is not two tokens", i+1, line)
		}
		merges = append(merges, [2]string{a, b})
	}
	model, err := newBPE(vocab, merges, "", false, "", "", false)
	if err != nil {
		return nil, err
	}
	addPrefix := cfg.AddPrefixSpace != nil && *cfg.AddPrefixSpace
	trim := cfg.TrimOffsets == nil || *cfg.TrimOffsets
	t := &Tokenizer{kind: BPE, enc: newByteLevelEncoder(model, addPrefix, true)}
	// transformers 5.x's RobertaTokenizer passes its special tokens as plain strings: no lstrip on
	// <mask> (4.x's slow-to-fast conversion gave it lstrip=True, as roberta-base's tokenizer.json
	// has it), and none is normalized.
	for _, s := range []string{"<s>", "<pad>", "</s>", "<unk>", "<mask>"} {
		if id, ok := vocab[s]; ok {
			t.added = append(t.added, AddedToken{ID: int64(id), Content: s, Special: true})
		}
	}
	cls, okC := vocab["<s>"]
	sep, okS := vocab["</s>"]
	if !okC || !okS {
		return nil, fmt.Errorf("vocab.json lacks <s> or </s>")
	}
	t.post = robertaTemplates("<s>", "</s>", int64(cls), int64(sep), trim, addPrefix)
	t.finish(cfg, vocab)
	return t, nil
}

// loadSPMFile builds what transformers 5.x's DebertaV2Tokenizer builds from spm.model (see
// newUnigramFromSPM), with do_lower_case and add_prefix_space from tokenizer_config.json: the
// Unigram pipeline, its added tokens (control pieces and special tokens, all matched on the
// original text, "[MASK]" appended after the pieces when the model lacks it), and
// "[CLS] $A [SEP] $B:1 [SEP]:1".
func loadSPMFile(path string, cfg *tokenizerConfig) (*Tokenizer, error) {
	if cfg.SplitByPunct != nil && *cfg.SplitByPunct {
		return nil, fmt.Errorf("split_by_punct=true (a Punctuation pre-tokenizer before Metaspace) is not supported")
	}
	opt := defaultSPMOptions
	if cfg.DoLowerCase != nil {
		opt.lowercase = *cfg.DoLowerCase
	}
	if cfg.AddPrefixSpace != nil {
		opt.addPrefixSpace = *cfg.AddPrefixSpace
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading spm.model: %w", err)
	}
	sp, err := parseSPM(data)
	if err != nil {
		return nil, err
	}
	vocab := make(map[string]int32, len(sp.pieces))
	for i, p := range sp.pieces {
		if _, dup := vocab[p.piece]; !dup {
			vocab[p.piece] = int32(i)
		}
	}
	enc, err := newUnigramFromSPM(path, opt)
	if err != nil {
		return nil, err
	}
	t := &Tokenizer{kind: Unigram, enc: enc, typeIDs: true}
	if at, ok := enc.(interface{ addedTokens() []AddedToken }); ok {
		t.added = at.addedTokens()
	}
	find := func(s string) (int64, bool) {
		for _, a := range t.added {
			if a.Content == s {
				return a.ID, true
			}
		}
		id, ok := vocab[s]
		return int64(id), ok
	}
	cls, okC := find("[CLS]")
	sep, okS := find("[SEP]")
	if !okC || !okS {
		return nil, fmt.Errorf("spm.model lacks [CLS] or [SEP]")
	}
	t.post = bertTemplates("[CLS]", "[SEP]", cls, sep)
	t.finish(cfg, vocab)
	return t, nil
}
