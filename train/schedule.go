package train

import (
	"fmt"
	"math"
)

// Schedule gives the learning-rate multiplier for an optimizer step, as HF's schedules
// (torch LambdaLR): the update number n (counting from 0) uses Factor(n).
type Schedule struct {
	// Kind is "linear" (HF's default), "cosine", "constant" or "constant_with_warmup".
	Kind        string
	WarmupSteps int64
	TotalSteps  int64
}

// Factor is the multiplier of the base learning rate at scheduler step n.
func (s Schedule) Factor(n int64) float64 {
	if s.Kind != "constant" && n < s.WarmupSteps {
		return float64(n) / float64(max(1, s.WarmupSteps))
	}
	switch s.Kind {
	case "constant", "constant_with_warmup":
		return 1
	case "cosine":
		progress := float64(n-s.WarmupSteps) / float64(max(1, s.TotalSteps-s.WarmupSteps))
		return math.Max(0, 0.5*(1+math.Cos(math.Pi*2*0.5*progress)))
	default: // linear
		return math.Max(0, float64(s.TotalSteps-n)/float64(max(1, s.TotalSteps-s.WarmupSteps)))
	}
}

// ParseScheduleKind checks an --lr-scheduler-type value.
func ParseScheduleKind(k string) (string, error) {
	switch k {
	case "", "linear":
		return "linear", nil
	case "cosine", "constant", "constant_with_warmup":
		return k, nil
	}
	return "", fmt.Errorf("train: lr scheduler %q is not supported (linear, cosine, constant, constant_with_warmup)", k)
}

// WarmupFor resolves HF's warmup_steps / warmup_ratio pair: explicit steps win.
func WarmupFor(steps int64, ratio float64, total int64) int64 {
	if steps > 0 {
		return steps
	}
	return int64(math.Ceil(ratio * float64(total)))
}
