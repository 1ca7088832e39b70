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
	assert.Equal(t, []AddedToken{
		{Content: "<unk>", ID: 0, Normalized: true, Special: true},
		{Content: "[CLS]", ID: 1, Special: true},
		{Content: "[MASK]", ID: 5, Special: true},
	}, sp.spmAddedTokens())

	// Without a charsmap the encoder strips, squeezes spaces and applies Metaspace.
	enc, err := sp.unigramEncoder()
	require.NoError(t, err)
	ps, err := enc.encode("  ab  c ")
	require.NoError(t, err)
	assert.Equal(t, []piece{{ID: 2, Text: "▁ab", Start: 2, End: 4}, {ID: 0, Text: "▁", Start: 5, End: 6}, {ID: 3, Text: "c", Start: 6, End: 7}}, ps)
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
	_, err = sp.unigramEncoder()
	assert.ErrorContains(t, err, "not Unigram")

	_, err = newUnigramFromSPM(filepath.Join(t.TempDir(), "missing.model"))
	assert.Error(t, err)
	bad := filepath.Join(t.TempDir(), "bad.model")
	require.NoError(t, os.WriteFile(bad, []byte{0x0a, 0x05, 0x01}, 0o644))
	_, err = newUnigramFromSPM(bad)
	assert.ErrorContains(t, err, "bad.model")
}

// TestSPMMatchesTokenizerJSON checks that the conversion from spm.model gives the model the
// converter wrote into tokenizer.json: same pieces, scores, unk and normaliser data.
func TestSPMMatchesTokenizerJSON(t *testing.T) {
	fromJSON, fromSPM := loadDebertaEncoders(t)
	require.Equal(t, fromJSON.model.pieces, fromSPM.model.pieces)
	require.Equal(t, fromJSON.model.scores, fromSPM.model.scores)
	assert.Equal(t, fromJSON.model.unkID, fromSPM.model.unkID)
	assert.Equal(t, fromJSON.model.unkScore, fromSPM.model.unkScore)
	assert.False(t, fromSPM.model.byteFallback)
	assert.Equal(t, *fromJSON.meta, *fromSPM.meta)
	require.Len(t, fromSPM.norm, len(fromJSON.norm))
	assert.Equal(t, fromJSON.norm[0], fromSPM.norm[0])
	assert.Equal(t, fromJSON.norm[1].(ugPrecompiled).cm.units, fromSPM.norm[1].(ugPrecompiled).cm.units)
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
		{Content: "[UNK]", ID: 3, Normalized: true, Special: true},
		{Content: "[MASK]", ID: 128000, Special: true},
	}, sp.spmAddedTokens())
}
