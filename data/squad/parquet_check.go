package squad

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// parquet-go trusts the sizes a file declares: the footer length, thrift list and string
// lengths, page sizes. It allocates what they say before it finds out that the bytes are not
// there, so a 22-byte file could claim a list of 2^31 schema elements and kill the process
// with "fatal error: out of memory" (no panic to recover from), and a flipped bit in a page
// header cost a 2 GiB allocation. checkParquetSizes reads the footer and every page header
// first, with every declared size bounded by the bytes that actually hold it, so that what
// parquet-go then allocates is bounded by the file and the limits below.
const (
	// maxPageBytes bounds a page's uncompressed size. Writers aim at 1 MiB pages (pyarrow,
	// HF datasets) and cap dictionary pages at 1 MiB; 64 MiB leaves room for single values
	// far longer than any context.
	maxPageBytes = 64 << 20
	// maxPageValues bounds the values a page declares: RLE can encode many values in few
	// bytes, so the count is not bounded by the page's size.
	maxPageValues = 1 << 24
	// maxPageHeaderBytes bounds one page header (statistics included).
	maxPageHeaderBytes = 16 << 20
)

// checkParquetSizes validates the footer and the page headers of a plain (unencrypted)
// parquet file; encrypted files are left to parquet-go, which refuses them without a key.
func checkParquetSizes(r io.ReaderAt, size int64) error {
	if size < 12 {
		return fmt.Errorf("%d bytes is too short for a parquet file", size)
	}
	var tail [8]byte
	if _, err := r.ReadAt(tail[:], size-8); err != nil {
		return err
	}
	if string(tail[4:]) != "PAR1" {
		return nil // "PARE" (encrypted) or not parquet: parquet-go says which
	}
	footerLen := int64(binary.LittleEndian.Uint32(tail[:4]))
	if footerLen > size-12 {
		return fmt.Errorf("footer of %d bytes in a file of %d bytes", footerLen, size)
	}
	footer := make([]byte, footerLen)
	if _, err := r.ReadAt(footer, size-8-footerLen); err != nil {
		return err
	}
	var md format.FileMetaData
	if err := decodeBounded(footer, &md); err != nil {
		return fmt.Errorf("footer: %w", err)
	}
	dataEnd := size - 8 - footerLen
	for g, rg := range md.RowGroups {
		if rg.NumRows < 0 {
			return fmt.Errorf("row group %d: %d rows", g, rg.NumRows)
		}
		for c, ch := range rg.Columns {
			cm := &ch.MetaData
			base := cm.DataPageOffset
			if cm.DictionaryPageOffset != 0 {
				base = cm.DictionaryPageOffset
			}
			if base < 4 || cm.TotalCompressedSize < 0 || cm.TotalCompressedSize > dataEnd-base {
				return fmt.Errorf("row group %d column %d: %d bytes at offset %d, outside the %d bytes of data", g, c, cm.TotalCompressedSize, base, dataEnd)
			}
			if err := checkPageHeaders(io.NewSectionReader(r, base, cm.TotalCompressedSize)); err != nil {
				return fmt.Errorf("row group %d column %d: %w", g, c, err)
			}
		}
	}
	return nil
}

// checkPageHeaders walks the pages of one column chunk by their headers.
func checkPageHeaders(chunk *io.SectionReader) error {
	buf := make([]byte, 0, 64<<10)
	for off, n := int64(0), chunk.Size(); off < n; {
		// A header is decoded from a window of the chunk, doubled until the header fits.
		var h format.PageHeader
		var used int
		for window := min(n-off, 64<<10); ; window = min(2*window, n-off, maxPageHeaderBytes) {
			buf = buf[:window]
			if _, err := chunk.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			h = format.PageHeader{}
			var err error
			if used, err = decodeBoundedPrefix(buf, &h); err == nil {
				break
			} else if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) || window == min(n-off, maxPageHeaderBytes) {
				return fmt.Errorf("page at byte %d: header: %w", off, err)
			}
		}
		switch {
		case h.CompressedPageSize < 0 || int64(h.CompressedPageSize) > n-off-int64(used):
			return fmt.Errorf("page at byte %d: %d compressed bytes, %d left in the column chunk", off, h.CompressedPageSize, n-off-int64(used))
		case h.UncompressedPageSize < 0 || h.UncompressedPageSize > maxPageBytes:
			return fmt.Errorf("page at byte %d: uncompressed size %d outside [0, %d]", off, h.UncompressedPageSize, maxPageBytes)
		}
		for _, v := range []int32{h.DataPageHeader.V.NumValues, h.DataPageHeaderV2.V.NumValues, h.DictionaryPageHeader.V.NumValues, h.DataPageHeaderV2.V.NumRows} {
			if v < 0 || v > maxPageValues {
				return fmt.Errorf("page at byte %d: %d values, outside [0, %d]", off, v, maxPageValues)
			}
		}
		off += int64(used) + int64(h.CompressedPageSize)
	}
	return nil
}

// decodeBounded decodes exactly data into v.
func decodeBounded(data []byte, v any) error {
	n, err := decodeBoundedPrefix(data, v)
	if err == nil && n != len(data) {
		err = fmt.Errorf("%d bytes after the thrift value", len(data)-n)
	}
	return err
}

// decodeBoundedPrefix decodes a thrift value from the start of data and returns its length.
// Every list, set and map may declare at most as many elements as there are bytes left (each
// takes at least one); strings are already bounded by the bytes reader.
func decodeBoundedPrefix(data []byte, v any) (n int, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("corrupt thrift: %v", p)
		}
	}()
	r := &boundedReader{BytesReader: (&thrift.CompactProtocol{}).NewReaderFromBytes(data), n: len(data)}
	if err := thrift.NewDecoder(r).Decode(v); err != nil {
		return 0, err
	}
	return r.BytesRead(), nil
}

type boundedReader struct {
	thrift.BytesReader
	n int
}

func (r *boundedReader) left() int { return r.n - r.BytesRead() }

func (r *boundedReader) ReadList() (thrift.List, error) {
	l, err := r.BytesReader.ReadList()
	if err == nil && int(l.Size) > r.left() {
		err = fmt.Errorf("list of %d elements in %d bytes: %w", l.Size, r.left(), io.ErrUnexpectedEOF)
	}
	return l, err
}

func (r *boundedReader) ReadSet() (thrift.Set, error) {
	l, err := r.ReadList()
	return thrift.Set(l), err
}

func (r *boundedReader) ReadMap() (thrift.Map, error) {
	m, err := r.BytesReader.ReadMap()
	if err == nil && 2*int(m.Size) > r.left() {
		err = fmt.Errorf("map of %d entries in %d bytes: %w", m.Size, r.left(), io.ErrUnexpectedEOF)
	}
	return m, err
}
