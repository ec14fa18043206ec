package dataset

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
)

// EnvDataDir names the environment variable whose directory is searched
// first for named data sets: $EVOSWARM_DATA/<name>.
const EnvDataDir = "EVOSWARM_DATA"

// systemDataDir is where Debian's dataset-* packages install data sets
// (dataset-fashion-mnist: /usr/share/datasets/fashion-mnist). A variable so
// that tests can point it elsewhere.
var systemDataDir = "/usr/share/datasets"

// Formats of the named data sets.
const (
	formatIDX      = "idx"
	formatCIFAR10  = "cifar10"
	formatCIFAR100 = "cifar100"
)

// named maps each data set Load knows by name to its file format.
var named = map[string]string{
	"fashion-mnist": formatIDX,
	"mnist":         formatIDX,
	"cifar10":       formatCIFAR10,
	"cifar100":      formatCIFAR100,
}

// Names returns the names Load and Resolve accept besides a path, in a
// fixed order.
func Names() []string { return []string{"fashion-mnist", "mnist", "cifar10", "cifar100"} }

// SearchPath returns the directories searched, in order, for the named data
// set name: $EVOSWARM_DATA/<name> (when the variable is set), the user's
// cache directory's evoswarm/<name> (~/.cache/evoswarm/<name> on Linux),
// then /usr/share/datasets/<name>.
func SearchPath(name string) []string {
	var dirs []string
	if d := os.Getenv(EnvDataDir); d != "" {
		dirs = append(dirs, filepath.Join(d, name))
	}
	if d, err := os.UserCacheDir(); err == nil {
		dirs = append(dirs, filepath.Join(d, "evoswarm", name))
	}
	return append(dirs, filepath.Join(systemDataDir, name))
}

// location is where a data set's files are and how they are stored.
type location struct {
	name   string // Set.Name
	format string // formatIDX, formatCIFAR10 or formatCIFAR100
	dir    string // the directory holding the files
}

// Resolve returns the directory that holds the files of the data set
// name: one of Names, looked up along SearchPath(name), or the path of a
// directory holding IDX or CIFAR files (directly, or in the CIFAR archives'
// cifar-10-batches-bin/ or cifar-100-binary/ subfolder). A known name is
// never taken as a path; write ./mnist for a directory called mnist. Only
// the presence of the first training file is checked; Load checks the rest.
// When nothing is found the error wraps ErrNotFound, lists where it looked
// and says how to fetch the data.
func Resolve(name string) (string, error) {
	loc, err := resolve(name)
	return loc.dir, err
}

func resolve(name string) (location, error) {
	if format, ok := named[name]; ok {
		var looked []string
		for _, d := range SearchPath(name) {
			if dir, ok := holds(d, format); ok {
				return location{name: name, format: format, dir: dir}, nil
			}
			looked = append(looked, d)
		}
		return location{}, notFound("dataset: %s not found (looked in %s); run scripts/fetch-data.sh %s, or set %s to a directory holding %s/",
			name, strings.Join(looked, ", "), name, EnvDataDir, name)
	}
	st, err := os.Stat(name)
	if err != nil {
		return location{}, notFound("dataset: %q is neither a known data set (%s) nor an existing directory",
			name, strings.Join(Names(), ", "))
	}
	if !st.IsDir() {
		return location{}, notFound("dataset: %s: not a directory; give the directory that holds the data files", name)
	}
	abs, err := filepath.Abs(name)
	if err != nil {
		abs = filepath.Clean(name)
	}
	for _, format := range []string{formatIDX, formatCIFAR10, formatCIFAR100} {
		if dir, ok := holds(abs, format); ok {
			return location{name: filepath.Base(abs), format: format, dir: dir}, nil
		}
	}
	return location{}, notFound("dataset: %s: no data set files: want %s[.gz] (IDX), %s (CIFAR-10) or %s (CIFAR-100), here or in %s/ or %s/",
		name, idxTrainImages, cifar10Format.train[0], cifar100Format.train[0], cifar10Format.subdir, cifar100Format.subdir)
}

// holds reports whether dir holds a data set of the given format, and the
// directory its files are in.
func holds(dir, format string) (string, bool) {
	switch format {
	case formatIDX:
		return dir, hasIDX(dir)
	case formatCIFAR10:
		return cifar10Format.locate(dir)
	case formatCIFAR100:
		return cifar100Format.locate(dir)
	}
	return "", false
}

// Load resolves name as Resolve does, reads and checks every file, holds
// out the validation split that opts ask for, and computes the training
// split's statistics and the set's Identity. Errors about a file are one
// line naming it and wrap ErrNotFound or ErrCorrupt.
func Load(name string, opts Options) (*Set, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	loc, err := resolve(name)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	var train, test *raw
	classes := idxClasses
	switch loc.format {
	case formatIDX:
		train, test, err = loadIDX(loc.dir, h, opts.TrainImages)
	case formatCIFAR10:
		train, test, err = loadCIFAR(loc.dir, cifar10Format, h)
		classes = cifar10Format.classes
	case formatCIFAR100:
		train, test, err = loadCIFAR(loc.dir, cifar100Format, h)
		classes = cifar100Format.classes
	}
	if err != nil {
		return nil, err
	}
	train.keep(opts.TrainImages) // CIFAR's readers keep every image
	return newSet(loc.name, loc.format, loc.dir, classes, train, test, h.Sum(nil), opts)
}
