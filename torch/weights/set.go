package weights

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Set is a read-only collection of named tensors, whatever the file format behind it.
// Tensors returned by Get are views valid until Close (see Tensor).
type Set interface {
	// Names lists every tensor name, sorted.
	Names() []string
	// Get returns the named tensor; a missing name gives an error wrapping ErrNotFound.
	Get(name string) (Tensor, error)
	// Close releases the underlying files and mappings.
	Close() error
}

// ErrNotFound is wrapped by Get when a set has no tensor of the requested name.
var ErrNotFound = errors.New("tensor not found")

// errClosed is returned by Get after Close.
var errClosed = errors.New("file is closed")

// Checkpoint file names in a model folder, in Open's order of preference: safetensors is
// preferred because it maps without parsing a pickle, and single files over indexes.
const (
	SafetensorsName      = "model.safetensors"
	SafetensorsIndexName = "model.safetensors.index.json"
	TorchBinName         = "pytorch_model.bin"
	TorchBinIndexName    = "pytorch_model.bin.index.json"
)

// Open opens the weights of a Hugging Face model folder, choosing model.safetensors, then
// model.safetensors.index.json, then pytorch_model.bin, then pytorch_model.bin.index.json.
// When none exists the error wraps fs.ErrNotExist.
func Open(dir string) (Set, error) {
	for _, name := range []string{SafetensorsName, SafetensorsIndexName, TorchBinName, TorchBinIndexName} {
		path := filepath.Join(dir, name)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("open weights in %s: %w", dir, err)
		}
		return OpenFile(path)
	}
	return nil, fmt.Errorf("open weights: none of %s, %s, %s, %s in %s: %w",
		SafetensorsName, SafetensorsIndexName, TorchBinName, TorchBinIndexName, dir, fs.ErrNotExist)
}

// OpenFile opens one weight file, choosing the reader by name: *.index.json is a sharded index,
// *.safetensors is safetensors, anything else (.bin, .pt, .pth) is a torch.save zip archive.
func OpenFile(path string) (Set, error) {
	switch {
	case strings.HasSuffix(path, ".index.json"):
		return OpenIndex(path)
	case strings.HasSuffix(path, ".safetensors"):
		return asSet(OpenSafetensors(path))
	default:
		return asSet(OpenTorchBin(path))
	}
}

// asSet converts a concrete (*T, error) result to (Set, error) without producing a non-nil
// interface holding a nil pointer on error.
func asSet[T Set](s T, err error) (Set, error) {
	if err != nil {
		return nil, err
	}
	return s, nil
}

// mapPath opens path and maps it read-only. The descriptor is closed right away: a mapping
// keeps the file's pages reachable on its own.
func mapPath(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	return mapFile(f, st.Size())
}

// writeAtomic writes path through a temporary file in the same folder (so the rename cannot
// cross file systems), fsyncs it, renames it over path and fsyncs the folder, so a crash
// leaves either the old file or the complete new one. write gets a buffered writer; large
// slices pass through it without an extra copy.
func writeAtomic(path string, write func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	// CreateTemp makes 0600 files; a checkpoint should be readable like any file HF writes.
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable. Platforms that cannot fsync a directory report an
// error that is not worth failing a finished write for, so only real I/O errors count.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
