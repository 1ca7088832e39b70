//go:build !linux || !cgo

package serve

// releaseMemory does nothing where glibc's malloc_trim is not available.
func releaseMemory() {}
