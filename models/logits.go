package models

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spanqa/spanqa/torch"
)

// LogitsInput is the JSON `spanqa logits` reads: rows of equal length.
type LogitsInput struct {
	InputIDs            [][]int64 `json:"input_ids"`
	AttentionMask       [][]int64 `json:"attention_mask"`
	TokenTypeIDs        [][]int64 `json:"token_type_ids,omitempty"`
	GlobalAttentionMask [][]int64 `json:"global_attention_mask,omitempty"`
}

// LogitsOutput is what it prints: one row per input row at full length.
type LogitsOutput struct {
	StartLogits [][]float32 `json:"start_logits"`
	EndLogits   [][]float32 `json:"end_logits"`
}

// ReadLogitsInput parses and checks a LogitsInput.
func ReadLogitsInput(r io.Reader) (*LogitsInput, error) {
	var in LogitsInput
	dec := json.NewDecoder(r)
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("logits input: %w", err)
	}
	if len(in.InputIDs) == 0 {
		return nil, fmt.Errorf("logits input: no input_ids rows")
	}
	width := len(in.InputIDs[0])
	check := func(name string, rows [][]int64, optional bool) error {
		if rows == nil && optional {
			return nil
		}
		if len(rows) != len(in.InputIDs) {
			return fmt.Errorf("logits input: %s has %d rows, input_ids %d", name, len(rows), len(in.InputIDs))
		}
		for i, r := range rows {
			if len(r) != width {
				return fmt.Errorf("logits input: %s row %d has %d entries, want %d", name, i, len(r), width)
			}
		}
		return nil
	}
	for _, c := range []struct {
		name     string
		rows     [][]int64
		optional bool
	}{{"input_ids", in.InputIDs, false}, {"attention_mask", in.AttentionMask, true},
		{"token_type_ids", in.TokenTypeIDs, true}, {"global_attention_mask", in.GlobalAttentionMask, true}} {
		if err := check(c.name, c.rows, c.optional); err != nil {
			return nil, err
		}
	}
	return &in, nil
}

// Logits runs m in eval mode without gradients on in.
func Logits(m QAModel, in *LogitsInput) (*LogitsOutput, error) {
	var out LogitsOutput
	var ferr error
	torch.WithScope(func(s *torch.Scope) {
		dev := m.Params().Device()
		mk := func(rows [][]int64) *torch.Tensor {
			if rows == nil {
				return nil
			}
			var flat []int64
			for _, r := range rows {
				flat = append(flat, r...)
			}
			return s.Adopt(torch.FromSlice(nil, flat, int64(len(rows)), int64(len(rows[0]))).ToDevice(dev))
		}
		inputs := Inputs{IDs: mk(in.InputIDs), Mask: mk(in.AttentionMask), TypeIDs: mk(in.TokenTypeIDs), GlobalMask: mk(in.GlobalAttentionMask)}
		torch.NoGrad(func() {
			var o Output
			o, ferr = Forward(m, inputs, false)
			if ferr != nil {
				return
			}
			out.StartLogits = rows32(o.StartLogits)
			out.EndLogits = rows32(o.EndLogits)
		})
	})
	if ferr != nil {
		return nil, ferr
	}
	return &out, nil
}

func rows32(t *torch.Tensor) [][]float32 {
	v := t.Float32s()
	b, l := int(t.Size(0)), int(t.Size(1))
	out := make([][]float32, b)
	for i := range out {
		out[i] = v[i*l : (i+1)*l]
	}
	return out
}
