package serve

import (
	"errors"
	"fmt"
)

// ErrInvalidInput is matched (errors.Is) by errors caused by the caller's input: an empty or
// invalid UTF-8 question or context, a question too long for the window, bad options. The
// server answers them with 400.
var ErrInvalidInput = errors.New("invalid input")

// ErrTooLarge is matched by errors for inputs beyond a configured limit (request body, context
// length, number of pairs); the server answers them with 413.
var ErrTooLarge = errors.New("input too large")

// ErrClosed is returned by calls made after (or racing with) Close.
var ErrClosed = errors.New("serve: model is closed")

// inputError wraps a message with ErrInvalidInput.
func inputError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidInput}, args...)...)
}

// tooLarge wraps a message with ErrTooLarge.
func tooLarge(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrTooLarge}, args...)...)
}
