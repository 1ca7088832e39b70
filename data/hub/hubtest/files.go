package hubtest

import "math/rand/v2"

// RandomBytes returns n deterministic pseudo-random bytes: file contents whose corruption a
// checksum notices.
func RandomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// ModelFiles is a small BERT-like model repository: configuration, tokenizer files, a README
// and weights in three formats (LFS).
func ModelFiles() []File {
	return []File{
		{Name: "config.json", Content: []byte(`{"model_type":"bert","hidden_size":8}`)},
		{Name: "tokenizer.json", Content: []byte(`{"version":"1.0"}`)},
		{Name: "tokenizer_config.json", Content: []byte(`{"do_lower_case":true}`)},
		{Name: "vocab.txt", Content: []byte("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n")},
		{Name: "README.md", Content: []byte("# test model\n")},
		{Name: "model.safetensors", Content: RandomBytes(300_000, 1), LFS: true},
		{Name: "pytorch_model.bin", Content: RandomBytes(200_000, 2), LFS: true},
		{Name: "tf_model.h5", Content: RandomBytes(1000, 3), LFS: true},
	}
}

// SquadFiles is the layout of the rajpurkar/squad data set repository: a README and the two
// parquet splits (LFS).
func SquadFiles() []File {
	return []File{
		{Name: "README.md", Content: []byte("# squad\n")},
		{Name: "plain_text/train-00000-of-00001.parquet", Content: RandomBytes(120_000, 11), LFS: true},
		{Name: "plain_text/validation-00000-of-00001.parquet", Content: RandomBytes(40_000, 12), LFS: true},
	}
}

// CountRequests counts the recorded requests to server ("hub" or "cdn") with method.
func (s *Server) CountRequests(server, method string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Server == server && r.Method == method {
			n++
		}
	}
	return n
}
