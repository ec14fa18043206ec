package gossip

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// PeerStore keeps what a swarm remembers about hostile peers across
// restarts: its bans and its replay cache. gossip does not know where they
// go; the node gives it one over its store. Its methods are called from
// one goroutine at a time.
type PeerStore interface {
	// LoadPeers returns the bans and replay marks saved and still in force
	// at now (Until after now).
	LoadPeers(now time.Time) (PeerRecords, error)
	// SavePeers adds records to what is saved; a ban of a peer already
	// saved replaces it, and a record may be forgotten once its Until has
	// passed.
	SavePeers(PeerRecords) error
}

// PeerRecords are bans and replay marks, to save or as loaded.
type PeerRecords struct {
	Bans    []BanRecord
	Replays []ReplayRecord
}

// BanRecord is a ban: Peer is refused until Until.
type BanRecord struct {
	Peer   peer.ID
	Until  time.Time
	Reason string
}

// ReplayRecord is an entry of the replay cache: an announcement with Key
// (see replayKey) is rejected as a replay until Until.
type ReplayRecord struct {
	Key   [32]byte
	Until time.Time
}

// maxBanReason bounds the reason saved with a ban.
const maxBanReason = 200

// journal collects the changes to save and saves them: bans at once, the
// replay marks every PersistInterval. It saves at most the replay cache's
// capacity of marks per retention (MaxAge+MaxClockSkew), so that what a
// flood of valid announcements leaves on disk is bounded as the cache in
// memory is; marks beyond that budget are counted and not saved.
type journal struct {
	ps     PeerStore
	saveMu sync.Mutex // one save at a time
	mu     sync.Mutex // the fields below
	ban    map[peer.ID]BanRecord
	rep    []ReplayRecord

	budget    int       // marks that may still be saved in this window
	window    time.Time // when the window started
	capacity  int
	retention time.Duration

	wake    chan struct{}
	saved   atomic.Uint64 // records saved
	skipped atomic.Uint64 // replay marks not saved (budget)
	failed  atomic.Uint64 // failed saves
}

func newJournal(ps PeerStore, capacity int, retention time.Duration, now time.Time) *journal {
	return &journal{ps: ps, ban: make(map[peer.ID]BanRecord), capacity: capacity, budget: capacity,
		window: now, retention: retention, wake: make(chan struct{}, 1)}
}

func (j *journal) addBan(r BanRecord) {
	if len(r.Reason) > maxBanReason {
		r.Reason = r.Reason[:maxBanReason]
	}
	j.mu.Lock()
	j.ban[r.Peer] = r
	j.mu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
}

func (j *journal) addReplay(key [32]byte, now time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if now.Sub(j.window) >= j.retention {
		j.window, j.budget = now, j.capacity
	}
	if j.budget <= 0 {
		j.skipped.Add(1)
		return
	}
	j.budget--
	j.rep = append(j.rep, ReplayRecord{Key: key, Until: now.Add(j.retention)})
}

// flush saves what has changed since the last flush. On failure the
// records are kept for the next one (within the budget's bound).
func (j *journal) flush() error {
	j.saveMu.Lock()
	defer j.saveMu.Unlock()
	j.mu.Lock()
	if len(j.ban) == 0 && len(j.rep) == 0 {
		j.mu.Unlock()
		return nil
	}
	recs := PeerRecords{Replays: j.rep}
	for _, b := range j.ban {
		recs.Bans = append(recs.Bans, b)
	}
	j.ban, j.rep = make(map[peer.ID]BanRecord), nil
	j.mu.Unlock()
	if err := j.ps.SavePeers(recs); err != nil {
		j.failed.Add(1)
		j.mu.Lock()
		for _, b := range recs.Bans {
			if _, newer := j.ban[b.Peer]; !newer {
				j.ban[b.Peer] = b
			}
		}
		if len(j.rep)+len(recs.Replays) <= j.capacity {
			j.rep = append(recs.Replays, j.rep...)
		}
		j.mu.Unlock()
		return err
	}
	j.saved.Add(uint64(len(recs.Bans) + len(recs.Replays)))
	return nil
}

// loadPeers restores the saved bans and replay marks into a new swarm,
// before its host starts.
func (s *Swarm) loadPeers(now time.Time) error {
	recs, err := s.cfg.PeerStore.LoadPeers(now)
	if err != nil {
		return fmt.Errorf("gossip: loading the saved bans and replay cache: %w", err)
	}
	bans := 0
	for _, b := range recs.Bans {
		if b.Until.After(now) && b.Peer != "" {
			s.bans.ban(b.Peer, b.Until.Sub(now))
			bans++
		}
	}
	// The newest marks first, as many as the cache holds.
	reps := slices.Clone(recs.Replays)
	slices.SortFunc(reps, func(a, b ReplayRecord) int { return b.Until.Compare(a.Until) })
	restored := 0
	for _, r := range reps {
		if restored >= s.cfg.ReplayCacheSize {
			break
		}
		if s.val.replay.restore(r.Key, r.Until, now) {
			restored++
		}
	}
	s.log.Info("restored bans and replay cache", "bans", bans, "replays", restored)
	return nil
}

// persistLoop saves the journal every PersistInterval, when a ban wakes
// it, and a last time when the swarm closes.
func (s *Swarm) persistLoop() {
	t := time.NewTicker(s.cfg.PersistInterval)
	defer t.Stop()
	save := func() {
		if err := s.journal.flush(); err != nil {
			s.log.Warn("saving bans and replay cache", "err", err)
		}
	}
	for {
		select {
		case <-s.ctx.Done():
			save()
			return
		case <-t.C:
			save()
		case <-s.journal.wake:
			save()
		}
	}
}

// FlushPeers saves the pending bans and replay marks now. It is for tests
// and for a node that wants them on disk before it reports something.
func (s *Swarm) FlushPeers(context.Context) error {
	if s.journal == nil {
		return nil
	}
	return s.journal.flush()
}

// PersistStats reports what the swarm saved to its PeerStore: records
// saved, replay marks not saved because the budget was spent, failed
// saves. All zero without a PeerStore.
func (s *Swarm) PersistStats() (saved, skipped, failed uint64) {
	if s.journal == nil {
		return 0, 0, 0
	}
	return s.journal.saved.Load(), s.journal.skipped.Load(), s.journal.failed.Load()
}
