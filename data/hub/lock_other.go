//go:build !unix

package hub

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// lockFile creates the lock file but does not lock it: on this platform
// concurrent downloads of the same blob are not coordinated.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("hub: creating lock directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("hub: opening lock %s: %w", path, err)
	}
	return func() { _ = f.Close() }, nil
}
