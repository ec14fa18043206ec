package node

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/gossip"
	"github.com/evoswarm/evoswarm/island"
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/store"
	"github.com/evoswarm/evoswarm/train"
)

// TestDamagedWeightsAreNeverUsed damages, on disk, the weights of some
// individuals of a real store (a byte flipped in Badger's value log, in a
// file that is no longer the newest, so that the store opens) and follows
// every path by which the node reads weights: a tournament's parent, an
// emigrant (a tournament with no victim), a peer asking for a migrant's
// weights, and the trainer given a parent's bytes. None may use damaged
// weights: the tournament records the parent dead (quarantined) and
// abandons the task with its rival alive, the peer is told the weights
// are not here, and the trainer refuses the bytes.
func TestDamagedWeightsAreNeverUsed(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(16, 5))
	ids := map[string]dna.ID{}
	blobs := map[string][]byte{}
	for i, name := range []string{"parent", "rival", "emigrant", "served", "intact"} {
		g := dna.Initial(dna.Shape{H: 28, W: 28, C: 1}, 10, 0.1)
		g.Nonce = uint64(i + 1)
		gb, err := g.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		body := make([]byte, 40<<10) // in the value log
		for j := range body {
			body[j] = byte(rng.Uint32())
		}
		ids[name], blobs[name] = g.ID(), store.Seal(body)
		ind := &store.Individual{ID: g.ID(), Genome: gb, Fitness: 0.9 - 0.1*float64(i), Born: time.Now(), Params: g.Params()}
		if err := st.Update(func(tx *store.Tx) error { return tx.Insert(ind, blobs[name]) }); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	vlog := filepath.Join(dir, "000001.vlog")
	if st, err = store.Open(dir, store.Options{MinFreeBytes: -1}); err != nil { // starts 000002.vlog
		t.Fatal(err)
	}
	st.Close()
	b, err := os.ReadFile(vlog)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"parent", "emigrant", "served"} {
		at := bytes.Index(b, blobs[name][:64])
		if at < 0 {
			t.Fatalf("the %s's weights are not in %s", name, vlog)
		}
		b[at+4000] ^= 0x04
	}
	if err := os.WriteFile(vlog, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if st, err = store.Open(dir, store.Options{MinFreeBytes: -1}); err != nil {
		t.Fatalf("the store with damage in an older value log should open: %v", err)
	}
	defer st.Close()
	pop := population{st}

	// A tournament whose winner's weights are damaged.
	rival := ids["rival"]
	res, err := pop.Tournament(ids["parent"], &rival, time.Now())
	w := res.Weights
	if !errors.Is(err, island.ErrConflict) || !errors.Is(err, store.ErrBadWeights) || w != nil {
		t.Errorf("tournament won by a parent with damaged weights: %d bytes, %v; want none and a conflict wrapping ErrBadWeights", len(w), err)
	}
	if rec, _ := st.Get(ids["parent"]); rec == nil || rec.Status != store.StatusDead || !strings.Contains(rec.DeathReason, "damaged") {
		t.Errorf("the parent with damaged weights: %+v, want it dead for damaged weights", rec)
	}
	if rec, _ := st.Get(rival); rec == nil || rec.Status != store.StatusAlive {
		t.Errorf("the rival of a parent with damaged weights is not alive: %+v", rec)
	}
	// Emigration reserves its pick with a victimless tournament.
	if res, err := pop.Tournament(ids["emigrant"], nil, time.Now()); !errors.Is(err, island.ErrConflict) || res.Weights != nil {
		w := res.Weights
		t.Errorf("emigrant with damaged weights: %d bytes, %v; want none and a conflict", len(w), err)
	}
	// An intact individual is still bred from.
	if res, err := pop.Tournament(ids["intact"], nil, time.Now()); err != nil || res.Genome.ID() != ids["intact"] || !bytes.Equal(res.Weights, blobs["intact"]) {
		w := res.Weights
		t.Errorf("intact individual: %v, %d bytes; want its genome and weights", err, len(w))
	}
	// A peer asks for weights that are damaged here.
	x := &exchange{pop: pop, recent: map[dna.ID][]byte{}}
	if w, err := x.Weights(ids["served"]); !errors.Is(err, gossip.ErrWeightsNotFound) || !errors.Is(err, store.ErrBadWeights) || w != nil {
		t.Errorf("serving damaged weights to a peer: %d bytes, %v; want none, not found", len(w), err)
	}
	if w, err := x.Weights(ids["intact"]); err != nil || !bytes.Equal(w, blobs["intact"]) {
		t.Errorf("serving intact weights: %d bytes, %v", len(w), err)
	}
	// The trainer decodes a parent's bytes, checksum first.
	good, err := (&train.Weights{Tensors: map[string]*train.Tensor{"fc/1/bias": {Shape: []int{10}, Data: make([]float32, 10)}}}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	good[10] ^= 1
	g := dna.Initial(dna.Shape{H: 28, W: 28, C: 1}, 10, 0.1)
	if out, err := (trainer{cfg: train.DefaultConfig()}).Train(context.Background(), g, good, 1); !errors.Is(err, train.ErrCorruptWeights) || out != nil {
		t.Errorf("training from damaged parent weights: %v, want train.ErrCorruptWeights", err)
	}
	// Verify names the damaged individual still alive.
	if err := st.Verify(); err == nil || !strings.Contains(err.Error(), ids["served"].Short()) {
		t.Errorf("Verify: %v; want it to name %s", err, ids["served"].Short())
	}
}

// TestPopulationImmigrateIsOneTransaction: the store adapter kills the
// rival and inserts the immigrant together; an immigrant recorded here
// before (it died here) changes nothing, and its rival lives.
func TestPopulationImmigrateIsOneTransaction(t *testing.T) {
	st, err := store.Open(t.TempDir(), store.Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pop := population{st}
	ind := func(nonce uint64) *store.Individual {
		g := dna.Initial(dna.Shape{H: 28, W: 28, C: 1}, 10, 0.1)
		g.Nonce = nonce
		gb, err := g.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return &store.Individual{ID: g.ID(), Genome: gb, Fitness: 0.5, Born: time.Now(), Params: g.Params()}
	}
	rival, gone := ind(1), ind(2)
	for _, x := range []*store.Individual{rival, gone} {
		if err := st.Update(func(tx *store.Tx) error { return tx.Insert(x, store.Seal([]byte("w"))) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Update(func(tx *store.Tx) error { return tx.Kill(gone.ID, "test", time.Now()) }); err != nil {
		t.Fatal(err)
	}
	back := *gone
	back.Immigrant, back.Fitness, back.Status, back.Died, back.DeathReason, back.BirthSeq = true, 0.9, 0, time.Time{}, "", 0
	err = pop.Immigrate(&back, store.Seal([]byte("w")), &rival.ID, "lost to immigrant", time.Now())
	if !errors.Is(err, island.ErrConflict) {
		t.Errorf("an immigrant that died here before: %v, want ErrConflict", err)
	}
	if rec, _ := st.Get(rival.ID); rec == nil || rec.Status != store.StatusAlive {
		t.Errorf("its rival: %+v, want it alive", rec)
	}
	fresh := ind(3)
	fresh.Immigrant = true
	if err := pop.Immigrate(fresh, store.Seal([]byte("w")), &rival.ID, "lost to immigrant", time.Now()); err != nil {
		t.Fatal(err)
	}
	if rec, _ := st.Get(rival.ID); rec == nil || rec.Status != store.StatusDead {
		t.Errorf("the rival of a new immigrant: %+v, want it dead", rec)
	}
	if err := st.Verify(); err != nil {
		t.Error(err)
	}
}
