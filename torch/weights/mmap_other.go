//go:build !unix

package weights

import (
	"fmt"
	"io"
	"os"
)

// mapFile falls back to reading the file into memory on platforms without syscall.Mmap; the
// API stays the same, only the memory footprint differs.
func mapFile(f *os.File, size int64) ([]byte, error) {
	b := make([]byte, size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	return b, nil
}

// unmapFile is a no-op: the garbage collector owns the buffer.
func unmapFile([]byte) error { return nil }
