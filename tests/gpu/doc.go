// Package gpu is spanqa's GPU check (tests/gpu/check.sh, `make gpu-check`): the CUDA-vs-CPU
// parity tests of this package, the serve load generator in loadgen/, and the script that
// builds, proves and benchmarks spanqa on an NVIDIA GPU in one short run.
//
// The tests skip where no CUDA device is visible, so `make test` passes on CPU machines.
// SPANQA_GPU_REQUIRE=1 turns that skip into a failure (the check script sets it, so a GPU
// run cannot pass by not seeing its GPU), and SPANQA_GPU_DEVICE=cpu runs the same comparisons
// with the CPU standing in for the device (the script's --dry-run), which keeps the plumbing
// from rotting between the rare runs on a GPU.
package gpu
