//go:build !unix

package store

import "errors"

// freeBytes is not implemented here: the free-space check is skipped.
var freeBytes = func(string) (uint64, error) {
	return 0, errors.ErrUnsupported
}
