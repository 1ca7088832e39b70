package serve

import (
	_ "embed"
	"net/http"
)

// pageHTML is the web page at /: paste a context, ask a question, see the answer highlighted.
// It is self-contained (no external scripts, styles or fonts). With ?q=...&c=...&auto=1 it asks
// at once, which is how the headless-browser test drives it.
//
//go:embed page.html
var pageHTML []byte

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(pageHTML)
	}
}
