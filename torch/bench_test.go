package torch

import "testing"

// BenchmarkMatmul3072x768x3072 compares a matmul of that size through the Go binding with the
// same loop run entirely inside libtorch; both report GFLOP/s.
func BenchmarkMatmul3072x768x3072(b *testing.B) {
	const m, k, n = 3072, 768, 3072
	b.Run("binding", func(b *testing.B) {
		b.ReportMetric(MeasureGEMM(CPU, m, k, n, b.N+2), "GFLOP/s")
	})
	b.Run("libtorch-direct", func(b *testing.B) {
		b.ReportMetric(MeasureGEMMDirect(m, k, n, b.N+2), "GFLOP/s")
	})
}
