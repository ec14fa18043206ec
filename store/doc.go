// Package store is a node's durable sub-population: the individuals of its
// island, their weights, the history of births and deaths, and the run's
// configuration, seed and counters, kept in a Badger database in the repo.
//
// # What it owns
//
//   - Individuals: one record per individual ever born on or received by
//     this node (ID, genome bytes, fitness, status, lineage, cost). Records of
//     dead individuals are kept forever; only their weights are deleted, at
//     kill time.
//   - Weights: one blob per live individual, under its own key, so that
//     listing or scanning the population never reads weights. The store
//     does not decode them, but they must end with the SHA-256 of the
//     bytes before them (train's encoding does; Seal makes such a blob):
//     Insert refuses others, and every read checks it (ErrBadWeights).
//   - Indexes: a small entry per alive individual (fitness and birth
//     sequence) and per individual in training, so that Tx.Alive, which the
//     island's workers call at every step, reads a few bytes per member.
//   - Events: an append-only log of births, deaths, immigrations,
//     emigrations, errors and abandoned trainings, numbered 1, 2, 3, ... in
//     commit order. Plots and lineage read it; they never need weights.
//   - Run data: the experiment configuration (opaque bytes), the root seed,
//     and the counters (trained, killed, abandoned, errors, migrants in and
//     out, FLOPs, births). The lifecycle's counters (trained, killed,
//     errors, births, migrants in) change in the same transaction as the
//     change they count, so a crash can never leave them out of step. A
//     few are added in a transaction of their own just after what they
//     count, which a crash in between can lose: abandoned after a
//     tournament's conflict, the FLOPs of immigrants' re-measures, and
//     migrants out after the announcement went out.
//   - The schema version, written when a repo is first opened.
//
// # Usage
//
// Open locks the directory (a second opener gets ErrLocked), checks the
// schema and returns a Store; Start runs value-log garbage collection in the
// background until Close. Every read and write goes through a transaction:
//
//	err := s.Update(func(tx *store.Tx) error {
//		if err := tx.Kill(worse, "lost a tournament to "+better.Short(), now); err != nil {
//			return err // ErrConflict: another worker got there first
//		}
//		parent, weights, err = tx.Reserve(better)
//		return err
//	})
//	if errors.Is(err, store.ErrConflict) { /* abandon the task */ }
//
// The island's worker loop is: list Tx.Alive in a View (cheap), pick two;
// in one Update kill the worse and/or Reserve the better; mutate and train
// outside any transaction; Insert the child in a new Update.
//
// # Concurrency
//
// A Store is safe for concurrent use. View transactions run in parallel;
// Update transactions are serialized by a store-wide write lock, so keep
// their functions short (never train inside one). Serializing writes keeps
// the event sequence in commit order (a reader following Events never
// misses an event) and stops the shared counters from turning every pair
// of concurrent writers into a false conflict. Interference between workers
// is still detected: a Tx method that needs an alive individual and finds it
// dead (killed by another worker since the caller's View) fails with
// ErrNotAlive, which also matches ErrConflict; a Badger conflict, should one
// ever occur, is surfaced as ErrConflict too.
//
// # Training records and crashes
//
// Tx.StartTraining records a child before it is trained, with status
// training: status counts it in the population, but it is never returned
// by Alive, which is all that selection and the set-point see (so with W
// workers up to W-1 more than the set-point are held while they train). Tx.Insert later turns it into an alive individual with weights, or
// Tx.Fail and Tx.Abandon mark it dead. Training records survive a crash: the
// weights being trained are lost with the process, but the record (genome,
// parent, mutation) is not. After a restart, before starting workers, the
// node either trains them again (the genome and parent are in the record)
// or calls Store.AbandonTraining, which marks them dead, logs an abandon
// event for each and counts them in abandoned_total.
//
// # Durability
//
// Writes are fsynced before Update returns: once Update returns nil, the
// change survives the process being killed (tested with SIGKILL at random
// moments) and, as far as fsync holds, a power cut. Update refuses to commit, with
// ErrDiskFull, a write that would leave the file system with less than
// Options.MinFreeBytes free (plus twice the write's size). The margin is
// needed because Badger writes through memory-mapped files: on a disk that
// really fills up, a write faults (SIGBUS) and the process dies instead of
// getting an error. (Measured on a full tmpfs: the process crashed; every
// commit acknowledged before it was intact once space was freed.) A write
// error that does report ENOSPC is surfaced as ErrDiskFull too.
//
// # Damage at rest
//
// Open checks Badger's files before Badger sees them (the MANIFEST, every
// table against its checksums, the value logs' headers and, after a clean
// stop, every entry of the newest value log) and refuses damage with
// ErrCorrupt and one line naming the file, where Badger would panic, skip a
// table, cut the value log or start an empty database. Damage Badger does
// not look at on open (older value-log files) surfaces as weights that fail
// their checksum: Weights and Reserve refuse them, Verify lists them, and
// Store.Quarantine records such an individual dead. Options.ReadOnly opens
// a store without any of Badger's recovery writes, for checking it.
// docs/hardening.md lists each kind of damage and what it leads to.
//
// # Garbage collection
//
// Kill deletes the dead's weights at once, but their bytes stay in Badger's
// value log until GC rewrites the files they are in. GC (every
// Options.GCInterval once Start is called) does this, first forcing Badger
// to take note of the deleted keys when the log holds clearly more than the
// live weights.
package store
