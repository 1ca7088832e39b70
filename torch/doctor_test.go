package torch

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// On a machine without a GPU, --device cuda must fail at once with a message that says why,
// whichever libtorch spanqa was built against (a CUDA libtorch loads fine without a GPU).
func TestCUDADeviceRefusedWithoutGPU(t *testing.T) {
	if CUDAAvailable() {
		t.Skip("a GPU is visible: nothing to refuse")
	}
	for _, s := range []string{"cuda", "cuda:0", "cuda:3"} {
		_, err := ParseDevice(s)
		require.Error(t, err, s)
		if CUDABuilt() {
			assert.Contains(t, err.Error(), "CUDA is not available on this machine", s)
		} else {
			assert.Contains(t, err.Error(), "built without CUDA", s)
		}
	}
	dev, err := ParseDevice("cpu")
	require.NoError(t, err)
	assert.Equal(t, CPU, dev)
	for _, bad := range []string{"gpu", "cuda:", "cuda:-1", "cuda:1x"} {
		_, err := ParseDevice(bad)
		assert.ErrorContains(t, err, "unknown device", bad)
	}
}

// The doctor's CUDA line is one line in every case, and says "not available" when it is not.
func TestReportCUDALine(t *testing.T) {
	cases := []struct {
		r    Report
		want string
	}{
		{Report{}, "CUDA:      not available (CPU-only build)\n"},
		{Report{CUDABuilt: true, CUDAInfo: CUDAInfo{Runtime: "13.2"}}, "CUDA:      not available (built with CUDA 13.2; no NVIDIA GPU or driver found)\n"},
		{Report{CUDABuilt: true, CUDA: true, CUDADevices: 1, CUDAInfo: CUDAInfo{Runtime: "13.2", CuDNN: "9.26.0",
			GPUs: []GPU{{Name: "NVIDIA H100", MemoryMiB: 81559, Capability: "9.0", BF16: true}}}},
			"CUDA:      available, 1 device(s), CUDA 13.2, cuDNN 9.26.0\nGPU 0:     NVIDIA H100, 81559 MiB, compute capability 9.0, bf16\n"},
	}
	for _, c := range cases {
		out := c.r.String()
		i := strings.Index(out, "CUDA:")
		require.GreaterOrEqual(t, i, 0, out)
		j := strings.Index(out, "GEMM:")
		assert.Equal(t, c.want, out[i:j])
	}
	// This machine's own report agrees with what the build is.
	live := Inspect()
	assert.Equal(t, CUDABuilt(), live.CUDABuilt)
	if !CUDAAvailable() {
		assert.Contains(t, live.String(), "CUDA:      not available (")
	}
}

// The BLAS warning fires only for OpenBLAS's pthread build.
func TestBLASWarningOnlyForPthreadOpenBLAS(t *testing.T) {
	for _, p := range mappedBLAS() {
		if strings.Contains(p, "openblas-pthread") {
			assert.NotEmpty(t, BLASWarning())
			return
		}
	}
	assert.Empty(t, BLASWarning(), "mapped: %v", mappedBLAS())
}
