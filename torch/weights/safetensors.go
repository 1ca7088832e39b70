package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// maxHeaderSize bounds the JSON header, as the reference Rust implementation does (100 MB), so
// a corrupt length field cannot make us parse (or allocate for) gigabytes of "header".
const maxHeaderSize = 100_000_000

// metadataKey is the reserved header key holding free-form string metadata.
const metadataKey = "__metadata__"

// entry is one tensor's header record; begin and end are relative to the data section.
type entry struct {
	dtype      DType
	shape      []int64
	begin, end int64
}

// header is a parsed and validated safetensors header.
type header struct {
	entries  map[string]entry
	metadata map[string]string
	dataOff  int64 // where the data section starts in the file: 8 + header length
}

// File is an open safetensors file. Its tensors are views into a read-only memory map of the
// file, so opening costs no heap proportional to the file size. It is safe for concurrent use.
type File struct {
	path string
	hdr  header

	mu     sync.RWMutex
	data   []byte // the mapping
	closed bool
}

// OpenSafetensors maps and validates the safetensors file at path. The whole header is checked
// up front (offsets in range, no overlap, no gap, sizes matching shapes, known dtypes), so Get
// never sees an inconsistent entry.
func OpenSafetensors(path string) (*File, error) {
	data, err := mapPath(path)
	if err != nil {
		return nil, err
	}
	hdr, err := parseSafetensors(data)
	if err != nil {
		unmapFile(data)
		return nil, fmt.Errorf("safetensors %s: %w", path, err)
	}
	return &File{path: path, hdr: hdr, data: data}, nil
}

// parseSafetensors parses the length prefix and header of a complete file image.
func parseSafetensors(b []byte) (header, error) {
	if len(b) < 8 {
		return header{}, formatErr("file is %d bytes, shorter than the 8-byte header length", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(len(b)-8) {
		return header{}, formatErr("header length %d exceeds the %d bytes after the length field (truncated file?)", n, len(b)-8)
	}
	if n > maxHeaderSize {
		return header{}, formatErr("header length %d exceeds the %d-byte limit", n, maxHeaderSize)
	}
	dataOff := 8 + int64(n)
	entries, meta, err := parseHeader(b[8:dataOff], int64(len(b))-dataOff)
	if err != nil {
		return header{}, err
	}
	return header{entries: entries, metadata: meta, dataOff: dataOff}, nil
}

// rawEntry mirrors a tensor record; pointers tell a missing field from a zero one.
type rawEntry struct {
	DType       *string  `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// parseHeader decodes the JSON header and checks it against a data section of dataLen bytes.
// It walks the JSON token by token so that duplicate tensor names are caught (a plain
// Unmarshal into a map would silently keep the last one).
func parseHeader(raw []byte, dataLen int64) (map[string]entry, map[string]string, error) {
	if !utf8.Valid(raw) {
		return nil, nil, formatErr("header is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, formatErr("malformed header JSON: want an object, got %v (%v)", tok, err)
	}
	entries := map[string]entry{}
	var meta map[string]string
	seenMeta := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, formatErr("malformed header JSON: %v", err)
		}
		name, _ := tok.(string) // object keys are always strings
		if name == metadataKey {
			if seenMeta {
				return nil, nil, formatErr("duplicate %s", metadataKey)
			}
			seenMeta = true
			if err := dec.Decode(&meta); err != nil {
				return nil, nil, formatErr("%s must map strings to strings: %v", metadataKey, err)
			}
			continue
		}
		if _, dup := entries[name]; dup {
			return nil, nil, formatErr("tensor %q appears twice in the header", name)
		}
		var r rawEntry
		if err := dec.Decode(&r); err != nil {
			return nil, nil, formatErr("tensor %q: malformed header JSON: %v", name, err)
		}
		e, err := checkEntry(r)
		if err != nil {
			return nil, nil, formatErr("tensor %q: %v", name, err)
		}
		entries[name] = e
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, nil, formatErr("malformed header JSON: %v", err)
	}
	// HF pads the header with spaces; anything else after the object is corruption.
	if tok, err := dec.Token(); err != io.EOF {
		return nil, nil, formatErr("malformed header JSON: trailing data after the object (%v, %v)", tok, err)
	}
	if err := checkCoverage(entries, dataLen); err != nil {
		return nil, nil, err
	}
	return entries, meta, nil
}

// checkEntry validates one record in isolation: fields present, dtype known, byte span equal to
// shape * dtype size.
func checkEntry(r rawEntry) (entry, error) {
	if r.DType == nil || r.Shape == nil || r.DataOffsets == nil {
		return entry{}, errors.New(`record needs "dtype", "shape" and "data_offsets"`)
	}
	dt, err := ParseDType(*r.DType)
	if err != nil {
		return entry{}, err
	}
	offs := *r.DataOffsets
	if len(offs) != 2 || offs[0] < 0 || offs[1] < offs[0] {
		return entry{}, fmt.Errorf("bad data_offsets %v", offs)
	}
	want, err := byteSize(dt, *r.Shape)
	if err != nil {
		return entry{}, err
	}
	if offs[1]-offs[0] != want {
		return entry{}, fmt.Errorf("%v shape %v needs %d bytes but data_offsets %v span %d", dt, *r.Shape, want, offs, offs[1]-offs[0])
	}
	return entry{dtype: dt, shape: *r.Shape, begin: offs[0], end: offs[1]}, nil
}

// checkCoverage requires the tensors to tile the data section exactly: no overlap (two tensors
// aliasing bytes), no gap (unaccounted bytes) and nothing past the end of the file.
func checkCoverage(entries map[string]entry, dataLen int64) error {
	names := slices.Collect(maps.Keys(entries))
	sort.Slice(names, func(i, j int) bool {
		a, b := entries[names[i]], entries[names[j]]
		if a.begin != b.begin {
			return a.begin < b.begin
		}
		if a.end != b.end {
			return a.end < b.end
		}
		return names[i] < names[j]
	})
	var pos int64
	prev := ""
	for _, name := range names {
		e := entries[name]
		switch {
		case e.end > dataLen:
			return formatErr("tensor %q: data_offsets [%d,%d] run past the %d-byte data section (truncated file?)", name, e.begin, e.end, dataLen)
		case e.begin < pos:
			return formatErr("tensor %q: data_offsets [%d,%d] overlap tensor %q ending at %d", name, e.begin, e.end, prev, pos)
		case e.begin > pos:
			return formatErr("tensor %q: data_offsets [%d,%d] leave a gap after byte %d", name, e.begin, e.end, pos)
		}
		pos, prev = e.end, name
	}
	if pos != dataLen {
		return formatErr("tensors cover %d bytes but the data section has %d", pos, dataLen)
	}
	return nil
}

// Path is the file the File was opened from.
func (f *File) Path() string { return f.path }

// Names lists the tensor names in sorted order (which is also file order for HF-written files).
func (f *File) Names() []string {
	return slices.Sorted(maps.Keys(f.hdr.entries))
}

// Metadata returns a copy of the __metadata__ map (nil when the file has none).
func (f *File) Metadata() map[string]string { return maps.Clone(f.hdr.metadata) }

// Get returns a view of the named tensor: Data aliases the memory map (read-only, valid until
// Close). Its capacity is clipped so an append can never write into the mapping.
func (f *File) Get(name string) (Tensor, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return Tensor{}, fmt.Errorf("safetensors %s: get %q: %w", f.path, name, errClosed)
	}
	e, ok := f.hdr.entries[name]
	if !ok {
		return Tensor{}, fmt.Errorf("safetensors %s: %q: %w", f.path, name, ErrNotFound)
	}
	lo, hi := f.hdr.dataOff+e.begin, f.hdr.dataOff+e.end
	return Tensor{Name: name, DType: e.dtype, Shape: slices.Clone(e.shape), Data: f.data[lo:hi:hi]}, nil
}

// Close unmaps the file. Tensors obtained from Get must not be used afterwards.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	err := unmapFile(f.data)
	f.data, f.closed = nil, true
	if err != nil {
		return fmt.Errorf("safetensors %s: close: %w", f.path, err)
	}
	return nil
}

// WriteSafetensors writes tensors to path in the layout the HF safetensors library produces:
// an 8-byte little-endian header length, a compact JSON header (with "__metadata__" first when
// metadata is non-nil) padded with spaces to a multiple of 8, then the tensors' bytes packed
// back to back. Tensors are ordered by name, which is what HF writes when all tensors share a
// dtype (HF orders mixed dtypes by alignment first; name order keeps every offset a pure
// function of the names).
//
// The file is written to a temporary file in the same folder, fsynced and renamed over path,
// so readers never see a half-written file and a mapped old version stays intact. Data is
// streamed from the tensors as they are (e.g. straight from another file's mapping) without
// concatenating it in memory.
func WriteSafetensors(path string, tensors []Tensor, metadata map[string]string) error {
	sorted, err := sortedForWrite(tensors)
	if err != nil {
		return fmt.Errorf("write safetensors %s: %w", path, err)
	}
	hdr := encodeHeader(sorted, metadata)
	err = writeAtomic(path, func(w io.Writer) error {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(hdr)))
		if _, err := w.Write(n[:]); err != nil {
			return err
		}
		if _, err := w.Write(hdr); err != nil {
			return err
		}
		for _, t := range sorted {
			if _, err := w.Write(t.Data); err != nil {
				return fmt.Errorf("tensor %q: %w", t.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write safetensors %s: %w", path, err)
	}
	return nil
}

// sortedForWrite validates the tensors and returns them sorted by name, leaving the caller's
// slice untouched.
func sortedForWrite(tensors []Tensor) ([]Tensor, error) {
	sorted := slices.Clone(tensors)
	slices.SortFunc(sorted, func(a, b Tensor) int { return strings.Compare(a.Name, b.Name) })
	for i, t := range sorted {
		switch {
		case t.Name == "" || t.Name == metadataKey || !utf8.ValidString(t.Name):
			return nil, fmt.Errorf("invalid tensor name %q", t.Name)
		case i > 0 && sorted[i-1].Name == t.Name:
			return nil, fmt.Errorf("tensor %q given twice", t.Name)
		}
		if err := t.Validate(); err != nil {
			return nil, err
		}
	}
	return sorted, nil
}

// encodeHeader renders the JSON header byte for byte as serde_json does in the HF library
// (compact, keys in data order, metadata keys sorted), padded with spaces to a multiple of 8
// so the data section starts aligned.
func encodeHeader(sorted []Tensor, metadata map[string]string) []byte {
	b := []byte{'{'}
	if metadata != nil {
		b = appendJSONString(b, metadataKey)
		b = append(b, ":{"...)
		for i, k := range slices.Sorted(maps.Keys(metadata)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, metadata[k])
		}
		b = append(b, '}')
	}
	var off int64
	for i, t := range sorted {
		if i > 0 || metadata != nil {
			b = append(b, ',')
		}
		b = appendJSONString(b, t.Name)
		b = append(b, `:{"dtype":"`...)
		b = append(b, t.DType.String()...)
		b = append(b, `","shape":[`...)
		for j, d := range t.Shape {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, d, 10)
		}
		b = append(b, `],"data_offsets":[`...)
		b = strconv.AppendInt(b, off, 10)
		off += int64(len(t.Data))
		b = append(b, ',')
		b = strconv.AppendInt(b, off, 10)
		b = append(b, "]}"...)
	}
	b = append(b, '}')
	for len(b)%8 != 0 {
		b = append(b, ' ')
	}
	return b
}

// appendJSONString quotes s the way serde_json does: only '"', '\\' and control characters are
// escaped (unlike encoding/json, which also escapes <, >, & and U+2028), so names round-trip
// byte for byte with HF-written files.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		case '\b':
			b = append(b, `\b`...)
		case '\f':
			b = append(b, `\f`...)
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, '"')
}
