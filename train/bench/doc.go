// Package bench is `spanqa bench` (`make bench`): how fast each architecture trains and infers
// at its base size, with random weights, on the CPU or a CUDA device.
//
// Every model runs four phases: inference (eval mode, no grad, logits copied to the host) and
// the training step (forward, backward, clipping, AdamW, as train.Step does it). Each runs
// twice: once at the seed's settings, with every window padded to max_seq_length, and once at
// spanqa's, with dynamic padding and length bucketing. The windows are SQuAD v1.1's, cut by the
// model's tokenizer when ../shared/data/squad and the tokenizer fixtures are there. Otherwise
// they are made to follow the length histogram recorded in squad_v11_dev_lengths.json. Batches
// come through batch.Loader, as in training. A phase times a few batches chosen by length
// stratum (plan.go) and estimates a whole epoch from them.
//
// Each figure comes with:
//   - MFU: model matmul FLOPs (flops.go) per second over the device's measured GEMM rate, the
//     roofline;
//   - the resident memory peak;
//   - how long the step waited for data;
//   - the Go share of the CPU profile (profile.go);
//   - how much other processes used the machine meanwhile.
//
// By default each model runs in a child process of its own (child.go). libtorch's thread count
// follows the cores that other processes leave free (measure.go).
//
// The report is a table and bench.json. tests/bench/hf_reference.py writes the same format for
// Hugging Face on the same batches, and Compare prints the ratios between two reports.
package bench
