package gossip

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// gossip moves genomes and opaque weight blobs; it must not depend on how
// networks are trained. Its only knowledge of a blob is the trailing
// digest, checked in FetchWeights.
func TestGossipDoesNotImportTrain(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range af.Imports {
			path, _ := strconv.Unquote(im.Path.Value)
			// Nor on where the node keeps things: bans and the replay
			// cache are saved through the PeerStore interface.
			if strings.HasPrefix(path, "github.com/evoswarm/evoswarm/train") || strings.HasPrefix(path, "github.com/evoswarm/evoswarm/store") {
				t.Errorf("%s imports %s", f, path)
			}
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no source files found")
	}
}
