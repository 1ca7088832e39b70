// Package torch is spanqa's Go binding over libtorch: tensors, the operations the models, losses
// and optimizer need, autograd, and explicit tensor lifetime (see Scope).
//
// Errors: an operation that libtorch rejects (a bad shape, dtype or index) panics with *Error
// instead of returning one, so that model code reads as a chain of operations. Catch turns such
// a panic back into an ordinary error; every public API above this package (models, train, eval,
// serve) does so at its boundary, so callers only ever see errors.
package torch

/*
#cgo CFLAGS: -I${SRCDIR}/../cbridge
#cgo LDFLAGS: -L${SRCDIR}/../build -lspanqa_cbridge -Wl,-rpath,${SRCDIR}/../build
#include <stdlib.h>
#include "cbridge.h"
*/
import "C"

import (
	"errors"
	"fmt"
)

// ErrOutOfMemory is matched (errors.Is) by errors caused by an allocation libtorch could not make.
var ErrOutOfMemory = errors.New("torch: out of memory")

// Error is an error reported by libtorch through the C ABI.
type Error struct {
	Op  string // the binding operation that failed, e.g. "matmul"
	Msg string // libtorch's message, without its C++ backtrace
	OOM bool
}

func (e *Error) Error() string { return fmt.Sprintf("torch: %s: %s", e.Op, e.Msg) }

// Is lets errors.Is(err, ErrOutOfMemory) work.
func (e *Error) Is(target error) bool { return target == ErrOutOfMemory && e.OOM }

// toError converts and frees a C error; nil stays nil.
func toError(op string, e *C.spq_error) error {
	if e == nil {
		return nil
	}
	defer C.spq_error_free(e)
	return &Error{Op: op, Msg: C.GoString(e.message), OOM: e.kind == C.SPQ_ERR_OOM}
}

// check panics with *Error when the C call failed.
func check(op string, e *C.spq_error) {
	if err := toError(op, e); err != nil {
		panic(err)
	}
}

// Catch runs fn and returns the *Error it panicked with, if any. Other panics propagate.
func Catch(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if te, ok := r.(*Error); ok {
				err = te
				return
			}
			panic(r)
		}
	}()
	fn()
	return nil
}

// Try is Catch for a function producing a tensor.
func Try(fn func() *Tensor) (t *Tensor, err error) {
	err = Catch(func() { t = fn() })
	return t, err
}
