package hub

import (
	"crypto/sha1" //nolint:gosec // git blob ids are sha1; used for integrity, not security
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
)

// contentHash checks downloaded bytes against the etag, which names the
// content: the sha256 of LFS files, the git blob sha1 of the others. An etag
// of another shape only gets the size check.
type contentHash struct {
	kind string // "sha256", "git-sha1" or "" (size only)
	want string
	size int64
	h    hash.Hash
}

func newContentHash(etag string, size int64) *contentHash {
	v := &contentHash{want: etag, size: size}
	v.reset()
	return v
}

// reset forgets everything written so far.
func (v *contentHash) reset() {
	switch {
	case sha256RE.MatchString(v.want):
		v.kind, v.h = "sha256", sha256.New()
	case commitHashRE.MatchString(v.want):
		v.kind, v.h = "git-sha1", sha1.New() //nolint:gosec // see import
		// A git blob id is sha1("blob <size>\x00" + content).
		v.h.Write([]byte("blob " + strconv.FormatInt(v.size, 10) + "\x00"))
	default:
		v.kind, v.h = "", nil
	}
}

// Write feeds content bytes; it never fails.
func (v *contentHash) Write(p []byte) (int, error) {
	if v.h != nil {
		v.h.Write(p)
	}
	return len(p), nil
}

// check compares the hash of everything written with the etag.
func (v *contentHash) check(name string) error {
	if v.h == nil {
		return nil
	}
	got := hex.EncodeToString(v.h.Sum(nil))
	if got != v.want {
		return fmt.Errorf("%s of the downloaded %s is %s, expected %s: %w", v.kind, name, got, v.want, ErrVerification)
	}
	return nil
}

// GitBlobSHA1 returns the git blob id of content, the etag the hub gives
// files not stored with LFS.
func GitBlobSHA1(content []byte) string {
	h := sha1.New() //nolint:gosec // see import
	h.Write([]byte("blob " + strconv.Itoa(len(content)) + "\x00"))
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}
