package eval

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeNoAnswerProbs(t *testing.T) {
	p, err := DecodeNoAnswerProbs(strings.NewReader(`{"a": 0.5, "b": 1, "a": 2e-1, "c": -0}`))
	require.NoError(t, err)
	assert.Equal(t, NoAnswerProbs{{ID: "a", Prob: 0.2}, {ID: "b", Prob: 1, IsInt: true}, {ID: "c", Prob: 0, IsInt: true}}, p)
	_, err = DecodeNoAnswerProbs(strings.NewReader(`{"a": "x"}`))
	assert.ErrorContains(t, err, "not a number")
	_, err = DecodeNoAnswerProbs(strings.NewReader(`[]`))
	assert.Error(t, err)
}
