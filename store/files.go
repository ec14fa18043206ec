package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
)

// Badger's files in a store directory.
const (
	manifestFile = "MANIFEST"
	tableExt     = ".sst"
	vlogExt      = ".vlog"
	walExt       = ".mem"
	// vlogHeader is the header of a value-log file: the ID of the key
	// that encrypts it (0: none, always so here) and a 12-byte IV.
	vlogHeader = 20
)

// checkFiles checks the Badger files in dir before Badger opens them, so
// that damage is refused with a message that names the file rather than
// met by Badger's own recovery, which on this kind of damage panics in a
// background goroutine (a table's index or blocks), skips a table whose
// checksum fails and opens without it, or, when the MANIFEST is missing or
// lists no table, starts an empty database and deletes the tables (which
// the store would then take for a new repo). It reads every table once and
// verifies its checksums: tables hold the records, indexes, events and
// counters (weights live in the value log), so this is quick. A directory
// that does not exist or holds no Badger file is a new store. Every error
// wraps ErrDamagedFiles (and so ErrCorrupt).
//
// What it cannot tell from a crash: a MANIFEST cut short at a record
// boundary while still listing tables (a crash can leave that too; Badger
// then drops the tables it no longer lists), and damage inside the newest
// value-log file, which Badger takes for a torn write and cuts off at a
// read-write open. Weights carry their own checksum for that (Tx.Weights).
func checkFiles(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: "+format, append([]any{ErrDamagedFiles, dir}, args...)...)
	}
	tables := map[uint64]string{}
	var data []string // files that only an existing store has
	hasManifest, hasWAL, hasVlog := false, false, false
	newest, newestID := "", uint64(0) // the value log Badger appends to
	for _, e := range ents {
		name := e.Name()
		switch {
		case name == manifestFile:
			hasManifest = true
		case strings.HasSuffix(name, tableExt):
			id, ok := table.ParseFileID(name)
			if !ok {
				return bad("unexpected table file %s", name)
			}
			tables[id] = name
			data = append(data, name)
		case strings.HasSuffix(name, vlogExt):
			if err := checkVlog(filepath.Join(dir, name)); err != nil {
				return bad("%w", err)
			}
			hasVlog = true
			data = append(data, name)
			if fid, ok := vlogID(name); ok && (newest == "" || fid > newestID) {
				newest, newestID = name, fid
			}
		case strings.HasSuffix(name, walExt):
			hasWAL = true
			data = append(data, name)
		}
	}
	if !hasManifest {
		if len(data) > 0 {
			return bad("its MANIFEST is missing, but it holds %s: Badger would start an empty database over them; restore the MANIFEST or the repo from a backup", strings.Join(data, ", "))
		}
		return nil
	}
	mf, err := readManifest(filepath.Join(dir, manifestFile))
	if err != nil {
		return bad("MANIFEST is damaged: %v", err)
	}
	if len(mf.Tables) == 0 && len(tables) > 0 && !hasWAL {
		// (With a memtable log, this is a crash during the first flush:
		// the table is not listed yet, its data still in the log.)
		return bad("MANIFEST lists no table, but the directory holds %d: it is damaged or cut short, and Badger would delete them", len(tables))
	}
	if newest != "" && !hasWAL {
		// A clean stop leaves no memtable log, and the newest value log
		// ending exactly after its last entry. Badger reads that file
		// through at a read-write open and cuts it at the first entry that
		// fails its CRC, taking that for a write a crash tore: after a
		// clean stop, that is damage, and it would lose every entry after
		// it. (After a crash, with a memtable log, a torn tail is expected
		// and Badger's cut is right.)
		if err := checkVlogEntries(filepath.Join(dir, newest)); err != nil {
			return bad("%w", err)
		}
	}
	if len(tables) > 0 && !hasVlog {
		// Badger keeps at least one value-log file; without any, it would
		// start a new one and read the old weights' places in it.
		return bad("its value log (*.vlog) is missing, but it holds tables (%d): Badger would start an empty one and look for the weights in it", len(tables))
	}
	for id, tm := range mf.Tables {
		name, ok := tables[id]
		if !ok {
			return bad("MANIFEST lists table %s, which is missing", table.IDToFilename(id))
		}
		if err := checkTable(filepath.Join(dir, name), id, tm); err != nil {
			return bad("table %s is damaged: %v", name, err)
		}
	}
	return nil
}

// readManifest replays the MANIFEST read-only, as Badger would.
func readManifest(path string) (badger.Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return badger.Manifest{}, err
	}
	defer f.Close()
	mf, _, err := badger.ReplayManifestFile(f, 0, badger.DefaultOptions("").WithLogger(nil))
	if err != nil {
		return mf, errors.New(oneLine(err.Error()))
	}
	return mf, nil
}

// checkVlog checks a value-log file's header: it must be there, and name
// no encryption key (the store never encrypts).
func checkVlog(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var h [vlogHeader]byte
	if n, err := f.ReadAt(h[:], 0); n < len(h) {
		return fmt.Errorf("value log %s is cut short (%d bytes, its header alone is %d): %v", filepath.Base(path), n, vlogHeader, err)
	}
	if k := binary.BigEndian.Uint64(h[:8]); k != 0 {
		return fmt.Errorf("value log %s has a damaged header (encryption key %d, but the store never encrypts)", filepath.Base(path), k)
	}
	return nil
}

// vlogID returns the number of a value-log file, 000042.vlog.
func vlogID(name string) (uint64, bool) {
	id, err := strconv.ParseUint(strings.TrimSuffix(name, vlogExt), 10, 64)
	return id, err == nil
}

// checkVlogEntries reads a value-log file entry by entry, as Badger does
// when it opens the newest one read-write, and reports the first entry
// that is cut short or fails its CRC, unless only zeros follow (space
// Badger had reserved). An entry is: meta and user-meta bytes; key length,
// value length and expiry as uvarints; the key; the value; the CRC-32
// (Castagnoli) of all that, big-endian. It streams: values are not held.
func checkVlogEntries(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	r := bufio.NewReaderSize(f, 64<<10)
	if _, err := r.Discard(vlogHeader); err != nil {
		return nil // too short: checkVlog has said so
	}
	off := int64(vlogHeader)
	damaged := func(why string) error {
		if zerosFrom(f, off) {
			return nil
		}
		return fmt.Errorf("value log %s is damaged at byte %d of %d (%s): a read-write open would cut it there and lose the %d bytes after; restore the repo from a backup, or cut the file there (truncate -s %d) to keep what precedes the damage",
			filepath.Base(path), off, size, why, size-off, off)
	}
	for {
		if _, err := r.Peek(1); err == io.EOF {
			return nil
		}
		h := &crcReader{r: r, crc: crc32.New(crc32.MakeTable(crc32.Castagnoli))}
		var meta [2]byte
		if _, err := io.ReadFull(h, meta[:]); err != nil {
			return damaged("an entry is cut short")
		}
		klen, err1 := binary.ReadUvarint(h)
		vlen, err2 := binary.ReadUvarint(h)
		_, err3 := binary.ReadUvarint(h)
		if err := errors.Join(err1, err2, err3); err != nil {
			return damaged("an entry's header is unreadable")
		}
		if klen > 1<<16 || int64(klen+vlen) > size-off {
			return damaged(fmt.Sprintf("an entry's header gives a key of %d and a value of %d bytes", klen, vlen))
		}
		if _, err := io.CopyN(h.crc, r, int64(klen+vlen)); err != nil {
			return damaged("an entry is cut short")
		}
		var sum [4]byte
		if _, err := io.ReadFull(r, sum[:]); err != nil {
			return damaged("an entry is cut short")
		}
		if binary.BigEndian.Uint32(sum[:]) != h.crc.Sum32() {
			return damaged("an entry fails its CRC")
		}
		off += int64(h.n) + int64(klen+vlen) + 4
	}
}

// crcReader reads bytes one at a time (for ReadUvarint) or in full,
// adding them to a CRC and counting them.
type crcReader struct {
	r   *bufio.Reader
	crc hash.Hash32
	n   int
}

func (c *crcReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.crc.Write([]byte{b})
		c.n++
	}
	return b, err
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.crc.Write(p[:n])
	c.n += n
	return n, err
}

// zerosFrom reports whether f holds only zero bytes from off to its end.
func zerosFrom(f *os.File, off int64) bool {
	buf := make([]byte, 64<<10)
	for {
		n, err := f.ReadAt(buf, off)
		for _, b := range buf[:n] {
			if b != 0 {
				return false
			}
		}
		off += int64(n)
		if err != nil {
			return errors.Is(err, io.EOF)
		}
	}
}

// checkTable reads a table into memory and verifies its index and every
// block against their checksums. Badger panics on some damage before it
// checks anything; that panic is caught here and reported.
func checkTable(path string, id uint64, tm badger.TableManifest) (err error) {
	if tm.KeyID != 0 {
		return fmt.Errorf("MANIFEST says it is encrypted with key %d, but the store never encrypts", tm.KeyID)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(b) < 8 {
		return fmt.Errorf("%d bytes", len(b))
	}
	defer func() {
		if r := recover(); r != nil {
			msg := oneLine(fmt.Sprint(r))
			if len(msg) > 100 {
				msg = msg[:100] + "..."
			}
			err = fmt.Errorf("its index or a block is unreadable (Badger panics on it: %s)", msg)
		}
	}()
	t, err := table.OpenInMemoryTable(b, id, &table.Options{
		ChkMode:     options.OnTableRead,
		Compression: tm.Compression,
		BlockSize:   4 << 10,
	})
	if err != nil {
		return errors.New(oneLine(err.Error()))
	}
	if err := t.VerifyChecksum(); err != nil {
		return errors.New(oneLine(err.Error()))
	}
	return nil
}

// oneLine joins a multi-line message (Badger's often are) into one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// flatError is err with its message on one line.
type flatError struct{ err error }

func (e flatError) Error() string { return oneLine(e.err.Error()) }
func (e flatError) Unwrap() error { return e.err }
