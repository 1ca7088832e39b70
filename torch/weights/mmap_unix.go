//go:build unix

package weights

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps the whole file read-only. The mapping lives outside the Go heap, so a 500 MB
// checkpoint costs page cache, not heap, and pages are only read when a tensor is touched.
// MAP_SHARED with PROT_READ: writes through the slice fault, which is what we want for views
// handed to callers.
func mapFile(f *os.File, size int64) ([]byte, error) {
	if size == 0 {
		return nil, nil // mmap of length 0 is EINVAL; an empty file needs no mapping
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("mmap %s: file too large for this platform (%d bytes)", f.Name(), size)
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap %s: %w", f.Name(), err)
	}
	return b, nil
}

// unmapFile releases a mapping made by mapFile.
func unmapFile(b []byte) error {
	if b == nil {
		return nil
	}
	return syscall.Munmap(b)
}
