package nn

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/torch"
)

// ZeroRow on a loose tensor (a parameter) leaves no handle behind for the GC to collect later:
// an embedding's padding row is zeroed at every model build.
func TestZeroRowLeavesNoHandle(t *testing.T) {
	w := torch.Ones(nil, torch.Float32, torch.CPU, 3, 2)
	defer w.Free()
	before := torch.LiveTensors()
	ZeroRow(w, 1)
	require.Equal(t, before, torch.LiveTensors())
	require.Equal(t, []float32{1, 1, 0, 0, 1, 1}, w.Float32s())
}
