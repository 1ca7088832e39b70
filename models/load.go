package models

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spanqa/spanqa/torch"
	"github.com/spanqa/spanqa/torch/weights"
)

// LoadOptions tune Load.
type LoadOptions struct {
	// Device to put the parameters on (default CPU).
	Device torch.Device
	// DType casts the floating-point weights (default float32; float16/bfloat16 checkpoints
	// are widened unless asked otherwise), as from_pretrained(torch_dtype=...) does.
	DType torch.DType
	// ConfigOverrides are "key=value,..." applied to config.json before building.
	ConfigOverrides string
	// Log receives notes such as "qa_outputs initialised" (default: the standard logger).
	Log *log.Logger
}

// Load reads a Hugging Face model folder: config.json picks the architecture and the weights
// come from model.safetensors, its sharded index or pytorch_model.bin. Loading is strict:
// every parameter must be present with the right shape, except the QA head, which a base
// checkpoint (bert-base-uncased, say) lacks and which is then initialised as HF does.
func Load(dir string, opt LoadOptions) (QAModel, error) {
	cfg, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("models: load %s: %w", dir, err)
	}
	if err := cfg.Override(opt.ConfigOverrides); err != nil {
		return nil, fmt.Errorf("models: load %s: %w", dir, err)
	}
	set, err := weights.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("models: load %s: %w", dir, err)
	}
	defer set.Close()
	m, err := New(cfg, opt.Device)
	if err != nil {
		return nil, fmt.Errorf("models: load %s: %w", dir, err)
	}
	logger := opt.Log
	if logger == nil {
		logger = log.New(os.Stderr, "", log.LstdFlags)
	}
	if err := LoadWeights(m, set, logger); err != nil {
		m.Params().Free()
		return nil, fmt.Errorf("models: load %s: %w", dir, err)
	}
	if opt.DType != 0 && opt.DType != torch.Float32 {
		if !opt.DType.IsFloat() {
			m.Params().Free()
			return nil, fmt.Errorf("models: load %s: dtype %v is not a floating-point type", dir, opt.DType)
		}
		if err := torch.Catch(func() { m.Params().To(opt.Device, opt.DType) }); err != nil {
			m.Params().Free()
			return nil, fmt.Errorf("models: load %s: cast to %v: %w", dir, opt.DType, err)
		}
	}
	return m, nil
}

// ignoredKeys are checkpoint entries HF also drops when loading a QA model: pre-training heads,
// the pooler (QA models build the encoder without one) and non-persistent buffers.
func ignoredKey(k string) bool {
	return strings.HasPrefix(k, "cls.") || strings.HasPrefix(k, "lm_head.") || strings.Contains(k, "pooler.") ||
		strings.HasSuffix(k, "position_ids") || strings.HasSuffix(k, "token_type_ids") ||
		strings.HasPrefix(k, "mask_predictions.") || strings.HasPrefix(k, "lm_predictions.") ||
		strings.HasPrefix(k, "classifier.") ||
		// DeBERTa checkpoints with position_biased_input=false may still carry an absolute
		// position table the model does not use; HF skips it too.
		strings.HasSuffix(k, "embeddings.position_embeddings.weight")
}

// legacyName maps old TF-era names (LayerNorm.gamma/beta) to today's, as HF does.
func legacyName(k string) string {
	k = strings.ReplaceAll(k, "LayerNorm.gamma", "LayerNorm.weight")
	return strings.ReplaceAll(k, "LayerNorm.beta", "LayerNorm.bias")
}

// LoadWeights copies tensors from set into m's parameters (casting f16/bf16/f64 to the
// parameter dtype), reporting every missing, unexpected and mis-shaped key at once.
func LoadWeights(m QAModel, set weights.Set, logger *log.Logger) error {
	params := m.Params()
	prefix := basePrefix(m.Config().ModelType)
	// Index the checkpoint by the parameter name it feeds: keys with or without the base
	// prefix ("bert.") both load, as with HF's base_model_prefix handling.
	source := map[string]string{}
	var unexpected []string
	for _, k := range set.Names() {
		name := legacyName(k)
		if params.Get(name) == nil && params.Get(prefix+name) != nil {
			name = prefix + name
		}
		if params.Get(name) == nil {
			if !ignoredKey(k) {
				unexpected = append(unexpected, k)
			}
			continue
		}
		source[name] = k
	}
	var missing, headMissing, misshaped []string
	for _, name := range params.Names() {
		k, ok := source[name]
		if !ok {
			if strings.HasPrefix(name, "qa_outputs.") {
				headMissing = append(headMissing, name)
			} else {
				missing = append(missing, name)
			}
			continue
		}
		w, err := set.Get(k)
		if err != nil {
			return fmt.Errorf("weights: %s: %w", k, err)
		}
		want := params.Get(name).Shape()
		if !sameShape(w.Shape, want) {
			misshaped = append(misshaped, fmt.Sprintf("%s: checkpoint %v, model %v", k, w.Shape, want))
		}
	}
	if len(missing)+len(misshaped)+len(unexpected) > 0 {
		return keyDiff(missing, unexpected, misshaped)
	}
	err := torch.Catch(func() {
		torch.NoGrad(func() {
			for name, k := range source {
				w, err := set.Get(k)
				if err != nil {
					panic(&torch.Error{Op: "load", Msg: err.Error()})
				}
				copyInto(params.Get(name), w)
			}
		})
	})
	if err != nil {
		return fmt.Errorf("weights: %w", err)
	}
	if len(headMissing) > 0 {
		initHead(m)
		logger.Printf("models: %s not in the checkpoint: initialised from N(0, %g) with zero bias (a base checkpoint; train before use)",
			strings.Join(headMissing, ", "), m.Config().InitializerRange)
	}
	return nil
}

func basePrefix(modelType string) string {
	switch modelType {
	case "deberta-v2":
		return "deberta."
	default:
		return modelType + "."
	}
}

func sameShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// keyDiff is the readable report of a checkpoint that does not fit the model.
type keyDiffError struct{ Missing, Unexpected, Misshaped []string }

func keyDiff(missing, unexpected, misshaped []string) error {
	return &keyDiffError{Missing: missing, Unexpected: unexpected, Misshaped: misshaped}
}

func (e *keyDiffError) Error() string {
	var b strings.Builder
	b.WriteString("checkpoint does not match the model:")
	section := func(title string, keys []string) {
		if len(keys) == 0 {
			return
		}
		sort.Strings(keys)
		fmt.Fprintf(&b, "\n  %s (%d):", title, len(keys))
		for i, k := range keys {
			if i == 20 {
				fmt.Fprintf(&b, "\n    ... and %d more", len(keys)-20)
				break
			}
			fmt.Fprintf(&b, "\n    %s", k)
		}
	}
	section("missing", e.Missing)
	section("mis-shaped", e.Misshaped)
	section("unexpected", e.Unexpected)
	return b.String()
}

// copyInto writes checkpoint tensor w into parameter p, converting dtype on the way.
func copyInto(p *torch.Tensor, w weights.Tensor) {
	src := torch.FromBytes(nil, torchDType(w.DType), w.Data, w.Shape...)
	defer src.Free()
	p.Copy_(src)
}

// dtypePairs maps checkpoint dtypes to tensor dtypes and back.
var dtypePairs = []struct {
	w weights.DType
	t torch.DType
}{
	{weights.F32, torch.Float32}, {weights.F16, torch.Float16}, {weights.BF16, torch.BFloat16},
	{weights.F64, torch.Float64}, {weights.I64, torch.Int64}, {weights.I32, torch.Int32},
	{weights.I8, torch.Int8}, {weights.U8, torch.Uint8}, {weights.BOOL, torch.Bool},
}

func torchDType(d weights.DType) torch.DType {
	for _, p := range dtypePairs {
		if p.w == d {
			return p.t
		}
	}
	return torch.Float32
}

func weightsDType(d torch.DType) weights.DType {
	for _, p := range dtypePairs {
		if p.t == d {
			return p.w
		}
	}
	return weights.F32
}

// initHead initialises qa_outputs as HF's _init_weights does.
func initHead(m QAModel) {
	p := m.Params()
	torch.NoGrad(func() {
		p.Get("qa_outputs.weight").Normal_(0, m.Config().InitializerRange)
		p.Get("qa_outputs.bias").Zero_()
	})
}

// StateDict returns every parameter as a host tensor with its HF key, in HF order, for saving.
func StateDict(m QAModel) ([]weights.Tensor, error) {
	var out []weights.Tensor
	err := torch.Catch(func() {
		p := m.Params()
		for _, name := range p.Names() {
			t := p.Get(name)
			out = append(out, weights.Tensor{Name: name, DType: weightsDType(t.DType()), Shape: t.Shape(), Data: t.Bytes()})
		}
	})
	return out, err
}

// SaveWeights writes the parameters to path as safetensors with HF key names (and
// {"format": "pt"} metadata, which HF Transformers requires to load it).
func SaveWeights(m QAModel, path string) error {
	sd, err := StateDict(m)
	if err != nil {
		return fmt.Errorf("models: save %s: %w", path, err)
	}
	if err := weights.WriteSafetensors(path, sd, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("models: save %s: %w", path, err)
	}
	return nil
}
