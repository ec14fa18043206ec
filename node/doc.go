// Package node is evoswarm's composition root. It owns a repo directory
// (experiment.json, identity.key, the Badger store in db/), wires the store,
// the island, the training engine and (later) the gossip layer together,
// and runs the daemon: the island's workers, the local JSON API on
// 127.0.0.1, and graceful shutdown.
//
// # Lifecycle
//
// Init creates a repo from an Experiment. Open takes the repo's lock (a
// second daemon fails here with a readable error), loads the data set and
// abandons any training a crash interrupted. Run starts the workers and the
// API and blocks until its context ends or the island stops on a fatal
// error (a full disk, say). Close releases everything.
package node
