// Package parity checks spanqa against today's Hugging Face stack, live: tests/parity/run.sh
// (make parity) installs the pinned transformers into the project venv (and transformers 4.57.6
// beside it, for what 5.x dropped), runs reference.py to build random models, tokenize, make
// run_qa.py's features, post-process and score as Hugging Face does, and runs these tests on the
// result. Without $SPANQA_PARITY_DIR (a plain go test ./...) every test here skips, loudly.
package parity
