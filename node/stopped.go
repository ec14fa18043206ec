package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/island/individual"
	"github.com/evoswarm/evoswarm/store"
	"github.com/evoswarm/evoswarm/train/dataset"
)

// The tools that read the repo of a stopped node (status, lineage, verify,
// progress, plot, export) open it here; none of them touches the store
// itself.

// ErrDiskFull is the store's disk-full error, for callers that say what to
// do about it (errors.Is works on the errors Open and Run return).
var ErrDiskFull = store.ErrDiskFull

// OpenStopped opens the store of a repo whose daemon is not running, for
// tools that read it (status, lineage, verify, progress). It refuses, with
// a readable message, a repo that a daemon is using. A repo whose daemon
// has never run has no store yet; it reads as an empty one, kept in
// memory, so that reading a repo never creates its store (and what is
// written to that one is lost: the store is for reading only).
func OpenStopped(dir string) (*store.Store, error) {
	exp, err := LoadRepoExperiment(dir)
	if err != nil {
		return nil, err
	}
	opts := store.Options{MinFreeBytes: -1, MaxValueBytes: maxValueBytes(exp)}
	sdir := filepath.Join(dir, StoreDir)
	if _, err := os.Stat(sdir); errors.Is(err, os.ErrNotExist) {
		opts.InMemory = true
	}
	st, err := store.Open(sdir, opts)
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("another evoswarm process is using %s: a daemon (ask it through its API, or stop it first), or a command reading the repo such as export (wait for it)", dir)
	}
	return st, err
}

// OpenStoppedReadOnly opens the store of a stopped repo without writing to
// it, for checking it (verify): Badger's recovery that writes (cutting the
// newest value log at a damaged entry, deleting tables the MANIFEST does
// not list) does not run, so what is checked is what is on disk. A store
// that a crash left needing recovery is opened as OpenStopped does,
// read-write; one that no daemon has created yet reads as empty.
func OpenStoppedReadOnly(dir string) (*store.Store, error) {
	if _, err := LoadRepoExperiment(dir); err != nil {
		return nil, err
	}
	sdir := filepath.Join(dir, StoreDir)
	if _, err := os.Stat(sdir); errors.Is(err, os.ErrNotExist) {
		return OpenStopped(dir)
	}
	st, err := store.Open(sdir, store.Options{ReadOnly: true, MinFreeBytes: -1})
	switch {
	case errors.Is(err, store.ErrLocked):
		return nil, fmt.Errorf("another evoswarm process is using %s: a daemon (ask it through its API, or stop it first), or a command reading the repo such as export (wait for it)", dir)
	case errors.Is(err, store.ErrNeedsRecovery):
		return OpenStopped(dir)
	}
	return st, err
}

// OfflineStatus reads a repo's status with no daemon running.
func OfflineStatus(dir string) (*Status, error) {
	exp, err := LoadRepoExperiment(dir)
	if err != nil {
		return nil, err
	}
	_, id, err := LoadIdentity(dir)
	if err != nil {
		return nil, err
	}
	st, err := OpenStopped(dir)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	s := &Status{PeerID: id.String(), ExperimentID: exp.ID(), SetPoint: exp.Population, Addrs: []string{}}
	return s, readStatus(st, s)
}

// StoppedRepo is the repo of a node whose daemon is not running, opened
// for reading: its experiment and its store.
type StoppedRepo struct {
	dir  string
	exp  *Experiment
	st   *store.Store
	data *dataset.Set // loaded on first use (export)
}

// OpenStoppedRepo opens the repo in dir, whose daemon must be stopped (see
// OpenStopped). Close releases it.
func OpenStoppedRepo(dir string) (*StoppedRepo, error) {
	exp, err := LoadRepoExperiment(dir)
	if err != nil {
		return nil, err
	}
	st, err := OpenStopped(dir)
	if err != nil {
		return nil, err
	}
	return &StoppedRepo{dir: dir, exp: exp, st: st}, nil
}

// ReadStopped opens the stopped repo in dir, calls read on it and closes
// it: one read of a repo, such as ReadStopped(dir, (*StoppedRepo).Progress).
func ReadStopped[T any](dir string, read func(*StoppedRepo) (T, error)) (T, error) {
	r, err := OpenStoppedRepo(dir)
	if err != nil {
		var zero T
		return zero, err
	}
	defer r.Close()
	return read(r)
}

// Close closes the repo's store.
func (r *StoppedRepo) Close() error { return r.st.Close() }

// Experiment is the repo's experiment.
func (r *StoppedRepo) Experiment() *Experiment { return r.exp }

// Individuals lists every individual the store has a record of.
func (r *StoppedRepo) Individuals() ([]Summary, error) { return Individuals(r.st) }

// Progress is the run's best-so-far curve (see Progress).
func (r *StoppedRepo) Progress() ([]Point, error) { return Progress(r.st) }

// Lineage is the ancestry of individual id, oldest first; "" is the best
// live individual.
func (r *StoppedRepo) Lineage(id string) ([]Ancestor, error) {
	var want dna.ID
	var err error
	if id != "" {
		want, err = dna.ParseID(id)
	} else {
		want, err = BestID(r.st)
	}
	if err != nil {
		return nil, err
	}
	return Lineage(r.st, want)
}

// dataset loads the experiment's data set, once.
func (r *StoppedRepo) dataset() (*dataset.Set, error) {
	if r.data == nil {
		data, err := dataset.Load(r.exp.Data, r.exp.DatasetOptions())
		if err != nil {
			return nil, err
		}
		r.data = data
	}
	return r.data, nil
}

// Verification is a stopped repo's check, as `evoswarm verify --json`
// prints it.
type Verification struct {
	OK       bool     `json:"ok"`
	Problems []string `json:"problems,omitempty"` // one line each
	Alive    int      `json:"alive"`
	Dead     int      `json:"dead"`
	Training int      `json:"training"`
	IDs      []string `json:"ids"`
	// Opened says whether the store opened; if not, there was nothing to
	// count (and Problems says why).
	Opened bool `json:"-"`
}

// Verify checks the store of the stopped repo in dir, opened read-only
// (OpenStoppedReadOnly): that Badger's files are whole, every record
// decodes, the indexes, counters and history agree with the records and
// every live individual's weights pass their checksum. Damage is a problem
// in the result, not an error; the error is for a repo that could not be
// checked at all (none there, or a daemon using it).
func Verify(dir string) (*Verification, error) {
	res := &Verification{OK: true, IDs: []string{}}
	problem := func(err error) {
		res.OK = false
		for _, line := range strings.Split(err.Error(), "\n") {
			if line = strings.TrimSpace(line); line != "" && !slices.Contains(res.Problems, line) {
				res.Problems = append(res.Problems, line)
			}
		}
	}
	st, err := OpenStoppedReadOnly(dir)
	switch {
	case errors.Is(err, store.ErrCorrupt):
		problem(err) // damaged files: reported like any other problem
		return res, nil
	case err != nil:
		return nil, err
	}
	defer st.Close()
	res.Opened = true
	if err := st.Verify(); err != nil {
		problem(err)
	}
	list, err := Individuals(st)
	if err != nil {
		problem(err)
	}
	res.IDs = make([]string, 0, len(list))
	for _, s := range list {
		res.IDs = append(res.IDs, s.ID)
		switch s.Status {
		case individual.Alive:
			res.Alive++
		case individual.Dead:
			res.Dead++
		case individual.Training:
			res.Training++
		}
	}
	return res, nil
}
