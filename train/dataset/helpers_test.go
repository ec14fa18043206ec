package dataset

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// Synthetic data: image i of a part carries its index in its first two
// pixels, so tests can tell which image went where; the rest is a pattern.

// pixelOf returns pixel k of synthetic image i.
func pixelOf(i, k int) uint8 {
	switch k {
	case 0:
		return uint8(i)
	case 1:
		return uint8(i >> 8)
	}
	return uint8((i*31 + k*7) % 251)
}

// labelOf returns the label of synthetic image i for a set of classes.
func labelOf(i, classes int) uint8 { return uint8((i * 7) % classes) }

// indexOf recovers a synthetic image's index from its pixels.
func indexOf(img []uint8) int { return int(img[0]) | int(img[1])<<8 }

// synthImages returns n synthetic images of size bytes each.
func synthImages(n, size int) []uint8 {
	b := make([]uint8, n*size)
	for i := range n {
		for k := range size {
			b[i*size+k] = pixelOf(i, k)
		}
	}
	return b
}

// idxBytes returns an IDX file with the given magic, dimensions and body.
func idxBytes(magic uint32, dims []int, body []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(body)
	return b.Bytes()
}

// gzipBytes compresses b.
func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// writeFile writes data to dir/name and returns the path.
func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// idxSpec describes a synthetic IDX data set.
type idxSpec struct {
	nTrain, nTest, h, w int
	gz                  bool
}

// writeIDXSet writes a synthetic IDX data set into dir.
func writeIDXSet(t testing.TB, dir string, s idxSpec) {
	t.Helper()
	for _, part := range []struct {
		images, labels string
		n              int
	}{{idxTrainImages, idxTrainLabels, s.nTrain}, {idxTestImages, idxTestLabels, s.nTest}} {
		labels := make([]byte, part.n)
		for i := range labels {
			labels[i] = labelOf(i, idxClasses)
		}
		img := idxBytes(idxImagesMagic, []int{part.n, s.h, s.w}, synthImages(part.n, s.h*s.w))
		lab := idxBytes(idxLabelsMagic, []int{part.n}, labels)
		if s.gz {
			writeFile(t, dir, part.images+".gz", gzipBytes(t, img))
			writeFile(t, dir, part.labels+".gz", gzipBytes(t, lab))
		} else {
			writeFile(t, dir, part.images, img)
			writeFile(t, dir, part.labels, lab)
		}
	}
}

// cifarRecords returns n synthetic records of format f, numbered from
// first (the synthetic index of the first record).
func cifarRecords(f *cifarFormat, first, n int) []byte {
	rec := f.recordSize()
	b := make([]byte, n*rec)
	for j := range n {
		i := first + j
		r := b[j*rec : (j+1)*rec]
		if f.coarse > 0 {
			r[0] = labelOf(i, f.coarse)
		}
		r[f.labelBytes-1] = labelOf(i, f.classes)
		for k := range cifarImageBytes {
			r[f.labelBytes+k] = pixelOf(i, k)
		}
	}
	return b
}

// writeCIFARSet writes a synthetic CIFAR data set of format f into dir,
// perFile records in each training file and nTest in the test file.
func writeCIFARSet(t testing.TB, dir string, f *cifarFormat, perFile, nTest int) {
	t.Helper()
	for k, name := range f.train {
		writeFile(t, dir, name, cifarRecords(f, k*perFile, perFile))
	}
	writeFile(t, dir, f.test, cifarRecords(f, 0, nTest))
}

// memSet returns a loaded synthetic set built in memory, for Batch tests.
func memSet(t testing.TB, n, c, h, w int) *Set {
	t.Helper()
	r := &raw{n: n, c: c, h: h, w: w, pixels: synthImages(n, c*h*w), labels: make([]uint8, n)}
	for i := range r.labels {
		r.labels[i] = labelOf(i, 10)
	}
	test := &raw{n: 0, c: c, h: h, w: w}
	s, err := newSet("mem", formatCIFAR10, "", 10, r, test, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
