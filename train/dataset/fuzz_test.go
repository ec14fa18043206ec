package dataset

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
)

// checkFuzzError checks that a decoding error is one line naming path.
func checkFuzzError(t *testing.T, err error, path string) {
	t.Helper()
	msg := err.Error()
	if !strings.HasPrefix(msg, "dataset: "+path+": ") || strings.ContainsAny(msg, "\n\r") {
		t.Fatalf("error %q is not one line starting with the path", msg)
	}
}

// FuzzIDXHeader feeds arbitrary bytes to the IDX header parser and decoder,
// as a plain file and as a gzip stream: no panic, and on success the body is
// exactly what the header announces.
func FuzzIDXHeader(f *testing.F) {
	f.Add(idxBytes(idxImagesMagic, []int{2, 2, 3}, make([]byte, 12)), uint8(3))
	f.Add(idxBytes(idxLabelsMagic, []int{4}, []byte{1, 2, 3, 9}), uint8(1))
	f.Add(idxBytes(idxImagesMagic, []int{2, 2, 3}, make([]byte, 11)), uint8(3))
	f.Add(idxBytes(idxImagesMagic, []int{0xffffffff, 0xffffffff, 0xffffffff}, nil), uint8(3))
	f.Add(idxBytes(0x00000802, []int{1, 1}, []byte{0}), uint8(3))
	f.Add([]byte{0, 0, 8}, uint8(1))
	f.Add([]byte{}, uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, nd uint8) {
		ndims := 1 + 2*int(nd%2) // 1 (labels) or 3 (images)
		dims, body, err := parseIDXHeader(data, ndims)
		if err == nil {
			if len(dims) != ndims || body < 1 || body > maxBodyBytes {
				t.Fatalf("parseIDXHeader: dims %v, body %d", dims, body)
			}
		}
		const path = "/fuzz/file"
		for _, gz := range []bool{false, true} {
			var got *idxFile
			var err error
			if gz {
				got, err = decodeIDX(path, bytes.NewReader(data), -int64(len(data)), ndims, 0)
			} else {
				got, err = decodeIDX(path, bytes.NewReader(data), int64(len(data)), ndims, 0)
			}
			if err != nil {
				checkFuzzError(t, err, path)
				continue
			}
			want := int64(1)
			for _, d := range got.dims {
				want *= int64(d)
			}
			if int64(len(got.body)) != want || len(got.header)+len(got.body) != len(data) {
				t.Fatalf("decoded %d header + %d body bytes of %d, dims %v", len(got.header), len(got.body), len(data), got.dims)
			}
		}
		// The same bytes through gzip decode the same way.
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(data)
		zw.Close()
		zr, err := gzip.NewReader(&z)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeIDX(path, zr, -1, ndims, 0); err != nil {
			checkFuzzError(t, err, path)
		}
	})
}

// FuzzCIFARRecords feeds arbitrary bytes to the CIFAR record decoder, in
// both formats: no panic, and on success every label is in range and the
// pixels are the records' bytes.
func FuzzCIFARRecords(f *testing.F) {
	f.Add(cifarRecords(cifar10Format, 0, 2), false)
	f.Add(cifarRecords(cifar100Format, 0, 2), true)
	f.Add(cifarRecords(cifar10Format, 0, 1)[:100], false)
	bad := cifarRecords(cifar100Format, 0, 1)
	bad[0] = 25
	f.Add(bad, true)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, data []byte, hundred bool) {
		format := cifar10Format
		if hundred {
			format = cifar100Format
		}
		n := len(data) / format.recordSize()
		pixels, labels := make([]uint8, n*cifarImageBytes), make([]uint8, n)
		const path = "/fuzz/batch.bin"
		if err := decodeCIFAR(path, data, format, pixels, labels); err != nil {
			checkFuzzError(t, err, path)
			return
		}
		for i, l := range labels {
			if int(l) >= format.classes {
				t.Fatalf("record %d: label %d accepted", i, l)
			}
			rec := data[i*format.recordSize():]
			if !bytes.Equal(pixels[i*cifarImageBytes:(i+1)*cifarImageBytes], rec[format.labelBytes:format.recordSize()]) {
				t.Fatalf("record %d: pixels differ from the record", i)
			}
		}
	})
}
