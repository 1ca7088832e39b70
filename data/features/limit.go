package features

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ModelLimit reads dir/config.json and returns the longest input the model's position
// embeddings allow: max_position_embeddings, less pad_token_id+1 for models that number positions
// after the padding index (RoBERTa, Longformer: 514 -> 512, 4098 -> 4096). DeBERTa-v2/v3 without
// absolute positions (position_biased_input false) has no such limit. 0 means no limit, also when
// there is no config.json.
func ModelLimit(dir string) (int, error) {
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("features: %w", err)
	}
	var cfg struct {
		ModelType             string `json:"model_type"`
		MaxPositionEmbeddings int    `json:"max_position_embeddings"`
		PadTokenID            *int   `json:"pad_token_id"`
		PositionBiasedInput   *bool  `json:"position_biased_input"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return 0, fmt.Errorf("features: %s: %w", filepath.Join(dir, "config.json"), err)
	}
	n := cfg.MaxPositionEmbeddings
	switch cfg.ModelType {
	case "roberta", "longformer", "xlm-roberta", "camembert":
		pad := 1
		if cfg.PadTokenID != nil {
			pad = *cfg.PadTokenID
		}
		n -= pad + 1
	case "deberta-v2", "deberta":
		if cfg.PositionBiasedInput != nil && !*cfg.PositionBiasedInput {
			return 0, nil
		}
	}
	return max(n, 0), nil
}
