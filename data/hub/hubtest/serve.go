package hubtest

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// serveContent answers HEAD and GET for a file, honouring "Range: bytes=N-"
// and the file's injected fault.
func (s *Server) serveContent(w http.ResponseWriter, r *http.Request, f File) {
	data := f.Content
	var fault *Fault
	if r.Method == http.MethodGet {
		fault = s.takeFault(f.Name)
	}
	if fault != nil && fault.Corrupt && len(data) > 0 {
		data = append([]byte(nil), data...)
		data[len(data)/2] ^= 0xff
	}
	status, body := http.StatusOK, data
	if rg := r.Header.Get("Range"); rg != "" && (fault == nil || !fault.IgnoreRange) {
		start, ok := parseRange(rg)
		if !ok || start >= len(data) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(data)))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		status, body = http.StatusPartialContent, data[start:]
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(data)-1, len(data)))
	}
	w.Header().Set("Accept-Ranges", "bytes")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("Content-Type", "application/octet-stream")
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	if fault != nil && fault.DropAfter > 0 && int(fault.DropAfter) < len(body) {
		dropConnection(w, status, body[:fault.DropAfter])
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// dropConnection sends the headers (announcing the full length) and part of
// the body, then closes the connection: a network failure mid-file.
func dropConnection(w http.ResponseWriter, status int, part []byte) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "cannot hijack", http.StatusInternalServerError)
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	writeRaw(buf, status, w.Header(), part)
}

func writeRaw(buf *bufio.ReadWriter, status int, h http.Header, part []byte) {
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	_ = h.Write(buf)
	fmt.Fprint(buf, "\r\n")
	_, _ = buf.Write(part)
	_ = buf.Flush()
}

// parseRange reads the start of "bytes=N-" (the only form clients send).
func parseRange(h string) (int, bool) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return 0, false
	}
	startStr, end, ok := strings.Cut(spec, "-")
	if !ok || end != "" {
		return 0, false
	}
	n, err := strconv.Atoi(startStr)
	return n, err == nil && n >= 0
}
