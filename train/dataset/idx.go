package dataset

import (
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// The IDX format (MNIST, Fashion-MNIST): a big-endian header, then the data.
// The magic number's third byte is the element type (0x08: unsigned byte),
// its fourth the number of dimensions; one uint32 size per dimension follows.
const (
	idxImagesMagic = 0x00000803 // unsigned bytes, 3 dimensions: N x rows x cols
	idxLabelsMagic = 0x00000801 // unsigned bytes, 1 dimension: N
	idxUbyte       = 0x08

	// maxBodyBytes bounds what a header may claim (64 GiB), so that the
	// arithmetic on its sizes cannot overflow.
	maxBodyBytes = 1 << 36
	// idxClasses is the number of classes of every IDX data set read here.
	idxClasses = 10
)

// The IDX files of a data set, in the order they enter the identity hash.
const (
	idxTrainImages = "train-images-idx3-ubyte"
	idxTrainLabels = "train-labels-idx1-ubyte"
	idxTestImages  = "t10k-images-idx3-ubyte"
	idxTestLabels  = "t10k-labels-idx1-ubyte"
)

// idxFile is one decoded IDX file.
type idxFile struct {
	dims   []int  // N, then rows and cols for images
	header []byte // the raw header, kept for the identity hash
	body   []byte // the data: exactly the product of dims bytes
}

// parseIDXHeader decodes the start of an IDX file that should have ndims
// dimensions of unsigned bytes. b holds what could be read of the header:
// 4+4*ndims bytes, or fewer when the file is shorter. It returns the
// dimension sizes and the number of data bytes they imply. Its errors say
// what is wrong without naming a file.
func parseIDXHeader(b []byte, ndims int) (dims []int, body int64, err error) {
	if len(b) < 4 {
		return nil, 0, fmt.Errorf("truncated: %d bytes, too short for an IDX header", len(b))
	}
	magic := binary.BigEndian.Uint32(b)
	want := uint32(idxUbyte)<<8 | uint32(ndims)
	switch {
	case b[0] != 0 || b[1] != 0:
		return nil, 0, fmt.Errorf("bad magic number 0x%08x, want 0x%08x: not an IDX file", magic, want)
	case b[2] != idxUbyte:
		return nil, 0, fmt.Errorf("bad magic number 0x%08x: element type 0x%02x, want 0x%02x (unsigned byte)", magic, b[2], idxUbyte)
	case int(b[3]) != ndims:
		return nil, 0, fmt.Errorf("bad magic number 0x%08x: %s, want %d (%s)", magic, plural(int(b[3]), "dimension"), ndims, idxKind(ndims))
	}
	hlen := 4 + 4*ndims
	if len(b) < hlen {
		return nil, 0, fmt.Errorf("truncated: %d bytes, too short for the %d-byte IDX header", len(b), hlen)
	}
	dims = make([]int, ndims)
	body = 1
	for i := range dims {
		d := binary.BigEndian.Uint32(b[4+4*i:])
		if d == 0 {
			return nil, 0, fmt.Errorf("header has a zero size in dimension %d (%s)", i+1, idxKind(ndims))
		}
		if int64(d) > maxBodyBytes/body { // checked before multiplying: no overflow
			return nil, 0, fmt.Errorf("header claims more than %d bytes of data (dimension %d is %d)", int64(maxBodyBytes), i+1, d)
		}
		body *= int64(d)
		dims[i] = int(d)
	}
	return dims, body, nil
}

// idxKind describes what an IDX file with ndims dimensions holds here.
func idxKind(ndims int) string {
	if ndims == 3 {
		return "images are N x rows x cols"
	}
	return "labels are N"
}

// describeIDX says what a header claims, for error messages.
func describeIDX(dims []int, body int64) string {
	if len(dims) == 3 {
		return fmt.Sprintf("header says %d images of %dx%d (%d bytes)", dims[0], dims[1], dims[2], body)
	}
	return fmt.Sprintf("header says %d labels (%d bytes)", dims[0], body)
}

// readIDX reads the IDX file at path, gunzipping it when its name ends in
// ".gz", and checks that it has ndims dimensions and exactly the data its
// header announces. Everything it reads of the (decompressed) file, header
// and data, goes into h. keep > 0 keeps only the first keep items (images
// or labels) in memory; the rest is read, checked and hashed all the same.
func readIDX(path string, ndims int, h io.Writer, keep int) (*idxFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, openError(path, err)
	}
	defer f.Close()
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, corrupt(path, "bad gzip stream: empty file")
			}
			return nil, corruptCause(path, err, "bad gzip stream")
		}
		defer zr.Close()
		return decodeIDX(path, io.TeeReader(zr, h), -gzipSizeHint(f), ndims, keep)
	}
	st, err := f.Stat()
	if err != nil {
		return nil, openError(path, err)
	}
	return decodeIDX(path, io.TeeReader(f, h), st.Size(), ndims, keep)
}

// gzipSizeHint returns what the gzip file f says its content's length is
// (the ISIZE trailer, modulo 2^32), capped at what deflate can expand the
// file to (1032:1), or 1 when it cannot tell. It is only a hint for sizing
// a buffer: decodeIDX trusts it only when it agrees with the IDX header.
func gzipSizeHint(f *os.File) int64 {
	st, err := f.Stat()
	if err != nil || st.Size() < 18 {
		return 1
	}
	var b [4]byte
	if _, err := f.ReadAt(b[:], st.Size()-4); err != nil {
		return 1
	}
	return max(1, min(int64(binary.LittleEndian.Uint32(b[:])), 1032*st.Size()))
}

// decodeIDX decodes an IDX file with ndims dimensions from r. size >= 0 is
// the file's length in bytes (a plain file); size < 0 means r is a gzip
// stream whose length shows only by reading it to the end, which also
// checks its CRC, and -size is a hint of that length (see gzipSizeHint).
func decodeIDX(path string, r io.Reader, size int64, ndims int, keep int) (*idxFile, error) {
	gz := size < 0
	hlen := 4 + 4*ndims
	header := make([]byte, hlen)
	n, err := io.ReadFull(r, header)
	if err != nil && !isEOF(err) {
		return nil, readError(path, err, gz)
	}
	dims, body, err := parseIDXHeader(header[:n], ndims)
	if err != nil {
		return nil, corrupt(path, "%v", err)
	}
	if !gz {
		have := size - int64(hlen)
		switch {
		case have < body:
			return nil, corrupt(path, "truncated: %s, file has %d after the %d-byte header", describeIDX(dims, body), have, hlen)
		case have > body:
			return nil, corrupt(path, "trailing data: %s, file has %d after the %d-byte header", describeIDX(dims, body), have, hlen)
		}
	}
	kept := body
	if keep > 0 && int64(keep) < int64(dims[0]) {
		kept = body / int64(dims[0]) * int64(keep)
	}
	capacity := min(kept, 1<<22)
	if gz && -size == int64(hlen)+body {
		capacity = kept // the gzip trailer agrees with the header
	}
	data, err := readN(r, kept, capacity)
	if err == nil && kept < body {
		// The rest is read (and so hashed and, for gzip, CRC-checked) but
		// not kept.
		var skipped int64
		skipped, err = io.CopyN(io.Discard, r, body-kept)
		if isEOF(err) {
			return nil, corrupt(path, "truncated: %s, %d after the %d-byte header", describeIDX(dims, body), kept+skipped, hlen)
		}
	}
	if err != nil {
		if isEOF(err) {
			what := "file has"
			if gz {
				what = "gzip stream holds"
			}
			return nil, corrupt(path, "truncated: %s, %s %d after the %d-byte header", describeIDX(dims, body), what, len(data), hlen)
		}
		return nil, readError(path, err, gz)
	}
	if gz {
		// Read on to the end of the stream: it must end here, and reaching
		// its end makes the gzip reader verify the CRC.
		var one [1]byte
		k, err := io.ReadFull(r, one[:])
		if k > 0 {
			return nil, corrupt(path, "trailing data: %s, gzip stream holds more", describeIDX(dims, body))
		}
		if !errors.Is(err, io.EOF) {
			return nil, readError(path, err, gz)
		}
	}
	return &idxFile{dims: dims, header: header, body: data}, nil
}

// readN reads exactly n bytes from r into a buffer of first capacity that
// grows as data arrives, so that a header that lies about the size costs
// no more memory than the data really there. On a short read it returns
// what it got and an EOF error.
func readN(r io.Reader, n, capacity int64) ([]byte, error) {
	buf := make([]byte, 0, max(1, min(n, capacity)))
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, 2*int64(cap(buf))))
			copy(grown, buf)
			buf = grown
		}
		k, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err != nil {
			if int64(len(buf)) == n && errors.Is(err, io.EOF) {
				break
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return buf, err
		}
	}
	return buf, nil
}

// isEOF reports whether err means the input ended early.
func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// readError reports a failed read that is not a plain end of input.
func readError(path string, err error, gz bool) error {
	if gz {
		return corruptCause(path, err, "bad gzip stream")
	}
	return openError(path, err)
}

// findIDX returns the path of the IDX file base in dir: the plain file if
// present, else base+".gz". When neither exists the error names both.
func findIDX(dir, base string) (string, error) {
	plain := filepath.Join(dir, base)
	if _, err := os.Stat(plain); err == nil {
		return plain, nil
	}
	gz := plain + ".gz"
	if _, err := os.Stat(gz); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", &fileError{path: gz, problem: "file not found (nor without .gz)", kind: ErrNotFound, cause: err}
		}
		return "", openError(gz, err)
	}
	return gz, nil
}

// hasIDX reports whether dir holds IDX training images.
func hasIDX(dir string) bool {
	_, err := findIDX(dir, idxTrainImages)
	return err == nil
}

// loadIDX reads the four IDX files of dir into a train and a test part,
// feeding their decompressed contents to h in a fixed order.
func loadIDX(dir string, h io.Writer, keepTrain int) (train, test *raw, err error) {
	train, err = loadIDXPair(dir, idxTrainImages, idxTrainLabels, h, keepTrain)
	if err != nil {
		return nil, nil, err
	}
	test, err = loadIDXPair(dir, idxTestImages, idxTestLabels, h, 0)
	if err != nil {
		return nil, nil, err
	}
	if train.h != test.h || train.w != test.w {
		return nil, nil, corrupt(filepath.Join(dir, idxTestImages), "images are %dx%d, training images are %dx%d", test.h, test.w, train.h, train.w)
	}
	return train, test, nil
}

// loadIDXPair reads one images file and its labels file.
// keep > 0 keeps only the first keep images and labels.
func loadIDXPair(dir, imagesBase, labelsBase string, h io.Writer, keep int) (*raw, error) {
	imagesPath, err := findIDX(dir, imagesBase)
	if err != nil {
		return nil, err
	}
	labelsPath, err := findIDX(dir, labelsBase)
	if err != nil {
		return nil, err
	}
	images, err := readIDX(imagesPath, 3, h, keep)
	if err != nil {
		return nil, err
	}
	labels, err := readIDX(labelsPath, 1, h, keep)
	if err != nil {
		return nil, err
	}
	if images.dims[0] != labels.dims[0] {
		return nil, corrupt(labelsPath, "%d labels, but %s holds %d images", labels.dims[0], filepath.Base(imagesPath), images.dims[0])
	}
	if err := checkLabels(labelsPath, labels.body, 1, 0, idxClasses); err != nil {
		return nil, err
	}
	return &raw{n: len(labels.body), c: 1, h: images.dims[1], w: images.dims[2], pixels: images.body, labels: labels.body}, nil
}

// checkLabels checks that every label in data (one every stride bytes,
// starting at offset) is below classes.
func checkLabels(path string, data []byte, stride, offset, classes int) error {
	for i := offset; i < len(data); i += stride {
		if int(data[i]) >= classes {
			return corrupt(path, "label %d of example %d out of range: %d classes", data[i], (i-offset)/stride, classes)
		}
	}
	return nil
}

// raw is one part (train or test) of a data set as read from its files.
type raw struct {
	n, c, h, w int
	pixels     []uint8 // n*c*h*w, NCHW
	labels     []uint8 // n
}

// keep truncates r to its first n images when 0 < n < r.n.
func (r *raw) keep(n int) {
	if n <= 0 || n >= r.n {
		return
	}
	size := r.c * r.h * r.w
	r.n, r.pixels, r.labels = n, r.pixels[:n*size:n*size], r.labels[:n:n]
}
