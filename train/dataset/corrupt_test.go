package dataset

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCorruptFiles damages one file of a valid data set per case and
// checks that Load fails with one line that names that file and wraps the
// right sentinel, without panicking.
func TestCorruptFiles(t *testing.T) {
	idxSet := func(gz bool) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			writeIDXSet(t, dir, idxSpec{nTrain: 30, nTest: 10, h: 4, w: 5, gz: gz})
		}
	}
	cifarSet := func(f *cifarFormat) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) { writeCIFARSet(t, dir, f, 4, 3) }
	}
	rewrite := func(name string, edit func([]byte) []byte) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, dir, name, edit(b))
		}
	}
	regzip := func(name string, edit func([]byte) []byte) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			plain := idxBytes(idxImagesMagic, []int{30, 4, 5}, synthImages(30, 20))
			if name == idxTrainLabels+".gz" {
				labels := make([]byte, 30)
				plain = idxBytes(idxLabelsMagic, []int{30}, labels)
			}
			writeFile(t, dir, name, gzipBytes(t, edit(plain)))
		}
	}
	for _, tc := range []struct {
		name   string
		setup  func(t *testing.T, dir string)
		damage func(t *testing.T, dir string)
		file   string // the file the error must name
		kind   error
		says   string // a phrase the message must contain
	}{
		{"idx truncated", idxSet(false), rewrite(idxTrainImages, func(b []byte) []byte { return b[:len(b)-7] }),
			idxTrainImages, ErrCorrupt, "truncated: header says 30 images of 4x5 (600 bytes), file has 593"},
		{"idx truncated header", idxSet(false), rewrite(idxTrainImages, func(b []byte) []byte { return b[:10] }),
			idxTrainImages, ErrCorrupt, "truncated"},
		{"idx empty", idxSet(false), rewrite(idxTestLabels, func(b []byte) []byte { return nil }),
			idxTestLabels, ErrCorrupt, "too short"},
		{"idx trailing data", idxSet(false), rewrite(idxTestImages, func(b []byte) []byte { return append(b, 1, 2, 3) }),
			idxTestImages, ErrCorrupt, "trailing data"},
		{"idx bad magic", idxSet(false), rewrite(idxTrainImages, func(b []byte) []byte { b[0] = 0x1f; return b }),
			idxTrainImages, ErrCorrupt, "bad magic number"},
		{"idx wrong element type", idxSet(false), rewrite(idxTrainImages, func(b []byte) []byte { b[2] = 0x0d; return b }),
			idxTrainImages, ErrCorrupt, "element type"},
		{"idx wrong dims", idxSet(false), rewrite(idxTrainImages, func(b []byte) []byte { b[3] = 2; return b }),
			idxTrainImages, ErrCorrupt, "2 dimensions, want 3"},
		{"idx labels file as images", idxSet(false), func(t *testing.T, dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, idxTrainLabels))
			writeFile(t, dir, idxTrainImages, b)
		}, idxTrainImages, ErrCorrupt, "1 dimension, want 3"},
		{"idx zero size", idxSet(false), rewrite(idxTrainImages, func(b []byte) []byte { copy(b[8:], []byte{0, 0, 0, 0}); return b }),
			idxTrainImages, ErrCorrupt, "zero size"},
		{"idx huge header", idxSet(false), rewrite(idxTrainImages, func(b []byte) []byte {
			copy(b[4:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
			return b
		}), idxTrainImages, ErrCorrupt, "more than"},
		{"idx label out of range", idxSet(false), rewrite(idxTrainLabels, func(b []byte) []byte { b[8+5] = 10; return b }),
			idxTrainLabels, ErrCorrupt, "label 10 of example 5 out of range"},
		{"idx count mismatch", idxSet(false), func(t *testing.T, dir string) {
			writeFile(t, dir, idxTestLabels, idxBytes(idxLabelsMagic, []int{9}, make([]byte, 9)))
		}, idxTestLabels, ErrCorrupt, "9 labels, but t10k-images-idx3-ubyte holds 10 images"},
		{"idx test size differs", idxSet(false), func(t *testing.T, dir string) {
			writeFile(t, dir, idxTestImages, idxBytes(idxImagesMagic, []int{10, 5, 4}, make([]byte, 200)))
		}, idxTestImages, ErrCorrupt, "images are 5x4"},
		{"idx missing labels", idxSet(false), func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, idxTrainLabels))
		}, idxTrainLabels + ".gz", ErrNotFound, "file not found"},
		{"gz not gzip", idxSet(true), rewrite(idxTrainImages+".gz", func(b []byte) []byte { return []byte("not gzip at all") }),
			idxTrainImages + ".gz", ErrCorrupt, "bad gzip stream"},
		{"gz empty", idxSet(true), rewrite(idxTrainImages+".gz", func(b []byte) []byte { return nil }),
			idxTrainImages + ".gz", ErrCorrupt, "bad gzip stream"},
		{"gz stream cut", idxSet(true), rewrite(idxTrainImages+".gz", func(b []byte) []byte { return b[:len(b)/2] }),
			idxTrainImages + ".gz", ErrCorrupt, "gzip"},
		{"gz bad crc", idxSet(true), rewrite(idxTrainImages+".gz", func(b []byte) []byte { b[len(b)-6] ^= 0xff; return b }),
			idxTrainImages + ".gz", ErrCorrupt, "bad gzip stream"},
		{"gz truncated content", idxSet(true), regzip(idxTrainImages+".gz", func(b []byte) []byte { return b[:100] }),
			idxTrainImages + ".gz", ErrCorrupt, "truncated: header says 30 images of 4x5 (600 bytes), gzip stream holds 84"},
		{"gz trailing content", idxSet(true), regzip(idxTrainImages+".gz", func(b []byte) []byte { return append(b, 0) }),
			idxTrainImages + ".gz", ErrCorrupt, "trailing data"},
		{"gz label out of range", idxSet(true), regzip(idxTrainLabels+".gz", func(b []byte) []byte { b[len(b)-1] = 200; return b }),
			idxTrainLabels + ".gz", ErrCorrupt, "label 200 of example 29"},
		{"cifar10 size not a multiple", cifarSet(cifar10Format), rewrite("data_batch_2.bin", func(b []byte) []byte { return b[:len(b)-1] }),
			"data_batch_2.bin", ErrCorrupt, "not a multiple of the 3073-byte CIFAR-10 record"},
		{"cifar10 empty", cifarSet(cifar10Format), rewrite("test_batch.bin", func(b []byte) []byte { return nil }),
			"test_batch.bin", ErrCorrupt, "empty file"},
		{"cifar10 label out of range", cifarSet(cifar10Format), rewrite("data_batch_4.bin", func(b []byte) []byte { b[3073] = 10; return b }),
			"data_batch_4.bin", ErrCorrupt, "label 10 of record 1 out of range: 10 classes"},
		{"cifar10 missing batch", cifarSet(cifar10Format), func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "data_batch_3.bin"))
		}, "data_batch_3.bin", ErrNotFound, "file not found"},
		{"cifar10 missing test", cifarSet(cifar10Format), func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "test_batch.bin"))
		}, "test_batch.bin", ErrNotFound, "file not found"},
		{"cifar100 size not a multiple", cifarSet(cifar100Format), rewrite("train.bin", func(b []byte) []byte { return append(b, 0) }),
			"train.bin", ErrCorrupt, "3074-byte CIFAR-100 record"},
		{"cifar100 fine label out of range", cifarSet(cifar100Format), rewrite("test.bin", func(b []byte) []byte { b[1] = 100; return b }),
			"test.bin", ErrCorrupt, "label 100 of record 0 out of range: 100 classes"},
		{"cifar100 coarse label out of range", cifarSet(cifar100Format), rewrite("train.bin", func(b []byte) []byte { b[3074*2] = 20; return b }),
			"train.bin", ErrCorrupt, "coarse label 20 of record 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			tc.damage(t, dir)
			_, err := Load(dir, DefaultOptions())
			if err == nil {
				t.Fatal("Load succeeded on a damaged set")
			}
			msg := err.Error()
			t.Log(msg)
			path := filepath.Join(dir, tc.file)
			if !strings.HasPrefix(msg, "dataset: "+path+": ") {
				t.Errorf("error %q does not start with %q", msg, "dataset: "+path+": ")
			}
			if !strings.Contains(msg, tc.says) {
				t.Errorf("error %q does not say %q", msg, tc.says)
			}
			if strings.ContainsAny(msg, "\n\r") {
				t.Errorf("error %q spans several lines", msg)
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("error %q does not wrap %v", msg, tc.kind)
			}
		})
	}
}

// TestUnreadableFile covers a path that is a directory, not a file.
func TestUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	writeIDXSet(t, dir, idxSpec{nTrain: 10, nTest: 2, h: 2, w: 2})
	os.Remove(filepath.Join(dir, idxTestImages))
	os.Mkdir(filepath.Join(dir, idxTestImages), 0o755)
	_, err := Load(dir, DefaultOptions())
	if err == nil || !strings.Contains(err.Error(), idxTestImages) {
		t.Fatalf("Load with a directory in place of a file: %v", err)
	}
	t.Log(err)
}
