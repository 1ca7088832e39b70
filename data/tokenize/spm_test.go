package tokenize

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// protoWriter builds protobuf messages for the tests.
type protoWriter []byte

func (w protoWriter) key(num, wire int) protoWriter {
	return binary.AppendUvarint(w, uint64(num<<3|wire))
}

func (w protoWriter) varint(num int, v uint64) protoWriter {
	return binary.AppendUvarint(w.key(num, protoVarint), v)
}

func (w protoWriter) bytes(num int, b []byte) protoWriter {
	w = binary.AppendUvarint(w.key(num, protoBytes), uint64(len(b)))
	return append(w, b...)
}

func (w protoWriter) float(num int, f float32) protoWriter {
	return binary.LittleEndian.AppendUint32(w.key(num, protoFixed32), math.Float32bits(f))
}

// tinySPM is a serialized ModelProto with the given pieces, unk at id 0 and no charsmap.
func tinySPM(pieces []spmPiece, modelType int) []byte {
	var m protoWriter
	for _, p := range pieces {
		var pw protoWriter
		pw = pw.bytes(1, []byte(p.piece)).float(2, p.score)
		if p.typ != spmNormal {
			pw = pw.varint(3, uint64(p.typ))
		}
		m = m.bytes(1, pw)
	}
	var trainer protoWriter
	trainer = trainer.varint(3, uint64(modelType)).varint(35, 1).varint(40, 0).bytes(45, []byte("<unk>"))
	m = m.bytes(2, trainer)
	var norm protoWriter
	norm = norm.bytes(1, []byte("identity")).varint(3, 1)
	m = m.bytes(3, norm)
	// An unknown field must be skipped.
	m = m.bytes(99, []byte("ignored")).varint(100, 7)
	return m
}

func TestParseSPMTiny(t *testing.T) {
	pieces := []spmPiece{
		{piece: "<unk>", typ: spmUnknown}, {piece: "[CLS]", typ: spmControl}, {piece: "▁ab", score: -1, typ: spmNormal},
		{piece: "c", score: -2.5, typ: spmNormal}, {piece: "<0x41>", typ: spmByte},
	}
	sp, err := parseSPM(tinySPM(pieces, 1))
	require.NoError(t, err)
	assert.Equal(t, pieces, sp.pieces)
	assert.Equal(t, 1, sp.modelType)
	assert.Equal(t, 0, sp.unkID)
	assert.True(t, sp.byteFallback)
	assert.True(t, sp.addDummyPrefix)
	assert.True(t, sp.removeExtraSpaces) // proto2 default
	assert.Equal(t, "identity", sp.normalizerName)
	// transformers 5.x: the control pieces, then the special tokens DebertaV2Tokenizer declares,
	// at their ids or appended; none normalized.
	assert.Equal(t, []AddedToken{
		{Content: "[CLS]", ID: 1, Special: true},
		{Content: "[SEP]", ID: 5, Special: true},
		{Content: "[UNK]", ID: 6, Special: true},
		{Content: "[PAD]", ID: 7, Special: true},
		{Content: "[MASK]", ID: 8, Special: true},
	}, sp.spmAddedTokens())

	// Without a charsmap transformers normalises with NFC, which spanqa does not implement.
	_, err = sp.unigramEncoder(defaultSPMOptions)
	assert.ErrorContains(t, err, "charsmap")
}

func TestParseSPMErrors(t *testing.T) {
	good := tinySPM([]spmPiece{{piece: "<unk>", typ: spmUnknown}, {piece: "a", score: -1, typ: spmNormal}}, 1)
	for name, data := range map[string][]byte{
		"truncated":  good[:len(good)-5],
		"bad length": {0x0a, 0xff, 0x01},
		"bad key":    {0x80},
		"no pieces":  {},
		"wire type":  {0x0b},
	} {
		_, err := parseSPM(data)
		assert.Error(t, err, name)
	}
	sp, err := parseSPM(tinySPM([]spmPiece{{piece: "<unk>", typ: spmUnknown}}, 2))
	require.NoError(t, err)
	_, err = sp.unigramEncoder(defaultSPMOptions)
	assert.ErrorContains(t, err, "not Unigram")

	_, err = newUnigramFromSPM(filepath.Join(t.TempDir(), "missing.model"), defaultSPMOptions)
	assert.Error(t, err)
	bad := filepath.Join(t.TempDir(), "bad.model")
	require.NoError(t, os.WriteFile(bad, []byte{0x0a, 0x05, 0x01}, 0o644))
	_, err = newUnigramFromSPM(bad, defaultSPMOptions)
	assert.ErrorContains(t, err, "bad.model")
}

// TestSPMMatchesTokenizerJSON checks that the model converted from spm.model is the one the
// converter wrote into tokenizer.json (same pieces, unk, charsmap; the scores are the float32
// values exactly, where tokenizers' reading of the JSON text may be 1 ULP off), and that the
// pipeline around it is transformers 5.x's: [Precompiled, Strip(right), Replace(" {2,}")] and
// Metaspace, where the 4.x converter wrote [Strip(both), Precompiled, Replace].
func TestSPMMatchesTokenizerJSON(t *testing.T) {
	fromJSON, fromSPM := loadDebertaEncoders(t)
	require.Equal(t, fromJSON.model.pieces, fromSPM.model.pieces)
	require.Len(t, fromSPM.model.scores, len(fromJSON.model.scores))
	for i, s := range fromSPM.model.scores {
		j := fromJSON.model.scores[i]
		require.Equal(t, float64(float32(s)), s, "piece %d: not a float32 score", i)
		require.True(t, s == j || math.Nextafter(s, j) == j, "piece %d: spm %v, tokenizer.json %v", i, s, j)
	}
	assert.Equal(t, fromJSON.model.unkID, fromSPM.model.unkID)
	assert.Equal(t, fromJSON.model.unkScore, fromSPM.model.unkScore)
	assert.False(t, fromSPM.model.byteFallback)
	assert.Equal(t, *fromJSON.meta, *fromSPM.meta)
	require.Len(t, fromSPM.norm, 3)
	require.Len(t, fromJSON.norm, 3)
	assert.Equal(t, ugStrip{left: true, right: true}, fromJSON.norm[0])
	assert.Equal(t, fromJSON.norm[1].(ugPrecompiled).cm.units, fromSPM.norm[0].(ugPrecompiled).cm.units)
	assert.Equal(t, ugStrip{left: false, right: true}, fromSPM.norm[1])
	assert.Equal(t, fromJSON.norm[2], fromSPM.norm[2])

	data, err := os.ReadFile(filepath.Join(fixtures.Tokenizers(t, "deberta-v3-base"), "spm.model"))
	require.NoError(t, err)
	sp, err := parseSPM(data)
	require.NoError(t, err)
	assert.Equal(t, "nmt_nfkc", sp.normalizerName)
	assert.True(t, sp.byteFallback) // in the model, but the converter turns it off
	assert.Equal(t, []AddedToken{
		{Content: "[PAD]", ID: 0, Special: true},
		{Content: "[CLS]", ID: 1, Special: true},
		{Content: "[SEP]", ID: 2, Special: true},
		{Content: "[UNK]", ID: 3, Special: true},
		{Content: "[MASK]", ID: 128000, Special: true},
	}, sp.spmAddedTokens())
}

// TestSPMOptions checks the tokenizer_config.json options of the spm.model path.
func TestSPMOptions(t *testing.T) {
	write := func(cfg string) string {
		dir := legacyDir(t, "deberta-v3-base", "spm.model")
		require.NoError(t, os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(cfg), 0o644))
		return dir
	}
	tok, err := Load(write(`{"do_lower_case": true}`))
	require.NoError(t, err)
	lower, err := tok.Encode("Hello WORLD")
	require.NoError(t, err)
	tok, err = Load(write(`{}`))
	require.NoError(t, err)
	plain, err := tok.Encode("hello world")
	require.NoError(t, err)
	assert.Equal(t, plain.IDs, lower.IDs)

	_, err = Load(write(`{"split_by_punct": true}`))
	assert.ErrorContains(t, err, "split_by_punct")
}
