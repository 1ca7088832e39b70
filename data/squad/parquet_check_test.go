package squad

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
	"github.com/stretchr/testify/require"
)

// parquetWithFooter is a file of no data whose footer is the given thrift bytes.
func parquetWithFooter(footer []byte, declared uint32) []byte {
	var b bytes.Buffer
	b.WriteString("PAR1")
	b.Write(footer)
	binary.Write(&b, binary.LittleEndian, declared)
	b.WriteString("PAR1")
	return b.Bytes()
}

// TestParquetDeclaredSizesBounded: sizes a file declares but does not hold are refused with a
// FormatError before anything is allocated for them. Before the check, the first of these
// files killed the process (fatal error: out of memory, 2^31 schema elements of a 22-byte
// file) and the others cost a 2 GiB allocation each.
func TestParquetDeclaredSizesBounded(t *testing.T) {
	rows, _ := hfRows(4)
	var good bytes.Buffer
	require.NoError(t, parquet.Write(&good, rows))
	g := good.Bytes()
	hugeFooter := bytes.Clone(g)
	binary.LittleEndian.PutUint32(hugeFooter[len(hugeFooter)-8:], 0x7fffffff)
	// The first page header (at byte 4) claiming 2^31-1 compressed bytes.
	var h format.PageHeader
	n, err := decodeBoundedPrefix(g[4:], &h)
	require.NoError(t, err)
	h.CompressedPageSize = math.MaxInt32
	enc, err := thrift.Marshal(&thrift.CompactProtocol{}, &h)
	require.NoError(t, err)
	hugePage := append(append(bytes.Clone(g[:4]), enc...), g[4+n:]...)
	for name, tc := range map[string]struct {
		data []byte
		msg  string
	}{
		// version 1, then a schema list declaring 2^31-16 structs, in 22 bytes.
		"list of 2^31 schema elements": {parquetWithFooter([]byte{0x15, 0x02, 0x19, 0xFC, 0xf0, 0xff, 0xff, 0xff, 0x07, 0x00}, 10), "list of 2147483632 elements in 1 bytes"},
		"footer longer than the file":  {hugeFooter, "footer of 2147483647 bytes in a file of"},
		"page larger than its chunk":   {hugePage, "compressed bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			requireAllocBelow(t, 1<<20, func() {
				_, err := NewParquetReader(bytes.NewReader(tc.data), int64(len(tc.data)), "fuzz.parquet", Options{})
				var fe *FormatError
				require.ErrorAs(t, err, &fe)
				require.Contains(t, err.Error(), tc.msg)
			})
		})
	}
}
