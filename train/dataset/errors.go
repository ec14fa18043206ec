package dataset

import (
	"errors"
	"fmt"
	"io/fs"
)

// Sentinel errors. Every error this package returns for a data file wraps
// one of them, so callers can tell "run the fetch script" apart from "the
// file on disk is damaged" with errors.Is.
var (
	// ErrNotFound reports a data set, directory or file that does not exist.
	ErrNotFound = errors.New("dataset: not found")
	// ErrCorrupt reports a file that exists but cannot be decoded: a bad
	// magic number, a header that disagrees with the file's size, a label
	// out of range, a damaged gzip stream, and the like.
	ErrCorrupt = errors.New("dataset: corrupt data file")
)

// fileError is a problem with one data file. Its message is one line,
// "dataset: PATH: PROBLEM", and it unwraps to a sentinel (ErrNotFound or
// ErrCorrupt) and, where there is one, to the underlying cause (an
// *fs.PathError, a gzip or flate error).
type fileError struct {
	path    string
	problem string
	kind    error // ErrNotFound, ErrCorrupt, or nil
	cause   error // may be nil
}

func (e *fileError) Error() string { return "dataset: " + e.path + ": " + e.problem }

func (e *fileError) Unwrap() []error {
	errs := make([]error, 0, 2)
	for _, err := range []error{e.kind, e.cause} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// corrupt returns an ErrCorrupt error for path with a formatted problem.
func corrupt(path, format string, args ...any) error {
	return &fileError{path: path, problem: fmt.Sprintf(format, args...), kind: ErrCorrupt}
}

// corruptCause is corrupt with an underlying cause, whose text is appended.
func corruptCause(path string, cause error, format string, args ...any) error {
	return &fileError{
		path:    path,
		problem: fmt.Sprintf(format, args...) + ": " + oneLine(cause),
		kind:    ErrCorrupt,
		cause:   cause,
	}
}

// openError turns an error from os.Open or os.Stat into a fileError whose
// text names the path once (an *fs.PathError would repeat it).
func openError(path string, err error) error {
	msg := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		msg = pe.Err.Error()
	}
	if errors.Is(err, fs.ErrNotExist) {
		return &fileError{path: path, problem: "file not found", kind: ErrNotFound, cause: err}
	}
	// Permission denied, a directory where a file should be, an I/O
	// error: neither missing nor corrupt, so only the cause is wrapped.
	return &fileError{path: path, problem: "cannot read: " + oneLine(errors.New(msg)), cause: err}
}

// oneLine returns err's message with any line breaks replaced by spaces,
// so that every error of this package stays on one line.
func oneLine(err error) string {
	b := []byte(err.Error())
	for i, c := range b {
		if c == '\n' || c == '\r' {
			b[i] = ' '
		}
	}
	return string(b)
}

// plural returns "1 thing" or "n things".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// notFound returns an ErrNotFound error whose message is exactly the
// formatted text (which should start "dataset: "), without the sentinel's
// own text appended.
func notFound(format string, args ...any) error {
	return &kindError{msg: fmt.Sprintf(format, args...), kind: ErrNotFound}
}

// kindError is a one-line message that unwraps to a sentinel.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }
