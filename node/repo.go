package node

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/evoswarm/evoswarm/internal/atomicfile"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Files in a repo.
const (
	ExperimentFile = "experiment.json"
	IdentityFile   = "identity.key"
	StoreDir       = "db"
	DaemonFile     = "daemon.json" // written while a daemon runs: its API address
)

// DefaultRepo is $EVOSWARM_PATH, or ~/.evoswarm.
func DefaultRepo() string {
	if p := os.Getenv("EVOSWARM_PATH"); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".evoswarm"
	}
	return filepath.Join(home, ".evoswarm")
}

// ErrRepoExists is returned by Init for a directory that already holds a repo.
var ErrRepoExists = errors.New("node: repo already exists")

// ErrNoRepo is returned for a directory that holds no repo.
var ErrNoRepo = errors.New("node: no repo")

// Init creates a repo in dir: the experiment and a new Ed25519 identity
// (mode 0600). It refuses a directory that already holds a repo. It returns
// the node's peer ID.
func Init(dir string, e *Experiment) (peer.ID, error) {
	if err := e.Validate(); err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, ExperimentFile)); err == nil {
		return "", fmt.Errorf("%w in %s: remove it or pick another --repo", ErrRepoExists, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, StoreDir)); err == nil {
		// A store without its experiment: a damaged repo, not a new one.
		// Making it anew would adopt its individuals under another
		// experiment and replace the node's identity.
		return "", fmt.Errorf("%w: %s holds a store (%s/) but no %s; restore that file (a copy from a backup, or another node's of the same experiment) rather than init over it",
			ErrRepoExists, dir, StoreDir, ExperimentFile)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("node: creating repo: %w", err)
	}
	id, err := initIdentity(dir)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); errors.Is(err, fs.ErrNotExist) {
		if err := SaveConfig(dir, DefaultConfig()); err != nil {
			return "", err
		}
	}
	// The experiment file is written last: its presence marks a complete repo.
	if err := atomicfile.Write(filepath.Join(dir, ExperimentFile), e.MarshalIndent(), 0o644); err != nil {
		return "", err
	}
	return id, nil
}

// initIdentity returns the peer ID of dir's identity: the one an
// interrupted init left (so that finishing it keeps the node's peer ID),
// else a new Ed25519 key written with mode 0600. An identity file that
// does not read is refused, not replaced.
func initIdentity(dir string) (peer.ID, error) {
	_, id, err := LoadIdentity(dir)
	if err == nil {
		return id, nil
	}
	if _, serr := os.Stat(filepath.Join(dir, IdentityFile)); serr == nil {
		return "", fmt.Errorf("%w: %s holds an identity that does not read (%w); move it away to make a new one", ErrRepoExists, dir, err)
	}
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return "", err
	}
	kb, err := crypto.MarshalPrivateKey(priv)
	if err != nil {
		return "", err
	}
	if err := atomicfile.Write(filepath.Join(dir, IdentityFile), kb, 0o600); err != nil {
		return "", err
	}
	return peer.IDFromPrivateKey(priv)
}

// LoadIdentity reads the repo's private key.
func LoadIdentity(dir string) (crypto.PrivKey, peer.ID, error) {
	kb, err := os.ReadFile(filepath.Join(dir, IdentityFile))
	if err != nil {
		return nil, "", fmt.Errorf("node: identity: %w", err)
	}
	priv, err := crypto.UnmarshalPrivateKey(kb)
	if err != nil {
		return nil, "", fmt.Errorf("node: identity %s: %w", filepath.Join(dir, IdentityFile), err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	return priv, id, err
}

// LoadRepoExperiment reads a repo's experiment.
func LoadRepoExperiment(dir string) (*Experiment, error) {
	path := filepath.Join(dir, ExperimentFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(dir, StoreDir)); err == nil {
			return nil, fmt.Errorf("%w in %s: it holds a store (%s/) but no %s; restore that file from a backup (evoswarm init refuses to make a repo over a store)", ErrNoRepo, dir, StoreDir, ExperimentFile)
		}
		return nil, fmt.Errorf("%w in %s: run `evoswarm init --repo %q` first", ErrNoRepo, dir, dir)
	}
	return LoadExperiment(path)
}
