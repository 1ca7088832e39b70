package tokenize

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
)

// This file reads a SentencePiece model (spm.model, a serialized sentencepiece.ModelProto) with a
// minimal protobuf wire-format reader, and builds from it the pipeline transformers 5.x builds
// for a DeBERTa-v2/v3 folder that has no tokenizer.json (see newUnigramFromSPM).

// SentencePiece piece types (ModelProto.SentencePiece.Type).
const (
	spmNormal      = 1
	spmUnknown     = 2
	spmControl     = 3
	spmUserDefined = 4
	spmUnused      = 5
	spmByte        = 6
)

// spmPiece is one vocabulary entry of a SentencePiece model.
type spmPiece struct {
	piece string
	score float32
	typ   int
}

// spmModel holds the fields of ModelProto the conversion needs.
type spmModel struct {
	pieces []spmPiece
	// trainer_spec
	modelType    int
	unkID        int
	byteFallback bool
	// normalizer_spec
	normalizerName       string
	charsmap             []byte
	addDummyPrefix       bool
	removeExtraSpaces    bool
	escapeWhitespaces    bool
	treatWhitespaceAsSfx bool
}

// protobuf wire types.
const (
	protoVarint  = 0
	protoFixed64 = 1
	protoBytes   = 2
	protoFixed32 = 5
)

// protoField is one decoded field of a message: its number, wire type and either the varint /
// fixed value or the length-delimited payload.
type protoField struct {
	num   int
	wire  int
	value uint64
	data  []byte
}

// protoFields iterates over the fields of a serialized message, calling fn for each.
func protoFields(msg []byte, fn func(f protoField) error) error {
	for len(msg) > 0 {
		key, n := binary.Uvarint(msg)
		if n <= 0 {
			return errors.New("protobuf: bad field key")
		}
		msg = msg[n:]
		f := protoField{num: int(key >> 3), wire: int(key & 7)}
		switch f.wire {
		case protoVarint:
			v, n := binary.Uvarint(msg)
			if n <= 0 {
				return fmt.Errorf("protobuf: bad varint in field %d", f.num)
			}
			f.value, msg = v, msg[n:]
		case protoFixed64:
			if len(msg) < 8 {
				return fmt.Errorf("protobuf: truncated fixed64 field %d", f.num)
			}
			f.value, msg = binary.LittleEndian.Uint64(msg), msg[8:]
		case protoFixed32:
			if len(msg) < 4 {
				return fmt.Errorf("protobuf: truncated fixed32 field %d", f.num)
			}
			f.value, msg = uint64(binary.LittleEndian.Uint32(msg)), msg[4:]
		case protoBytes:
			l, n := binary.Uvarint(msg)
			if n <= 0 || l > uint64(len(msg)-n) {
				return fmt.Errorf("protobuf: bad length in field %d", f.num)
			}
			f.data, msg = msg[n:n+int(l)], msg[n+int(l):]
		default:
			return fmt.Errorf("protobuf: unsupported wire type %d in field %d", f.wire, f.num)
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

// parseSPM decodes a serialized sentencepiece.ModelProto. Field numbers follow
// sentencepiece_model.proto; unknown fields are skipped. Defaults are the proto2 defaults.
func parseSPM(data []byte) (*spmModel, error) {
	m := &spmModel{
		modelType: 1, unkID: 0,
		addDummyPrefix: true, removeExtraSpaces: true, escapeWhitespaces: true,
	}
	err := protoFields(data, func(f protoField) error {
		switch {
		case f.num == 1 && f.wire == protoBytes: // repeated SentencePiece pieces
			p := spmPiece{typ: spmNormal}
			err := protoFields(f.data, func(g protoField) error {
				switch {
				case g.num == 1 && g.wire == protoBytes:
					p.piece = string(g.data)
				case g.num == 2 && g.wire == protoFixed32:
					p.score = math.Float32frombits(uint32(g.value))
				case g.num == 3 && g.wire == protoVarint:
					p.typ = int(g.value)
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("piece %d: %w", len(m.pieces), err)
			}
			m.pieces = append(m.pieces, p)
		case f.num == 2 && f.wire == protoBytes: // TrainerSpec
			return protoFields(f.data, func(g protoField) error {
				if g.wire != protoVarint {
					return nil
				}
				switch g.num {
				case 3:
					m.modelType = int(g.value)
				case 35:
					m.byteFallback = g.value != 0
				case 40:
					m.unkID = int(int32(g.value))
				}
				return nil
			})
		case f.num == 3 && f.wire == protoBytes: // NormalizerSpec
			return protoFields(f.data, func(g protoField) error {
				switch {
				case g.num == 1 && g.wire == protoBytes:
					m.normalizerName = string(g.data)
				case g.num == 2 && g.wire == protoBytes:
					m.charsmap = g.data
				case g.num == 3 && g.wire == protoVarint:
					m.addDummyPrefix = g.value != 0
				case g.num == 4 && g.wire == protoVarint:
					m.removeExtraSpaces = g.value != 0
				case g.num == 5 && g.wire == protoVarint:
					m.escapeWhitespaces = g.value != 0
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sentencepiece model: %w", err)
	}
	if len(m.pieces) == 0 {
		return nil, errors.New("sentencepiece model: no pieces")
	}
	return m, nil
}

// spmOptions are the arguments of transformers' DebertaV2Tokenizer (from tokenizer_config.json)
// that shape the pipeline it builds from spm.model.
type spmOptions struct {
	lowercase      bool // do_lower_case (default false): Lowercase before everything else
	addPrefixSpace bool // add_prefix_space (default true): Metaspace prepends "always", else "first"
}

// defaultSPMOptions are DebertaV2Tokenizer's defaults.
var defaultSPMOptions = spmOptions{addPrefixSpace: true}

// newUnigramFromSPM reads a SentencePiece Unigram model and builds the pipeline transformers 5.x
// builds from it when a folder has spm.model but no tokenizer.json (microsoft/deberta-v3-base on
// the hub): DebertaV2Tokenizer.__init__ with the vocabulary SentencePieceExtractor reads. The
// vocabulary is the (piece, score) list with the float32 scores exactly, byte_fallback is OFF
// (unknown characters become the unk token, fused), the normalisers are [Lowercase,] the model's
// precompiled charsmap, Strip(right only) and Replace(" {2,}", " "), and Metaspace("▁") splits.
//
// This is not what transformers 4.x's DebertaV2Converter wrote into tokenizer.json files
// (Strip on both sides BEFORE the charsmap, so leading white space, and characters the charsmap
// turns into spaces, were dropped; ../shared's deberta-v3-base tokenizer.json is such a file):
// on random text the two differ in about a third of the pairs. A tokenizer.json is loaded as it
// is written; only the spm.model path follows today's transformers.
//
// The returned encoder does not match any added token by itself: the pipeline gets the added
// tokens transformers declares from its addedTokens method.
func newUnigramFromSPM(path string, opt spmOptions) (sequenceEncoder, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sentencepiece model: %w", err)
	}
	sp, err := parseSPM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	enc, err := sp.unigramEncoder(opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	enc.spmAdded = sp.spmAddedTokens()
	return enc, nil
}

func (sp *spmModel) unigramEncoder(opt spmOptions) (*unigramEncoder, error) {
	if sp.modelType != 1 {
		return nil, fmt.Errorf("sentencepiece model type %d is not Unigram (1)", sp.modelType)
	}
	if len(sp.charsmap) == 0 {
		// transformers then normalises with Replace(\s{2,}|[\n\r\t]), NFC and Strip, which
		// spanqa does not implement; every DeBERTa-v2/v3 model has a charsmap (nmt_nfkc).
		return nil, errors.New("sentencepiece model has no precompiled charsmap (transformers would use NFC instead; not supported)")
	}
	pieces := make([]string, len(sp.pieces))
	scores := make([]float64, len(sp.pieces))
	unk := sp.unkID
	unkFound := false
	for i, p := range sp.pieces {
		pieces[i] = p.piece
		scores[i] = float64(p.score)
		// DebertaV2Tokenizer: unk_id = vocab.index(("[UNK]", 0.0)) when that entry exists.
		if !unkFound && p.piece == "[UNK]" && p.score == 0 {
			unk, unkFound = i, true
		}
	}
	model, err := newUnigramModel(pieces, scores, unk, false)
	if err != nil {
		return nil, err
	}
	var norm []ugNormStep
	if opt.lowercase {
		norm = append(norm, ugLowercase{})
	}
	cm, err := parsePrecompiledCharsmap(sp.charsmap)
	if err != nil {
		return nil, err
	}
	norm = append(norm, ugPrecompiled{cm}, ugStrip{left: false, right: true}, ugSpaceRuns{})
	meta := &ugMetaspace{replacement: '▁', repl: "▁", replBytes: []byte("▁"), prepend: ugPrependAlways, split: true}
	if !opt.addPrefixSpace {
		meta.prepend = ugPrependFirst
	}
	return newUnigramEncoder(model, norm, meta), nil
}

// spmSpecialTokens are DebertaV2Tokenizer's special tokens in transformers' attribute order
// (bos, eos, unk, sep, pad, cls, mask).
var spmSpecialTokens = []string{"[CLS]", "[SEP]", "[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"}

// spmAddedTokens lists the added tokens of the tokenizer transformers 5.x builds from spm.model:
// the control pieces, then the special tokens not among them (at their vocabulary id, or appended
// after the vocabulary when the model lacks them, as "[MASK]" in DeBERTa-v3). Every one is
// matched on the original text (normalized=false), [UNK] included.
func (sp *spmModel) spmAddedTokens() []AddedToken {
	var out []AddedToken
	have := map[string]bool{}
	ids := map[string]int64{} // the last id of each piece, as the Unigram model keeps it
	for i, p := range sp.pieces {
		ids[p.piece] = int64(i)
		if p.typ == spmControl {
			out = append(out, AddedToken{Content: p.piece, ID: int64(i), Special: true})
			have[p.piece] = true
		}
	}
	next := int64(len(sp.pieces))
	for _, s := range spmSpecialTokens {
		if have[s] {
			continue
		}
		have[s] = true
		id, ok := ids[s]
		if !ok {
			id = next
			next++
		}
		out = append(out, AddedToken{Content: s, ID: id, Special: true})
	}
	return out
}
