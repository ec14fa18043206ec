package store

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Options configures a Store. The zero value of a field means its default.
type Options struct {
	// InMemory keeps everything in memory, with no directory and no lock:
	// for tests. Weights blobs are then limited to 1 MiB. The default is
	// false.
	InMemory bool

	// ReadOnly opens an existing store without writing to it: Badger
	// shares the directory lock with other readers (a daemon still
	// excludes it), writes nothing and runs none of its recovery that
	// writes (cutting the newest value-log file at the first damaged
	// entry, deleting tables the MANIFEST does not list). Update fails.
	// For checking a store (verify) without changing what is found. Open
	// then fails, with an error matching ErrNeedsRecovery, on a store a
	// crash left with a memtable log to cut, which only a read-write open
	// recovers. The default is false.
	ReadOnly bool

	// Logger receives Badger's warnings and errors and the store's own
	// messages. The default, nil, silences them.
	Logger *slog.Logger

	// GCInterval is how often the goroutine started by Start runs value-log
	// garbage collection, the first time a minute after the start (or
	// GCInterval, if shorter). The default is 10 minutes.
	GCInterval time.Duration

	// GCDiscardRatio is the share of a value-log file that must be garbage
	// before GC rewrites it, in (0, 1). The default is 0.5.
	GCDiscardRatio float64

	// MinFreeBytes is the free space below which Update refuses to write,
	// with ErrDiskFull. Badger writes through memory-mapped files, grows the
	// value log a file (64 MiB) at a time and cannot report a full disk
	// reliably, so the store stops first. The default is 256 MiB; a negative
	// value disables the check.
	MinFreeBytes int64

	// MaxValueBytes is the largest weights blob Insert must take. Badger
	// refuses a value larger than one value-log file, so the files are
	// made large enough to hold it (64 MiB files take blobs up to 64 MiB,
	// a network of about 16M parameters; the paper preset's bound is
	// 50M). At most MaxMaxValueBytes. The default, 0, keeps 64 MiB files.
	MaxValueBytes int64

	// Compact runs Badger at its smallest footprint, for nodes that run
	// many to a machine (the smoke preset): memtables and caches at half
	// size (4 MiB memtables, 4 MiB block cache, 2 MiB index cache) and
	// value-log files of 16 MiB, or as much as MaxValueBytes needs. Badger
	// writes through memory-mapped files, so the open memtables' logs and
	// the value-log file being written count in the process's RSS as they
	// fill. An in-memory store ignores it (it keeps weights of up to 1 MiB
	// in its memtables).
	Compact bool

	// Tests only: valueLogFileSize overrides the 64 MiB value-log file
	// size; compactL0OnClose makes Close compact level 0, so that Badger
	// learns which value-log entries are garbage.
	valueLogFileSize int64
	compactL0OnClose bool
}

// Defaults.
const (
	DefaultGCInterval     = 10 * time.Minute
	DefaultGCDiscardRatio = 0.5
	DefaultMinFreeBytes   = 256 << 20
	// MaxMaxValueBytes is the largest MaxValueBytes: Badger's value-log
	// files must be smaller than 2 GiB.
	MaxMaxValueBytes = 2<<30 - 2<<20
)

// Badger's small-footprint settings (docs/FACTS.md: ~171 MiB peak RSS
// writing 10k x 5 KB, against 428 MiB with Badger's defaults).
const (
	memTableSize     = 8 << 20
	numMemtables     = 2
	blockCacheSize   = 8 << 20
	indexCacheSize   = 4 << 20
	valueLogFileSize = 64 << 20
	// compactValueLogFileSize: a compact store's value-log files.
	compactValueLogFileSize = 16 << 20
	// valueThreshold: values of at least this many bytes (weights) go to the
	// value log, smaller ones (records, index entries, events) stay in the
	// LSM tree, so listing and scanning never touch the value log. A few
	// non-weight values can reach it too: an immigrant's lineage chain of
	// about 100 steps or more, and the record of a genome of several
	// hundred edges.
	valueThreshold = 16 << 10
	// valueLogSlack is the room a value-log file keeps beside its largest
	// value: the entry's header, key and checksum, and the file's header.
	valueLogSlack = 64 << 10
	// maxInMemoryValue is the largest value (weights) an in-memory store
	// takes: Badger's limit for values kept in the LSM tree.
	maxInMemoryValue = 1 << 20
)

// DefaultOptions returns the defaults for an on-disk store.
func DefaultOptions() Options {
	return Options{
		GCInterval:     DefaultGCInterval,
		GCDiscardRatio: DefaultGCDiscardRatio,
		MinFreeBytes:   DefaultMinFreeBytes,
	}
}

// withDefaults fills zero fields with their defaults.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.GCInterval == 0 {
		o.GCInterval = d.GCInterval
	}
	if o.GCDiscardRatio == 0 {
		o.GCDiscardRatio = d.GCDiscardRatio
	}
	if o.MinFreeBytes == 0 {
		o.MinFreeBytes = d.MinFreeBytes
	}
	return o
}

// Validate reports the first field with an unusable value.
func (o Options) Validate() error {
	if o.GCInterval < 0 {
		return fmt.Errorf("store: GCInterval is %v: want a positive duration, or 0 for %v",
			o.GCInterval, DefaultGCInterval)
	}
	if o.GCDiscardRatio < 0 || o.GCDiscardRatio >= 1 {
		return fmt.Errorf("store: GCDiscardRatio is %v: want a value in (0, 1), or 0 for %v",
			o.GCDiscardRatio, DefaultGCDiscardRatio)
	}
	if o.MaxValueBytes < 0 || o.MaxValueBytes > MaxMaxValueBytes {
		return fmt.Errorf("store: MaxValueBytes is %d: want 0 to %d (Badger's value-log files are smaller than 2 GiB)",
			o.MaxValueBytes, int64(MaxMaxValueBytes))
	}
	return nil
}

// vlogFileSize is the size of a value-log file: 64 MiB (16 MiB for a
// compact store), or enough for a value of MaxValueBytes, whole MiB.
func (o Options) vlogFileSize() int64 {
	size := int64(valueLogFileSize)
	if o.compact() {
		size = compactValueLogFileSize
	}
	if o.valueLogFileSize > 0 {
		size = o.valueLogFileSize
	}
	if need := o.MaxValueBytes + valueLogSlack; o.MaxValueBytes > 0 && need > size {
		size = (need + 1<<20 - 1) &^ (1<<20 - 1)
	}
	return size
}

func (o Options) compact() bool { return o.Compact && !o.InMemory }

// badgerOptions translates o into Badger's options for dir.
func (o Options) badgerOptions(dir string) badger.Options {
	vlogSize := o.vlogFileSize()
	mem, block, index := int64(memTableSize), int64(blockCacheSize), int64(indexCacheSize)
	if o.compact() {
		mem, block, index = mem/2, block/2, index/2
	}
	bo := badger.DefaultOptions(dir).
		WithMemTableSize(mem).
		WithNumMemtables(numMemtables).
		WithBlockCacheSize(block).
		WithIndexCacheSize(index).
		WithValueLogFileSize(vlogSize).
		WithValueThreshold(valueThreshold).
		WithNumVersionsToKeep(1).
		WithSyncWrites(true).
		WithDetectConflicts(true).
		// Check each value-log entry's CRC when reading it: damage to an
		// entry's header or key (which the weights' own SHA-256 does not
		// cover) then fails the read instead of passing unseen.
		WithVerifyValueChecksum(true).
		WithMetricsEnabled(false).
		WithLogger(newBadgerLogger(o.Logger))
	if o.ReadOnly {
		bo = bo.WithReadOnly(true)
	}
	if o.InMemory {
		// No value log: every value lives in the LSM tree, up to this size.
		bo = bo.WithDir("").WithValueDir("").WithInMemory(true).WithValueThreshold(maxInMemoryValue)
	}
	return bo
}
