// Package hubtest runs an imitation of the Hugging Face hub on loopback for
// tests: resolve URLs with the hub's headers (X-Repo-Commit, ETag,
// X-Linked-Etag, X-Linked-Size), LFS files redirected to a second "CDN"
// server, relative redirects for renamed repositories, range requests, the
// repository API (siblings), 401/404 answers with X-Error-Code, and injected
// faults (dropped connections, corrupt bytes, ignored ranges). It records
// every request so tests can assert what was (not) asked.
package hubtest

import (
	"crypto/sha1" //nolint:gosec // git blob ids are sha1
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
)

// File is a file of a repository commit.
type File struct {
	// Name is the path in the repository, e.g. "config.json".
	Name string
	// Content is the file content.
	Content []byte
	// LFS serves the file the way the hub serves LFS files: a redirect to
	// the CDN server, with the sha256 as X-Linked-Etag.
	LFS bool
}

// ETag returns the etag the hub gives f: the sha256 of an LFS file, the git
// blob sha1 of any other file.
func (f File) ETag() string {
	if f.LFS {
		sum := sha256.Sum256(f.Content)
		return hex.EncodeToString(sum[:])
	}
	h := sha1.New() //nolint:gosec // see import
	fmt.Fprintf(h, "blob %d\x00", len(f.Content))
	h.Write(f.Content)
	return hex.EncodeToString(h.Sum(nil))
}

// Fault is a misbehaviour injected into the serving of one file.
type Fault struct {
	// DropAfter, when positive, closes the connection after this many body
	// bytes of a GET, announcing the full length first.
	DropAfter int64
	// Times is how many GETs the fault affects; 0 means every one.
	Times int
	// Corrupt flips a byte in the middle of the served content.
	Corrupt bool
	// IgnoreRange answers range requests with the whole file (200).
	IgnoreRange bool
}

// Request is a request the servers received.
type Request struct {
	// Server is "hub" or "cdn".
	Server        string
	Method        string
	Path          string
	Range         string
	Authorization string
}

// Server is the imitation hub (Hub) and the CDN it sends LFS downloads to.
type Server struct {
	Hub *httptest.Server
	CDN *httptest.Server

	mu       sync.Mutex
	token    string
	repos    map[string]*repo // by repoKey
	renamed  map[string]string
	faults   map[string]*Fault // by file name
	failures map[string]*failure
	lfs      map[string]File // by sha256
	requests []Request
	commits  int
}

type repo struct {
	branches map[string]string          // branch -> commit
	commits  map[string]map[string]File // commit -> name -> file
}

// New starts the hub and CDN servers on 127.0.0.1; they stop when the test
// ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{
		repos:    map[string]*repo{},
		renamed:  map[string]string{},
		faults:   map[string]*Fault{},
		failures: map[string]*failure{},
		lfs:      map[string]File{},
	}
	s.Hub = httptest.NewServer(http.HandlerFunc(s.serveHub))
	s.CDN = httptest.NewServer(http.HandlerFunc(s.serveCDN))
	tb.Cleanup(s.Close)
	return s
}

// Close stops both servers.
func (s *Server) Close() {
	s.Hub.Close()
	s.CDN.Close()
}

// URL is the hub endpoint.
func (s *Server) URL() string { return s.Hub.URL }

// RequireToken makes the hub answer 401 to requests without
// "Authorization: Bearer <token>"; "" turns that off.
func (s *Server) RequireToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

func repoKey(repoType, id string) string { return repoType + ":" + id }

// AddCommit adds a commit holding files to a repository ("model" or
// "dataset" type), moves branch to it and returns its hash.
func (s *Server) AddCommit(repoType, id, branch string, files ...File) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := repoKey(repoType, id)
	r := s.repos[key]
	if r == nil {
		r = &repo{branches: map[string]string{}, commits: map[string]map[string]File{}}
		s.repos[key] = r
	}
	s.commits++
	h := sha1.New() //nolint:gosec // see import
	fmt.Fprintf(h, "%s\x00%s\x00%d", key, branch, s.commits)
	byName := map[string]File{}
	for _, f := range files {
		fmt.Fprintf(h, "\x00%s\x00%s", f.Name, f.ETag())
		byName[f.Name] = f
		if f.LFS {
			s.lfs[f.ETag()] = f
		}
	}
	commit := hex.EncodeToString(h.Sum(nil))
	r.commits[commit] = byName
	r.branches[branch] = commit
	return commit
}

// Rename makes requests for oldID answer with a relative redirect to newID,
// as the hub does for renamed repositories.
func (s *Server) Rename(repoType, oldID, newID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.renamed[repoKey(repoType, oldID)] = newID
}

// SetFault injects f into the serving of every file called name.
func (s *Server) SetFault(name string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[name] = &f
}

// APIRequests is the name FailNext uses for repository API requests.
const APIRequests = "@api"

type failure struct{ status, times int }

// FailNext makes the next `times` hub requests (HEAD or GET) for the file
// called name, or for the repository API when name is APIRequests, answer
// with status.
func (s *Server) FailNext(name string, status, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[name] = &failure{status: status, times: times}
}

// injectedFailure answers the request with an injected status, if one is due.
func (s *Server) injectedFailure(w http.ResponseWriter, name string) bool {
	s.mu.Lock()
	f := s.failures[name]
	if f == nil || f.times <= 0 {
		s.mu.Unlock()
		return false
	}
	f.times--
	s.mu.Unlock()
	hubError(w, f.status, "", "injected failure")
	return true
}

// Requests returns a copy of the requests received so far, both servers.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// RequestCount is the number of requests received so far, both servers.
func (s *Server) RequestCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// ResetRequests forgets the recorded requests.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

func (s *Server) record(server string, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{
		Server:        server,
		Method:        r.Method,
		Path:          r.URL.EscapedPath(),
		Range:         r.Header.Get("Range"),
		Authorization: r.Header.Get("Authorization"),
	})
}

// takeFault returns the fault for name, counting one use.
func (s *Server) takeFault(name string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults[name]
	if f == nil {
		return nil
	}
	cp := *f
	if f.Times > 0 {
		f.Times--
		if f.Times == 0 {
			delete(s.faults, name)
		}
	}
	return &cp
}

func itoa(n int) string { return strconv.Itoa(n) }
