// Package eval turns a QA model's start/end logits into SQuAD answers and scores them, matching
// Hugging Face's run_qa.py post-processing and the official SQuAD evaluation scripts number for
// number. Post-processing and metrics are plain Go on host slices; the model itself runs on
// libtorch (through packages models and torch) behind the Predictor interface, which Run takes,
// so everything after the logits can be tested without a model.
//
// Post-processing (postprocess.go) is utils_qa.postprocess_qa_predictions: n-best spans over all
// windows of an example, the SQuAD v2.0 null answer, answer text sliced from the context by
// character offsets, and the softmax probabilities, with numpy's float32 arithmetic, argsort and
// exp reproduced so that nbest_predictions.json is byte-identical to HF's on x86-64.
// PredictionWriter writes predictions.json, nbest_predictions.json and null_odds.json as Python's
// json.dumps(..., indent=4) does, streaming, under temporary names renamed into place when done.
//
// Metrics (metrics.go) are evaluate-v1.1.py (ScoreV1) and evaluate-v2.0.py (ScoreV2), including
// Python's Unicode rules in the answer normalisation (normalize.go) and the scripts' order of
// floating-point additions; their results print as the scripts print them (PyJSON).
//
// Entry points: ScoreFiles.Score scores prediction files as the official scripts do (`spanqa
// score`); Evaluate runs a model folder over a data file (`spanqa eval`); Run is its core
// (windows -> Predictor -> post-processing -> metrics -> files).
package eval
