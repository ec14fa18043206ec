package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/evoswarm/evoswarm/internal/atomicfile"
	"github.com/evoswarm/evoswarm/island/dna"
)

// Daemon is a repo's daemon file (DaemonFile, daemon.json): Run writes it
// once the local API listens and removes it when the daemon stops, so the
// tools find the running daemon of a repo through it.
type Daemon struct {
	API string `json:"api"` // the local API's host:port
	PID int    `json:"pid"`
	// Peer is the node's peer ID. Its API names it in every reply
	// (PeerHeader), so a daemon file left by a crash, whose port another
	// node took since, is not taken for this repo's daemon. Empty in
	// files from before it was written: not checked.
	Peer string `json:"peer,omitempty"`
}

// PeerHeader is the HTTP header in which a node's API names its peer ID.
const PeerHeader = "Evoswarm-Peer"

// writeDaemon writes the daemon file of the repo in dir.
func writeDaemon(dir string, d Daemon) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, DaemonFile), append(b, '\n'), 0o644)
}

// ReadDaemon reads the daemon file of the repo in dir. It fails (an
// fs.ErrNotExist) when no daemon runs; a daemon that crashed may have left
// one behind, so a tool still has to reach it to know it runs.
func ReadDaemon(dir string) (*Daemon, error) {
	b, err := os.ReadFile(filepath.Join(dir, DaemonFile))
	if err != nil {
		return nil, err
	}
	var d Daemon
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("node: %s: %w", filepath.Join(dir, DaemonFile), err)
	}
	return &d, nil
}

// Get asks the daemon's local API for path (such as "/api/v1/status")
// and decodes the JSON reply into v. A reply other than 200 OK is an error
// carrying the daemon's message.
func (d Daemon) Get(path string, v any) error {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + d.API + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if got := resp.Header.Get(PeerHeader); d.Peer != "" && got != d.Peer {
		return fmt.Errorf("daemon: %s answers as node %q, not %q: the daemon file is stale", d.API, got, d.Peer)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return &DaemonError{Status: resp.StatusCode, Msg: strings.TrimSpace(string(msg))}
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return &DaemonError{Status: resp.StatusCode, Msg: "undecodable reply: " + err.Error()}
	}
	return nil
}

// DaemonError is a running daemon's answer to a request it refused or
// failed (not OK), or one that did not decode: the daemon runs, so a
// tool reports it rather than trying the store (which the daemon holds).
type DaemonError struct {
	Status int
	Msg    string
}

func (e *DaemonError) Error() string { return "daemon: " + e.Msg }

// answered reports whether err is the running daemon's own answer, as
// against no daemon (no daemon file, nobody listening, a stale file).
func answered(err error) bool {
	var de *DaemonError
	return errors.As(err, &de)
}

// askDaemon asks the running daemon of the repo in dir for path.
func askDaemon(dir, path string, v any) error {
	d, err := ReadDaemon(dir)
	if err != nil {
		return err
	}
	return d.Get(path, v)
}

// RepoStatus is the status of the repo in dir: its running daemon's, or,
// when no daemon answers, what its store holds (Running false).
func RepoStatus(dir string) (*Status, error) {
	var st Status
	if err := askDaemon(dir, "/api/v1/status", &st); err == nil {
		return &st, nil
	} else if answered(err) {
		return nil, err
	}
	return OfflineStatus(dir)
}

// RepoLineage is the ancestry of individual id ("": the best alive) in
// the repo in dir, oldest first: from its running daemon, or, when no
// daemon answers, from its store.
func RepoLineage(dir, id string) ([]Ancestor, error) {
	path := "/api/v1/lineage"
	if id != "" {
		if _, err := dna.ParseID(id); err != nil {
			return nil, err
		}
		path += "?id=" + id
	}
	var l []Ancestor
	if err := askDaemon(dir, path, &l); err == nil {
		return l, nil
	} else if answered(err) {
		return nil, err
	}
	return ReadStopped(dir, func(r *StoppedRepo) ([]Ancestor, error) { return r.Lineage(id) })
}
