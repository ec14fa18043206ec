//go:build unix

package store

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// lockedByOther reports whether another process holds Badger's directory
// lock on dir (Badger flocks the directory itself while a store is open,
// and writes its PID to LOCK).
// Open asks only when dir's files look damaged: a running daemon's
// compaction changes them under a reader that has no lock, which is no
// damage.
func lockedByOther(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	err = unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
	if err == nil {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		return false
	}
	return errors.Is(err, unix.EWOULDBLOCK)
}
