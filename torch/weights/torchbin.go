package weights

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
)

// torchStorages maps the legacy typed-storage classes that torch.save names in a persistent id
// (torch.FloatStorage, ...) to dtypes.
var torchStorages = map[string]DType{
	"FloatStorage": F32, "HalfStorage": F16, "BFloat16Storage": BF16, "DoubleStorage": F64,
	"LongStorage": I64, "IntStorage": I32, "CharStorage": I8, "ByteStorage": U8, "BoolStorage": BOOL,
}

// maxPickleSize bounds data.pkl. It holds only metadata (a few hundred bytes per tensor), so
// anything near this is corruption or a decompression bomb.
const maxPickleSize = 1 << 30

// storageRef is one storage of the archive, shared by every tensor that views it.
type storageRef struct {
	key   string
	dtype DType
	numel int64
	entry *zip.File
	data  []byte // a view of the mapping for stored entries, else inflated on first use
}

// tensorRef is a tensor as _rebuild_tensor_v2 describes it: a strided view of a storage, with
// offset and strides counted in elements.
type tensorRef struct {
	storage      *storageRef
	offset       int64
	size, stride []int64
}

// TorchFile is an open pytorch_model.bin in the zip format of torch.save (torch >= 1.6). The
// archive is memory-mapped; storages that torch stored uncompressed (it always does) are
// viewed in place, so contiguous tensors cost no copy. It is safe for concurrent use.
type TorchFile struct {
	path    string
	tensors map[string]*tensorRef

	mu      sync.Mutex
	mapping []byte
	closed  bool
}

// OpenTorchBin opens a torch.save zip archive holding a dict of tensors (a state_dict). The
// pickle is interpreted without executing anything: only tensor rebuild functions, storage
// types and OrderedDict are accepted, so a malicious file yields an error, not code execution.
// Every tensor's storage, offset and strides are checked against the archive when opening.
func OpenTorchBin(path string) (*TorchFile, error) {
	mapping, err := mapPath(path)
	if err != nil {
		return nil, err
	}
	tensors, err := parseTorchZip(mapping)
	if err != nil {
		unmapFile(mapping)
		return nil, fmt.Errorf("torch bin %s: %w", path, err)
	}
	return &TorchFile{path: path, tensors: tensors, mapping: mapping}, nil
}

// parseTorchZip reads the archive directory and data.pkl of a complete file image.
func parseTorchZip(b []byte) (map[string]*tensorRef, error) {
	if !bytes.HasPrefix(b, []byte("PK\x03\x04")) {
		if bytes.HasPrefix(b, []byte{0x80}) {
			return nil, formatErr("legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it with a newer torch or as safetensors")
		}
		return nil, formatErr("not a zip archive")
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, formatErr("reading zip directory (truncated file?): %v", err)
	}
	files := map[string]*zip.File{}
	var pkls []string
	for _, f := range zr.File {
		files[f.Name] = f
		// The stem is the archive's top folder (the file name torch.save was given, minus its
		// extension), so find data.pkl one level down rather than assuming "archive/".
		if dir, ok := strings.CutSuffix(f.Name, "/data.pkl"); ok && dir != "" && !strings.Contains(dir, "/") {
			pkls = append(pkls, f.Name)
		}
	}
	if len(pkls) != 1 {
		return nil, formatErr("want exactly one <stem>/data.pkl in the archive, found %d", len(pkls))
	}
	stem := strings.TrimSuffix(pkls[0], "data.pkl")
	if bo, ok := files[stem+"byteorder"]; ok {
		order, err := readEntry(bo, 16)
		if err != nil {
			return nil, err
		}
		if string(order) != "little" {
			return nil, formatErr("byteorder %q is not supported (only little-endian)", order)
		}
	}
	pkl, err := readEntry(files[pkls[0]], maxPickleSize)
	if err != nil {
		return nil, err
	}
	l := &torchLoader{b: b, files: files, stem: stem, storages: map[string]*storageRef{}}
	obj, err := unpickle(pkl, unpickleHooks{allowGlobal: allowTorchGlobal, reduce: l.reduce, persistentLoad: l.persistentLoad})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, pkls[0], err)
	}
	return stateDict(obj)
}

// readEntry reads a whole (small) entry, checking its CRC through archive/zip.
func readEntry(f *zip.File, limit int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, formatErr("%s: %d bytes exceeds the %d-byte limit", f.Name, f.UncompressedSize64, limit)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, formatErr("%s: %v", f.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = errors.New("entry larger than its header says")
	}
	if err != nil {
		return nil, formatErr("%s: %v", f.Name, err)
	}
	return b, nil
}

// stateDict checks that the unpickled object is a dict of name -> tensor.
func stateDict(obj any) (map[string]*tensorRef, error) {
	d, ok := obj.(*pyDict)
	if !ok {
		return nil, formatErr("top-level object is a %s, want a dict of tensors", typeName(obj))
	}
	out := make(map[string]*tensorRef, len(d.keys))
	for i, k := range d.keys {
		name, ok := k.(string)
		if !ok {
			return nil, formatErr("state dict key %d is a %s, want a string", i, typeName(k))
		}
		t, ok := d.vals[i].(*tensorRef)
		if !ok {
			return nil, formatErr("entry %q is a %s, not a tensor", name, typeName(d.vals[i]))
		}
		out[name] = t
	}
	return out, nil
}

// allowTorchGlobal is the allow-list of symbols a state_dict pickle may name. Storage classes
// are let through by name pattern so that an unsupported one (torch.ShortStorage) gets a
// precise error from persistentLoad.
func allowTorchGlobal(g pyGlobal) bool {
	switch g.module {
	case "torch._utils":
		return g.name == "_rebuild_tensor_v2" || g.name == "_rebuild_tensor" || g.name == "_rebuild_parameter"
	case "collections":
		return g.name == "OrderedDict"
	case "torch":
		return strings.HasSuffix(g.name, "Storage")
	}
	return false
}

// torchLoader resolves persistent ids and REDUCE calls against one archive.
type torchLoader struct {
	b        []byte
	files    map[string]*zip.File
	stem     string
	storages map[string]*storageRef
}

// persistentLoad resolves ('storage', StorageType, key, location, numel) to the archive entry
// <stem>/data/<key>, checking its size. The location (cpu, cuda:0) is ignored: bytes are bytes.
func (l *torchLoader) persistentLoad(pid any) (any, error) {
	t, ok := pid.(pyTuple)
	if !ok || len(t) != 5 || t[0] != "storage" {
		return nil, fmt.Errorf("want ('storage', type, key, location, numel), got %s", typeName(pid))
	}
	typ, ok1 := t[1].(pyGlobal)
	key, ok2 := t[2].(string)
	numel, ok3 := t[4].(int64)
	if !ok1 || !ok2 || !ok3 || numel < 0 {
		return nil, errors.New("malformed storage persistent id")
	}
	dt, ok := torchStorages[typ.name]
	if !ok || typ.module != "torch" {
		return nil, fmt.Errorf("unsupported storage type %s", typ)
	}
	if s, ok := l.storages[key]; ok {
		if s.dtype != dt || s.numel != numel {
			return nil, fmt.Errorf("storage %q is referenced as both %v[%d] and %v[%d]", key, s.dtype, s.numel, dt, numel)
		}
		return s, nil
	}
	name := l.stem + "data/" + key
	f, ok := l.files[name]
	if !ok {
		return nil, fmt.Errorf("storage %q: archive has no entry %s", key, name)
	}
	want, err := byteSize(dt, []int64{numel})
	if err != nil {
		return nil, fmt.Errorf("storage %q: %w", key, err)
	}
	if f.UncompressedSize64 != uint64(want) {
		return nil, fmt.Errorf("storage %q: %s holds %d bytes, want %d for %d x %v", key, name, f.UncompressedSize64, want, numel, dt)
	}
	s := &storageRef{key: key, dtype: dt, numel: numel, entry: f}
	if f.Method == zip.Store {
		// Zero-copy: the entry's bytes sit verbatim in the mapped file.
		off, err := f.DataOffset()
		if err != nil || off < 0 || f.CompressedSize64 != f.UncompressedSize64 || uint64(off)+f.UncompressedSize64 > uint64(len(l.b)) {
			return nil, fmt.Errorf("storage %q: entry %s lies outside the file (truncated?)", key, name)
		}
		s.data = l.b[off : off+want : off+want]
	}
	l.storages[key] = s
	return s, nil
}

// reduce gives meaning to the allowed callables.
func (l *torchLoader) reduce(fn pyGlobal, args pyTuple) (any, error) {
	switch fn.name {
	case "OrderedDict":
		if len(args) != 0 {
			return nil, errors.New("OrderedDict with constructor arguments is not supported")
		}
		return newDict(), nil
	case "_rebuild_tensor_v2", "_rebuild_tensor":
		// (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]]):
		// autograd flags and hooks do not affect the data.
		if len(args) < 4 {
			return nil, fmt.Errorf("got %d arguments, want at least 4", len(args))
		}
		return newTensorRef(args[0], args[1], args[2], args[3])
	case "_rebuild_parameter":
		// (data, requires_grad, backward_hooks): a Parameter is its data for our purposes.
		if len(args) != 3 {
			return nil, fmt.Errorf("got %d arguments, want 3", len(args))
		}
		if _, ok := args[0].(*tensorRef); !ok {
			return nil, fmt.Errorf("data is a %s, want a tensor", typeName(args[0]))
		}
		return args[0], nil
	}
	return nil, errors.New("cannot be called") // a storage class: never called by torch.save
}

// maxDims bounds tensor rank so strided copies cannot recurse deeply.
const maxDims = 64

// newTensorRef checks a strided view against its storage: every element it can address must
// lie inside the storage, so Get never indexes out of range.
func newTensorRef(storage, offset, size, stride any) (*tensorRef, error) {
	s, ok := storage.(*storageRef)
	if !ok {
		return nil, fmt.Errorf("storage is a %s", typeName(storage))
	}
	off, ok := offset.(int64)
	sz, err1 := int64s(size)
	st, err2 := int64s(stride)
	if err := errors.Join(err1, err2); err != nil || !ok || off < 0 {
		return nil, errors.New("malformed storage offset, size or stride")
	}
	if len(sz) != len(st) || len(sz) > maxDims {
		return nil, fmt.Errorf("size %v and stride %v do not match", sz, st)
	}
	n, err := numel(sz)
	if err != nil {
		return nil, err
	}
	last := off // the highest element index the view can reach
	for i := range sz {
		if st[i] < 0 {
			return nil, fmt.Errorf("negative stride %v", st)
		}
		if n > 0 {
			if st[i] > 0 && sz[i]-1 > (1<<62-last)/st[i] {
				return nil, fmt.Errorf("size %v and stride %v overflow", sz, st)
			}
			last += (sz[i] - 1) * st[i]
		}
	}
	if (n > 0 && last >= s.numel) || off > s.numel {
		return nil, fmt.Errorf("view (offset %d, size %v, stride %v) exceeds storage %q of %d elements", off, sz, st, s.key, s.numel)
	}
	t := &tensorRef{storage: s, offset: off, size: sz, stride: st}
	// A non-contiguous view is copied by Get. Only stride-0 broadcasting can make it larger than
	// its storage; refusing that keeps a tiny corrupt file from demanding an enormous copy.
	if !t.contiguous() && n > s.numel {
		return nil, fmt.Errorf("strided view of %d elements is larger than its storage %q of %d (broadcast views are not supported)", n, s.key, s.numel)
	}
	return t, nil
}

// int64s converts a tuple of ints (a pickled torch.Size or stride).
func int64s(v any) ([]int64, error) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("want a tuple of ints, got %s", typeName(v))
	}
	out := make([]int64, len(t))
	for i, x := range t {
		if out[i], ok = x.(int64); !ok {
			return nil, fmt.Errorf("want a tuple of ints, element %d is %s", i, typeName(x))
		}
	}
	return out, nil
}

// contiguous reports whether the view is row-major and dense (strides of size-1 dims do not
// matter, as in torch's is_contiguous).
func (t *tensorRef) contiguous() bool {
	want := int64(1)
	for i := len(t.size) - 1; i >= 0; i-- {
		if t.size[i] == 0 {
			return true
		}
		if t.size[i] != 1 && t.stride[i] != want {
			return false
		}
		want *= t.size[i]
	}
	return true
}

// Path is the file the TorchFile was opened from.
func (f *TorchFile) Path() string { return f.path }

// Names lists the tensor names, sorted.
func (f *TorchFile) Names() []string { return slices.Sorted(maps.Keys(f.tensors)) }

// Get returns the named tensor. A contiguous tensor of a stored entry is a read-only view of
// the mapping (valid until Close); a strided one (e.g. saved from a transpose) is gathered into
// a fresh contiguous copy.
func (f *TorchFile) Get(name string) (Tensor, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return Tensor{}, fmt.Errorf("torch bin %s: get %q: %w", f.path, name, errClosed)
	}
	t, ok := f.tensors[name]
	if !ok {
		return Tensor{}, fmt.Errorf("torch bin %s: %q: %w", f.path, name, ErrNotFound)
	}
	out, err := t.materialize(name)
	if err != nil {
		return Tensor{}, fmt.Errorf("torch bin %s: tensor %q: %w", f.path, name, err)
	}
	return out, nil
}

// materialize turns the view into a Tensor: a sub-slice of the storage when contiguous, a
// gathered copy otherwise. Bounds were checked by newTensorRef.
func (t *tensorRef) materialize(name string) (Tensor, error) {
	data, err := t.storage.bytes()
	if err != nil {
		return Tensor{}, err
	}
	es := int64(t.storage.dtype.Size())
	out := Tensor{Name: name, DType: t.storage.dtype, Shape: slices.Clone(t.size)}
	n, _ := numel(t.size) // validated at open
	if t.contiguous() {
		lo, hi := t.offset*es, (t.offset+n)*es
		out.Data = data[lo:hi:hi]
	} else {
		out.Data = gather(make([]byte, 0, n*es), data, es, t.size, t.stride, t.offset)
	}
	return out, nil
}

// bytes returns the storage's bytes, inflating a compressed entry on first use (torch never
// compresses storages, but other zip tools might have rewritten the archive).
func (s *storageRef) bytes() ([]byte, error) {
	if s.data == nil {
		b, err := readEntry(s.entry, int64(s.entry.UncompressedSize64))
		if err != nil {
			return nil, err
		}
		s.data = b
	}
	return s.data, nil
}

// gather appends the elements of a strided view in row-major order, copying whole rows at a
// time when the innermost dimension is dense.
func gather(dst, src []byte, es int64, size, stride []int64, off int64) []byte {
	switch {
	case len(size) == 0:
		return append(dst, src[off*es:(off+1)*es]...)
	case len(size) == 1 && stride[0] == 1:
		return append(dst, src[off*es:(off+size[0])*es]...)
	}
	for i := range size[0] {
		dst = gather(dst, src, es, size[1:], stride[1:], off+i*stride[0])
	}
	return dst
}

// Close unmaps the archive. Tensors obtained from Get must not be used afterwards (copies of
// strided tensors stay valid, but do not rely on which ones those are).
func (f *TorchFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	if err := unmapFile(f.mapping); err != nil {
		return fmt.Errorf("torch bin %s: close: %w", f.path, err)
	}
	return nil
}
