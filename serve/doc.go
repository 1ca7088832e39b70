// Package serve answers questions with a trained extractive-QA model: the Go API, answers for
// a JSON Lines stream (Model.AnswerLines, behind `spanqa predict --input`) and the HTTP server
// (Server, behind `spanqa serve`).
//
// The Go API:
//
//	m, err := serve.Load("path/to/model", serve.Options{})
//	defer m.Close()
//	res, err := m.Answer(ctx, "Who wrote it?", longText, serve.AnswerOptions{TopK: 3})
//	fmt.Println(res.Text, res.Probability, res.Start, res.End)
//
// Answering reuses the evaluation stages unchanged, so an answer is what `spanqa eval` would
// predict for the same (question, context): data/features cuts the context into windows with the
// model's length and stride, the model scores every window, and eval.PostProcess picks the n-best
// spans over all windows (SQuAD v2.0 null answers included). The one deliberate difference: the
// logits of padding positions never take part, so an answer does not depend on which other
// requests shared its batch.
//
// Threads: libtorch keeps state per OS thread (grad mode, OpenMP teams), so every forward pass
// runs on one worker goroutine locked to its OS thread, in torch.NoGrad and a torch.Scope per
// batch. Tokenization and post-processing run on the callers' goroutines. The worker merges the
// windows of concurrent calls into batches (dynamic micro-batching, Options.MaxBatch and
// Options.MaxWait), which is what makes the HTTP server efficient under load. Within what it
// collected it forms passes of similar lengths (padding at most 25% of a pass), since on a CPU a
// padding token costs as much as a real one; and once idle it hands the memory a burst freed back
// to the OS, so that a server's RSS returns to its resting level.
package serve
