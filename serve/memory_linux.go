//go:build linux && cgo

package serve

// #include <malloc.h>
import "C"

// releaseMemory hands the C heap's free pages back to the OS (glibc's malloc_trim). libtorch
// allocates activations with malloc, and after a burst of large batches glibc would otherwise
// keep hundreds of MiB it no longer uses.
func releaseMemory() { C.malloc_trim(0) }
