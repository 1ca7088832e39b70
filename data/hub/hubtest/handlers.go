package hubtest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// lookup is the outcome of resolving a repository and revision.
type lookup struct {
	repoType, id, commit string
	files                map[string]File
}

// serveHub answers resolve URLs and the repository API.
func (s *Server) serveHub(w http.ResponseWriter, r *http.Request) {
	s.record("hub", r)
	path := r.URL.EscapedPath()
	if !s.authorized(r) {
		hubError(w, http.StatusUnauthorized, "RepoNotFound", "Invalid username or password.")
		return
	}
	if rest, ok := strings.CutPrefix(path, "/api/"); ok {
		s.serveAPI(w, r, rest)
		return
	}
	repoType, rest := "model", strings.TrimPrefix(path, "/")
	if after, ok := strings.CutPrefix(rest, "datasets/"); ok {
		repoType, rest = "dataset", after
	}
	escID, tail, ok := strings.Cut(rest, "/resolve/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	escRev, escName, ok := strings.Cut(tail, "/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	id, rev, name := unescape(escID), unescape(escRev), unescape(escName)
	if s.injectedFailure(w, name) {
		return
	}
	if newID, moved := s.renamedTo(repoType, id); moved {
		prefix := "/"
		if repoType == "dataset" {
			prefix = "/datasets/"
		}
		w.Header().Set("Location", prefix+newID+"/resolve/"+tail)
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	l, ok := s.resolve(w, repoType, id, rev)
	if !ok {
		return
	}
	f, ok := l.files[name]
	if !ok {
		w.Header().Set("X-Repo-Commit", l.commit)
		hubError(w, http.StatusNotFound, "EntryNotFound", "Entry not found")
		return
	}
	w.Header().Set("X-Repo-Commit", l.commit)
	if f.LFS {
		pointer := File{Name: f.Name, Content: []byte("version https://git-lfs.github.com/spec/v1\noid sha256:" + f.ETag() + "\n")}
		w.Header().Set("ETag", `"`+pointer.ETag()+`"`)
		w.Header().Set("X-Linked-Etag", `"`+f.ETag()+`"`)
		w.Header().Set("X-Linked-Size", itoa(len(f.Content)))
		w.Header().Set("Location", s.CDN.URL+"/lfs/"+f.ETag()+"?name="+url.QueryEscape(f.Name)+"&signature=x")
		w.WriteHeader(http.StatusFound)
		return
	}
	w.Header().Set("ETag", `"`+f.ETag()+`"`)
	s.serveContent(w, r, f)
}

// serveCDN answers the LFS download URLs the hub redirects to.
func (s *Server) serveCDN(w http.ResponseWriter, r *http.Request) {
	s.record("cdn", r)
	sha, ok := strings.CutPrefix(r.URL.Path, "/lfs/")
	s.mu.Lock()
	f, found := s.lfs[sha]
	s.mu.Unlock()
	if !ok || !found {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("ETag", `"`+sha+`"`)
	s.serveContent(w, r, f)
}

// serveAPI answers GET /api/{models|datasets}/{id}/revision/{rev}.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, rest string) {
	collection, rest, _ := strings.Cut(rest, "/")
	repoType := strings.TrimSuffix(collection, "s")
	escID, escRev, ok := strings.Cut(rest, "/revision/")
	if !ok || (repoType != "model" && repoType != "dataset") {
		http.NotFound(w, r)
		return
	}
	id, rev := unescape(escID), unescape(escRev)
	if s.injectedFailure(w, APIRequests) {
		return
	}
	if newID, moved := s.renamedTo(repoType, id); moved {
		w.Header().Set("Location", "/api/"+collection+"/"+newID+"/revision/"+escRev+"?"+r.URL.RawQuery)
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	l, ok := s.resolve(w, repoType, id, rev)
	if !ok {
		return
	}
	type lfs struct {
		SHA256      string `json:"sha256"`
		Size        int    `json:"size"`
		PointerSize int    `json:"pointerSize"`
	}
	type sibling struct {
		RFilename string `json:"rfilename"`
		Size      int    `json:"size,omitempty"`
		BlobID    string `json:"blobId,omitempty"`
		LFS       *lfs   `json:"lfs,omitempty"`
	}
	blobs := r.URL.Query().Get("blobs") == "true"
	var sibs []sibling
	for _, f := range l.files {
		sb := sibling{RFilename: f.Name}
		if blobs {
			sb.Size = len(f.Content)
			sb.BlobID = f.ETag()
			if f.LFS {
				sb.BlobID = (File{Content: []byte("pointer:" + f.ETag())}).ETag()
				sb.LFS = &lfs{SHA256: f.ETag(), Size: len(f.Content), PointerSize: 134}
			}
		}
		sibs = append(sibs, sb)
	}
	sort.Slice(sibs, func(i, j int) bool { return sibs[i].RFilename < sibs[j].RFilename })
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "sha": l.commit, "siblings": sibs})
}

// resolve finds the commit a revision (branch or commit hash) names, writing
// the hub's 404 answer when there is none.
func (s *Server) resolve(w http.ResponseWriter, repoType, id, rev string) (lookup, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[repoKey(repoType, id)]
	if r == nil {
		hubError(w, http.StatusNotFound, "RepoNotFound", "Repository not found")
		return lookup{}, false
	}
	commit, ok := r.branches[rev]
	if !ok {
		commit = rev
	}
	files, ok := r.commits[commit]
	if !ok {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return lookup{}, false
	}
	return lookup{repoType: repoType, id: id, commit: commit, files: files}, true
}

func (s *Server) renamedTo(repoType, id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	newID, ok := s.renamed[repoKey(repoType, id)]
	return newID, ok
}

func (s *Server) authorized(r *http.Request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token == "" || r.Header.Get("Authorization") == "Bearer "+s.token
}

func hubError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("X-Error-Code", code)
	w.Header().Set("X-Error-Message", msg)
	http.Error(w, msg, status)
}

func unescape(s string) string {
	u, err := url.PathUnescape(s)
	if err != nil {
		return s
	}
	return u
}
