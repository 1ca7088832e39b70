package main

import "github.com/spanqa/spanqa/serve"

func init() {
	register("predict", "answer a question about a context, or a JSON Lines file of them", serve.PredictCommand)
	register("serve", "HTTP server: POST /v1/answer with dynamic batching, /healthz, /metrics, a web page", serve.ServeCommand)
}
