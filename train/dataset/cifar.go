package dataset

import (
	"errors"
	"io"
	"os"
	"path/filepath"
)

// The CIFAR binary formats: fixed-size records, each one or two label bytes
// followed by a 32x32 colour image stored as 1024 red, 1024 green, then 1024
// blue bytes, rows top to bottom (CHW order, already what NCHW wants).
const (
	cifarSide       = 32
	cifarChannels   = 3
	cifarImageBytes = cifarChannels * cifarSide * cifarSide
)

// cifarFormat describes one of the two CIFAR binary layouts.
type cifarFormat struct {
	name       string   // data set name: "cifar10" or "cifar100"
	title      string   // for messages: "CIFAR-10"
	subdir     string   // the folder the official archive unpacks to
	train      []string // training files, in identity-hash order
	test       string   // test file, hashed after the training files
	labelBytes int      // 1 (CIFAR-10) or 2 (CIFAR-100: coarse, then fine)
	classes    int      // number of classes of the label used
	coarse     int      // CIFAR-100's coarse classes, checked but not used; 0 if none
}

var (
	cifar10Format = &cifarFormat{
		name:   "cifar10",
		title:  "CIFAR-10",
		subdir: "cifar-10-batches-bin",
		train: []string{
			"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
			"data_batch_4.bin", "data_batch_5.bin",
		},
		test:       "test_batch.bin",
		labelBytes: 1,
		classes:    10,
	}
	cifar100Format = &cifarFormat{
		name:       "cifar100",
		title:      "CIFAR-100",
		subdir:     "cifar-100-binary",
		train:      []string{"train.bin"},
		test:       "test.bin",
		labelBytes: 2,
		classes:    100,
		coarse:     20,
	}
)

// recordSize is the length of one record in bytes.
func (f *cifarFormat) recordSize() int { return f.labelBytes + cifarImageBytes }

// locate returns the directory under dir that holds f's first training
// file: dir itself, or its subfolder f.subdir.
func (f *cifarFormat) locate(dir string) (string, bool) {
	for _, d := range []string{dir, filepath.Join(dir, f.subdir)} {
		if st, err := os.Stat(filepath.Join(d, f.train[0])); err == nil && st.Mode().IsRegular() {
			return d, true
		}
	}
	return "", false
}

// checkSize checks that a file of size bytes holds a whole number of
// records, at least one.
func (f *cifarFormat) checkSize(path string, size int64) error {
	rec := int64(f.recordSize())
	switch {
	case size == 0:
		return corrupt(path, "empty file")
	case size%rec != 0:
		return corrupt(path, "size %d bytes is not a multiple of the %d-byte %s record (%s + %d pixel bytes); truncated?",
			size, rec, f.title, plural(f.labelBytes, "label byte"), cifarImageBytes)
	}
	return nil
}

// decodeCIFAR splits the records in data into pixels and labels, which
// must hold exactly len(data)/recordSize images and labels. It checks the
// size and every label; the label kept is the last label byte (CIFAR-100's
// fine label).
func decodeCIFAR(path string, data []byte, f *cifarFormat, pixels, labels []uint8) error {
	if err := f.checkSize(path, int64(len(data))); err != nil {
		return err
	}
	rec := f.recordSize()
	n := len(data) / rec
	if len(labels) != n || len(pixels) != n*cifarImageBytes {
		return corrupt(path, "internal error: %d records for %d labels", n, len(labels))
	}
	for i := range n {
		r := data[i*rec : (i+1)*rec]
		if f.coarse > 0 && int(r[0]) >= f.coarse {
			return corrupt(path, "coarse label %d of record %d out of range: %d classes", r[0], i, f.coarse)
		}
		label := r[f.labelBytes-1]
		if int(label) >= f.classes {
			return corrupt(path, "label %d of record %d out of range: %d classes", label, i, f.classes)
		}
		labels[i] = label
		copy(pixels[i*cifarImageBytes:(i+1)*cifarImageBytes], r[f.labelBytes:])
	}
	return nil
}

// loadCIFAR reads f's files from dir (the folder locate found) into a
// train and a test part, feeding the files' contents to h in a fixed order.
func loadCIFAR(dir string, f *cifarFormat, h io.Writer) (train, test *raw, err error) {
	paths := make([]string, len(f.train))
	for i, name := range f.train {
		paths[i] = filepath.Join(dir, name)
	}
	var buf []byte
	train, buf, err = readCIFARFiles(paths, f, h, buf)
	if err != nil {
		return nil, nil, err
	}
	test, _, err = readCIFARFiles([]string{filepath.Join(dir, f.test)}, f, h, buf)
	if err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// readCIFARFiles reads and decodes the files at paths into one part. All
// sizes are checked before anything is allocated. buf is a scratch buffer
// for a file's contents, reused and returned.
func readCIFARFiles(paths []string, f *cifarFormat, h io.Writer, buf []byte) (*raw, []byte, error) {
	sizes := make([]int64, len(paths))
	var total int64
	for i, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, buf, openError(p, err)
		}
		if !st.Mode().IsRegular() {
			return nil, buf, &fileError{path: p, problem: "not a regular file", kind: ErrCorrupt}
		}
		if err := f.checkSize(p, st.Size()); err != nil {
			return nil, buf, err
		}
		sizes[i] = st.Size()
		total += st.Size() / int64(f.recordSize())
	}
	if total*cifarImageBytes > maxBodyBytes {
		return nil, buf, corrupt(paths[0], "%d records is more than this package will hold in memory", total)
	}
	n := int(total)
	part := &raw{n: n, c: cifarChannels, h: cifarSide, w: cifarSide,
		pixels: make([]uint8, n*cifarImageBytes), labels: make([]uint8, n)}
	at := 0
	for i, p := range paths {
		if int64(cap(buf)) < sizes[i] {
			buf = make([]byte, sizes[i])
		}
		data := buf[:sizes[i]]
		if err := readWhole(p, data); err != nil {
			return nil, buf, err
		}
		k := len(data) / f.recordSize()
		if err := decodeCIFAR(p, data, f, part.pixels[at*cifarImageBytes:(at+k)*cifarImageBytes], part.labels[at:at+k]); err != nil {
			return nil, buf, err
		}
		h.Write(data)
		at += k
	}
	return part, buf, nil
}

// readWhole fills data from the start of the file at path, which was
// len(data) bytes long when it was looked at.
func readWhole(path string, data []byte) error {
	fh, err := os.Open(path)
	if err != nil {
		return openError(path, err)
	}
	defer fh.Close()
	n, err := io.ReadFull(fh, data)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return corrupt(path, "truncated while reading: %d of %d bytes", n, len(data))
		}
		return openError(path, err)
	}
	return nil
}
