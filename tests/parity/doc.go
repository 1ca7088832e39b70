// Package parity checks spanqa against today's Hugging Face stack, live: tests/parity/run.sh
// (make parity) installs the pinned transformers into the project venv, runs reference.py to
// build random models and record what transformers computes, and runs these tests on the
// result. Without $SPANQA_PARITY_DIR (a plain go test ./...) every test here skips, loudly.
package parity
