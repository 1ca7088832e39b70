package torch

// cgo forbids C definitions in a file with //export functions (checkpoint.go), so the function
// that hands their addresses to cbridge lives here.

/*
#include <stdint.h>
#include "cbridge.h"
extern char* spqCheckpointRun(uintptr_t fn, spq_tensor* args, int n, void* out);
extern void spqCheckpointRelease(uintptr_t fn);
static void spq_install_checkpoint_callbacks(void) {
	spq_checkpoint_set_callbacks(spqCheckpointRun, spqCheckpointRelease);
}
*/
import "C"

func installCheckpointCallbacks() { C.spq_install_checkpoint_callbacks() }
