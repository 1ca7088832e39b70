package tokenize

// templateItem is one element of a post-processor template: a sequence ($A or $B) or special
// tokens.
type templateItem struct {
	seq    int // 0 for $A, 1 for $B, -1 for special tokens
	typeID int64
	ids    []int64  // special tokens only
	tokens []string // special tokens only
}

// postProcessor is HF's post-processor reduced to what encoding needs: the single and pair
// templates (TemplateProcessing, BertProcessing and RobertaProcessing are all expressed this
// way) and RobertaProcessing's offset trimming.
type postProcessor struct {
	single, pair   []templateItem
	trimOffsets    bool
	addPrefixSpace bool
}

// added returns how many special tokens the template adds (HF's added_tokens(is_pair)).
func (p *postProcessor) added(pair bool) int {
	items := p.single
	if pair {
		items = p.pair
	}
	n := 0
	for _, it := range items {
		n += len(it.ids)
	}
	return n
}

func special(id int64, tok string, typeID int64) templateItem {
	return templateItem{seq: -1, typeID: typeID, ids: []int64{id}, tokens: []string{tok}}
}

// bertTemplates is "[CLS] $A [SEP]" and "[CLS] $A [SEP] $B:1 [SEP]:1".
func bertTemplates(cls, sep string, clsID, sepID int64) postProcessor {
	return postProcessor{
		single: []templateItem{special(clsID, cls, 0), {seq: 0}, special(sepID, sep, 0)},
		pair: []templateItem{special(clsID, cls, 0), {seq: 0}, special(sepID, sep, 0),
			{seq: 1, typeID: 1}, special(sepID, sep, 1)},
	}
}

// robertaTemplates is "<s> $A </s>" and "<s> $A </s> </s> $B </s>".
func robertaTemplates(cls, sep string, clsID, sepID int64, trim, addPrefixSpace bool) postProcessor {
	return postProcessor{
		single: []templateItem{special(clsID, cls, 0), {seq: 0}, special(sepID, sep, 0)},
		pair: []templateItem{special(clsID, cls, 0), {seq: 0}, special(sepID, sep, 0),
			special(sepID, sep, 0), {seq: 1}, special(sepID, sep, 0)},
		trimOffsets:    trim,
		addPrefixSpace: addPrefixSpace,
	}
}

// assemble lays out one encoding from a template and the (possibly truncated) sequences.
func (t *Tokenizer) assemble(items []templateItem, seqs [2]seqTokens) Encoding {
	n := 0
	for _, it := range items {
		if it.seq < 0 {
			n += len(it.ids)
		} else {
			n += seqs[it.seq].len()
		}
	}
	e := Encoding{
		IDs:         make([]int64, 0, n),
		Mask:        make([]int64, n),
		Offsets:     make([][2]int, 0, n),
		ByteOffsets: make([][2]int, 0, n),
		SequenceIDs: make([]int, 0, n),
		Tokens:      make([]string, 0, n),
	}
	if t.typeIDs {
		e.TypeIDs = make([]int64, 0, n)
	}
	for i := range e.Mask {
		e.Mask[i] = 1
	}
	for _, it := range items {
		if it.seq < 0 {
			for k, id := range it.ids {
				e.IDs = append(e.IDs, id)
				e.Tokens = append(e.Tokens, it.tokens[k])
				e.Offsets = append(e.Offsets, [2]int{})
				e.ByteOffsets = append(e.ByteOffsets, [2]int{})
				e.SequenceIDs = append(e.SequenceIDs, -1)
				if t.typeIDs {
					e.TypeIDs = append(e.TypeIDs, it.typeID)
				}
			}
			continue
		}
		s := seqs[it.seq]
		e.Offsets = append(e.Offsets, s.offsets...)
		for _, p := range s.pieces {
			e.IDs = append(e.IDs, p.ID)
			e.Tokens = append(e.Tokens, p.Text)
			e.ByteOffsets = append(e.ByteOffsets, [2]int{p.Start, p.End})
			e.SequenceIDs = append(e.SequenceIDs, it.seq)
			if t.typeIDs {
				e.TypeIDs = append(e.TypeIDs, it.typeID)
			}
		}
	}
	return e
}
