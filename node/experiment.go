package node

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/evoswarm/evoswarm/island"
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train"
	"github.com/evoswarm/evoswarm/train/dataset"
)

// Experiment is everything that defines a run. Nodes with the same
// Experiment ID evolve the same problem and may exchange migrants. It is
// stored in the repo as experiment.json.
type Experiment struct {
	// Preset names the preset this experiment started from, for people.
	Preset string `json:"preset"`
	// Data names the data set (fashion-mnist, mnist, cifar10, cifar100 or
	// a directory); DataIdentity pins its files (name and digest), filled
	// in when the repo is created.
	Data         string `json:"data"`
	DataIdentity string `json:"data_identity"`
	// ValFraction and ValSize set the validation hold-out; SplitSeed picks it.
	ValFraction float64 `json:"val_fraction"`
	ValSize     int     `json:"val_size"`
	SplitSeed   uint64  `json:"split_seed"`
	// TrainImages, when > 0, trains on only the first TrainImages images
	// of the data set's training files (the validation split is held out
	// of them); the files are still checked whole. For drills and tests:
	// the smoke preset uses 10,000, which is 40 times what its children
	// see (5 steps of 50) and saves a smoke node most of the data set's
	// memory. 0 (omitted) is every image.
	TrainImages int `json:"train_images,omitempty"`
	// Train holds steps per child, batch size, optimiser, BN and memory settings.
	Train train.Config `json:"train"`
	// Population is the set-point of live individuals on this node.
	Population int `json:"population"`
	// Workers is the number of asynchronous tournament workers per node.
	Workers int `json:"workers"`
	// Selection is "worst" (the paper) or "oldest" (aging evolution).
	Selection island.Mode `json:"selection"`
	// Bounds are the genome resource bounds.
	Bounds Bounds `json:"bounds"`
	// Mutations weights each mutation by name; empty means uniform (the
	// paper). At least one mutation of positive weight must apply to the
	// initial individual (the node refuses to start otherwise).
	Mutations map[string]float64 `json:"mutations,omitempty"`
	// InsertMinChannels floors the channels of an inserted convolution; 0
	// keeps the input's channels, as the paper does.
	InsertMinChannels int `json:"insert_min_channels"`
	// Inheritance is how a child takes its parent's weights: "exact" (the
	// paper: every tensor whose weight ID and shape match) or "partial"
	// (also the overlap of a tensor whose shape changed; docs/training.md).
	// Exact is left out of the canonical form, so that the experiments
	// from before this option keep their IDs.
	Inheritance string `json:"inheritance,omitempty"`
	// InitialLearningRate is the initial individuals' learning rate.
	InitialLearningRate float64 `json:"initial_learning_rate"`
	// Migration settings, used by the swarm.
	Migration Migration `json:"migration"`
	// Seed is the root seed; every worker's generator derives from it.
	Seed uint64 `json:"seed"`
}

// Bounds mirrors dna.Bounds with JSON names.
type Bounds struct {
	MaxVertices   int     `json:"max_vertices"`
	MaxEdges      int     `json:"max_edges"`
	MaxParams     int64   `json:"max_params"`
	MaxFLOPs      int64   `json:"max_flops"`
	MaxChannels   int     `json:"max_channels"`
	MaxFilter     int     `json:"max_filter"`
	MaxStrideLog2 int     `json:"max_stride_log2"`
	MinLR         float64 `json:"min_learning_rate"`
	MaxLR         float64 `json:"max_learning_rate"`
}

func (b Bounds) dna() dna.Bounds { return dna.Bounds(b) }

// Migration controls emigration: every EveryReproductions children, or
// every IntervalSeconds, the node sends out its best individual not yet
// sent; and immigration: whom a node takes migrants from (Topology,
// Neighbours, ReshuffleSeconds) and how many it admits, that is fetches,
// re-measures and lets compete (AdmitEvery, RemeasureShare,
// DiversityShare; island.AdmissionPolicy and docs/island-model.md).
type Migration struct {
	EveryReproductions int     `json:"every_reproductions"`
	IntervalSeconds    float64 `json:"interval_seconds"`
	// Topology is "all" (every node takes from every other: the swarm as
	// one population, paper-like), "ring" (the Neighbours nearest on a
	// ring over peer IDs) or "random" (Neighbours random rings redrawn
	// every ReshuffleSeconds).
	Topology         string  `json:"topology"`
	Neighbours       int     `json:"neighbours"`
	ReshuffleSeconds float64 `json:"reshuffle_seconds"`
	// AdmitEvery: at most one immigrant admitted per AdmitEvery
	// individuals trained here (0: no count limit). RemeasureShare: at
	// most this share of the node's FLOPs re-measures immigrants (0: no
	// limit). With neither, every announcement from the neighbourhood is
	// admitted. DiversityShare: the share of admissions that go to the
	// most novel architecture rather than the highest claim.
	AdmitEvery     int     `json:"admit_every"`
	RemeasureShare float64 `json:"remeasure_share"`
	DiversityShare float64 `json:"diversity_share"`
}

// legacy reports whether the immigration settings are those of the
// experiments from before they existed: everyone hears everyone, every
// announcement is admitted.
func (m Migration) legacy() bool {
	return (m.Topology == "" || m.Topology == string(island.TopologyAll)) && m.Neighbours == 0 &&
		m.ReshuffleSeconds == 0 && m.AdmitEvery == 0 && m.RemeasureShare == 0 && m.DiversityShare == 0
}

// legacyJSON is the canonical form of legacy settings: the two fields
// that existed before the others.
func (m Migration) legacyJSON() []byte {
	b, _ := json.Marshal(struct {
		EveryReproductions int     `json:"every_reproductions"`
		IntervalSeconds    float64 `json:"interval_seconds"`
	}{m.EveryReproductions, m.IntervalSeconds})
	return b
}

// normalize drops the settings the topology does not use, so that they
// do not change the experiment's ID.
func (m *Migration) normalize() {
	switch island.TopologyKind(m.Topology) {
	case island.TopologyAll, "":
		m.Topology, m.Neighbours, m.ReshuffleSeconds = string(island.TopologyAll), 0, 0
	case island.TopologyRing:
		m.ReshuffleSeconds = 0
	}
}

// TopologyOf returns the experiment's topology, salted with its ID.
func (e *Experiment) TopologyOf() island.Topology {
	return island.Topology{
		Kind: island.TopologyKind(e.Migration.Topology), K: e.Migration.Neighbours,
		Reshuffle: time.Duration(e.Migration.ReshuffleSeconds * float64(time.Second)), Salt: e.FullID(),
	}
}

// AdmissionPolicy returns the experiment's admission policy for a node
// whose validation split holds valImages images.
func (e *Experiment) AdmissionPolicy(valImages int) island.AdmissionPolicy {
	return island.AdmissionPolicy{
		Every: e.Migration.AdmitEvery, Share: e.Migration.RemeasureShare,
		Diversity: e.Migration.DiversityShare, ValImages: valImages,
	}
}

// PeerTTL is how long a node remembers a peer it heard from, for the
// topology: five emigration intervals, and at least ten minutes.
func (e *Experiment) PeerTTL() time.Duration {
	return max(10*time.Minute, time.Duration(5*e.Migration.IntervalSeconds*float64(time.Second)))
}

// Presets returns the names of the shipped presets.
func Presets() []string { return []string{"paper", "cpu-small", "gpu-small", "smoke"} }

// Preset returns a shipped experiment:
//
//   - paper: the paper's settings: 25,600 steps per child, population
//     1,000 per node, inserted convolutions keep their input's channels.
//   - cpu-small: sized for a 2-core machine to show progress in minutes:
//     1,000 steps per child, population 20, 2 workers, and inserted
//     convolutions get at least 16 channels (a documented departure from
//     the paper, which makes the climb from one-channel images slow).
//   - gpu-small: cpu-small's population and insertion rule for one GPU
//     (daemon --device cuda): 1,000 steps per child, larger networks
//     (5M parameters, 2 GFLOPs, 512 channels, 8 GiB per network).
//   - smoke: a few steps per child, a population of 4, small networks
//     (16 vertices, 64 MiB per network), for tests, soaks and crash
//     drills; not for results.
//
// cpu-small inherits partially (the overlap of a reshaped tensor is kept:
// a departure from the paper, chosen from the runs in docs/results.md);
// every other preset inherits exactly, as the paper does.
func Preset(name string) (*Experiment, error) {
	b := dna.DefaultBounds()
	e := &Experiment{
		Preset:              name,
		Data:                "fashion-mnist",
		ValFraction:         0.1,
		Train:               train.DefaultConfig(),
		Selection:           island.Worst,
		Bounds:              Bounds(b),
		InitialLearningRate: dna.PaperLearningRate,
		Inheritance:         train.InheritExact,
		// Two in-neighbours on random rings redrawn every 10 minutes; at
		// most one immigrant per 20 individuals trained here (one per
		// generation of a population of 20, the few percent of classic
		// island models) and 5% of the FLOPs spent re-measuring; a
		// quarter of admissions for novelty (docs/island-model.md). The
		// paper preset below keeps everyone hearing everyone.
		Migration: Migration{EveryReproductions: 10, IntervalSeconds: 120,
			Topology: string(island.TopologyRandom), Neighbours: 2, ReshuffleSeconds: 600,
			AdmitEvery: 20, RemeasureShare: 0.05, DiversityShare: 0.25},
		Seed: 1,
	}
	switch name {
	case "paper":
		e.Train.Steps = 25600
		e.Population = 1000
		e.Workers = 4
		e.Bounds.MaxParams = 50_000_000
		e.Bounds.MaxFLOPs = 20_000_000_000
		e.Bounds.MaxVertices = 256
		e.Bounds.MaxEdges = 1024
		e.Train.MemoryBudget = 16 << 30
		// One population, as in the paper: every node hears every other
		// and admits what it hears; re-measuring is capped at a tenth of
		// the node's FLOPs, which a small swarm never reaches (a
		// re-measure costs 0.2% of a child here) and a large one would.
		e.Migration = Migration{EveryReproductions: 10, IntervalSeconds: 120,
			Topology: string(island.TopologyAll), RemeasureShare: 0.1}
	case "cpu-small":
		// 1,000 steps per child, not 300: in an hour the node grows
		// networks of 100k+ parameters, which 300 steps leave
		// undertrained (docs/results.md, "The hour with 1,000 steps").
		e.Train.Steps = 1000
		e.Population = 20
		e.Workers = 2
		e.InsertMinChannels = 16
		e.Bounds.MaxParams = 2_000_000
		e.Bounds.MaxFLOPs = 300_000_000
		e.Bounds.MaxChannels = 256
		e.Train.MemoryBudget = 2 << 30
		e.Inheritance = train.InheritPartial
	case "gpu-small":
		e.Train.Steps = 1000
		e.Population = 20
		e.Workers = 1
		e.InsertMinChannels = 16
		e.Bounds.MaxParams = 5_000_000
		e.Bounds.MaxFLOPs = 2_000_000_000
		e.Bounds.MaxChannels = 512
		e.Train.MemoryBudget = 8 << 30
	case "smoke":
		e.Train.Steps = 5
		e.Population = 4
		e.Workers = 1
		e.InsertMinChannels = 4
		e.ValSize = 200
		e.TrainImages = 10_000
		e.Bounds.MaxParams = 100_000
		e.Bounds.MaxFLOPs = 10_000_000
		e.Bounds.MaxChannels = 32
		e.Bounds.MaxVertices = 16
		e.Bounds.MaxEdges = 32
		// Few FLOPs do not mean little memory: a chain of BN-ReLU vertices
		// at 28x28x32 costs little compute but holds every activation and
		// its gradient. Smoke nodes run many to a machine.
		e.Train.MemoryBudget = 64 << 20
		e.Migration = Migration{EveryReproductions: 2, IntervalSeconds: 5,
			Topology: string(island.TopologyRandom), Neighbours: 2, ReshuffleSeconds: 60,
			AdmitEvery: 2, RemeasureShare: 0.25, DiversityShare: 0.25}
	default:
		return nil, fmt.Errorf("node: unknown preset %q (want one of %s)", name, strings.Join(Presets(), ", "))
	}
	e.Train.Bounds = e.Bounds.dna()
	e.Train.Inheritance = e.Inheritance
	e.Migration.normalize()
	return e, nil
}

// ReadExperiment decodes an experiment file and validates it. The file
// need only name what differs from its preset: it starts from the preset
// its "preset" field names (cpu-small when absent) and overrides field by
// field. Unknown fields are refused. Errors are one line and name the field.
//
// A whole experiment from before the immigration settings existed (every
// field MarshalIndent writes, but no migration.topology: an old repo's
// experiment.json or a copy of it) keeps their legacy values, so that it
// keeps its ID.
func ReadExperiment(r io.Reader) (*Experiment, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, err
	}
	var head struct {
		Preset string `json:"preset"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, jsonFieldError(err)
	}
	if head.Preset == "" {
		head.Preset = "cpu-small"
	}
	e, err := Preset(head.Preset)
	if err != nil {
		return nil, fmt.Errorf("experiment: preset: %s", strings.TrimPrefix(err.Error(), "node: "))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(e); err != nil {
		return nil, jsonFieldError(err)
	}
	whole, topology, inheritance := shape(data)
	if whole && !inheritance {
		// A whole experiment that does not name its inheritance was
		// written before the option existed, when every child inherited
		// exactly, whatever the preset says now.
		e.Inheritance = train.InheritExact
	}
	e.Train.Bounds = e.Bounds.dna()
	e.Train.Inheritance = e.Inheritance
	if whole && !topology {
		// A whole experiment written before the immigration settings
		// existed (a repo's experiment.json, or a copy of it): it had
		// them at their legacy values, whatever the preset says now.
		m := &e.Migration
		m.Topology, m.Neighbours, m.ReshuffleSeconds = string(island.TopologyAll), 0, 0
		m.AdmitEvery, m.RemeasureShare, m.DiversityShare = 0, 0, 0
	}
	e.Migration.normalize()
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return e, nil
}

// wholeFields are the fields every experiment file that MarshalIndent
// wrote names, before and since the immigration settings.
var wholeFields = []string{"data", "data_identity", "val_fraction", "val_size", "split_seed", "train", "population",
	"workers", "selection", "bounds", "insert_min_channels", "initial_learning_rate", "migration", "seed"}

// shape reports whether an experiment file names every field MarshalIndent
// writes (a whole experiment, not one that names what differs from a
// preset), whether it sets migration.topology (every file written since
// the immigration settings exist does) and whether it names its
// inheritance (every file written since that option exists does).
func shape(data []byte) (whole, topology, inheritance bool) {
	var probe map[string]json.RawMessage
	if json.Unmarshal(data, &probe) != nil {
		return false, false, false
	}
	_, inheritance = probe["inheritance"]
	whole = true
	for _, k := range wholeFields {
		if _, ok := probe[k]; !ok {
			whole = false
		}
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(probe["migration"], &m) == nil {
		_, topology = m["topology"]
	}
	return whole, topology, inheritance
}

func jsonFieldError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("experiment: field %q: %s value where %s was expected", te.Field, te.Value, te.Type)
	}
	return fmt.Errorf("experiment: %s", strings.ReplaceAll(err.Error(), "json: ", ""))
}

// LoadExperiment reads and validates an experiment file.
func LoadExperiment(path string) (*Experiment, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	e, err := ReadExperiment(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return e, nil
}

// Validate checks every field; the error names the first bad one.
func (e *Experiment) Validate() error {
	bad := func(field string, format string, args ...any) error {
		return fmt.Errorf("experiment: %s: %s", field, fmt.Sprintf(format, args...))
	}
	switch {
	case e.Data == "":
		return bad("data", "empty; name a data set (fashion-mnist, mnist, cifar10, cifar100) or a directory")
	case math.IsNaN(e.ValFraction) || e.ValFraction < 0 || e.ValFraction >= 1:
		return bad("val_fraction", "%v is outside [0, 1)", e.ValFraction)
	case e.TrainImages < 0:
		return bad("train_images", "%d is negative", e.TrainImages)
	case e.ValSize < 0:
		return bad("val_size", "%d is negative", e.ValSize)
	case e.ValSize == 0 && e.ValFraction == 0:
		return bad("val_fraction", "0 with val_size 0 leaves no validation split, and fitness is validation accuracy")
	case e.Population < 2 || e.Population > 100000:
		return bad("population", "%d is outside [2, 100000]", e.Population)
	case e.Workers < 1 || e.Workers > 1024:
		return bad("workers", "%d is outside [1, 1024]", e.Workers)
	case !(e.InitialLearningRate > 0) || math.IsInf(e.InitialLearningRate, 0):
		return bad("initial_learning_rate", "%v must be finite and positive", e.InitialLearningRate)
	case e.Inheritance != "" && e.Inheritance != train.InheritExact && e.Inheritance != train.InheritPartial:
		return bad("inheritance", "%q: want %q (the paper) or %q", e.Inheritance, train.InheritExact, train.InheritPartial)
	case e.Migration.EveryReproductions < 0:
		return bad("migration.every_reproductions", "%d is negative", e.Migration.EveryReproductions)
	case !(e.Migration.IntervalSeconds >= 0) || math.IsInf(e.Migration.IntervalSeconds, 0):
		return bad("migration.interval_seconds", "%v must be finite and >= 0", e.Migration.IntervalSeconds)
	}
	if err := e.validateImmigration(); err != nil {
		return err
	}
	if err := e.Selection.Validate(); err != nil {
		return bad("selection", "%q: want \"worst\" or \"oldest\"", e.Selection)
	}
	if err := e.Bounds.dna().Validate(); err != nil {
		return bad("bounds", "%s", strings.TrimPrefix(err.Error(), "dna: bounds: "))
	}
	if err := e.Train.Validate(); err != nil {
		return bad("train", "%s", strings.TrimPrefix(err.Error(), "train: "))
	}
	if e.Train.Steps < 1 {
		return bad("train.steps", "%d: each child needs at least one step", e.Train.Steps)
	}
	if _, err := e.MutateOptions(); err != nil {
		return err
	}
	if e.InitialLearningRate < e.Bounds.MinLR || e.InitialLearningRate > e.Bounds.MaxLR {
		return bad("initial_learning_rate", "%v is outside the bounds' learning rate range", e.InitialLearningRate)
	}
	return nil
}

// validateImmigration checks the topology and the admission budget.
func (e *Experiment) validateImmigration() error {
	m := e.Migration
	bad := func(field string, format string, args ...any) error {
		return fmt.Errorf("experiment: migration.%s: %s", field, fmt.Sprintf(format, args...))
	}
	switch island.TopologyKind(m.Topology) {
	case island.TopologyAll, "":
	case island.TopologyRing, island.TopologyRandom:
		if m.Neighbours < 1 || m.Neighbours > 64 {
			return bad("neighbours", "%d is outside [1, 64]", m.Neighbours)
		}
		if m.Topology == string(island.TopologyRandom) && (!(m.ReshuffleSeconds >= 1) || math.IsInf(m.ReshuffleSeconds, 0)) {
			return bad("reshuffle_seconds", "%v: the random topology needs a finite interval of at least 1 s", m.ReshuffleSeconds)
		}
	default:
		return bad("topology", "%q: want %q (every node hears every node), %q or %q", m.Topology,
			island.TopologyAll, island.TopologyRing, island.TopologyRandom)
	}
	switch {
	case m.AdmitEvery < 0:
		return bad("admit_every", "%d is negative", m.AdmitEvery)
	case !(m.RemeasureShare >= 0 && m.RemeasureShare < 1):
		return bad("remeasure_share", "%v is outside [0, 1)", m.RemeasureShare)
	case !(m.DiversityShare >= 0 && m.DiversityShare <= 1):
		return bad("diversity_share", "%v is outside [0, 1]", m.DiversityShare)
	}
	return nil
}

// MutateOptions returns the genome mutation settings.
func (e *Experiment) MutateOptions() (dna.MutateOptions, error) {
	o := dna.MutateOptions{Bounds: e.Bounds.dna(), InsertMinChannels: e.InsertMinChannels}
	if len(e.Mutations) > 0 {
		o.Weights = map[dna.Kind]float64{}
		for name, w := range e.Mutations {
			k, err := dna.ParseKind(name)
			if err != nil || k == dna.None {
				return o, fmt.Errorf("experiment: mutations: unknown mutation %q (want one of %s)", name, mutationNames())
			}
			o.Weights[k] = w
		}
	}
	if err := o.Validate(); err != nil {
		return o, fmt.Errorf("experiment: mutations: %s", strings.TrimPrefix(err.Error(), "dna: "))
	}
	return o, nil
}

// DatasetOptions returns how the data set is split.
func (e *Experiment) DatasetOptions() dataset.Options {
	return dataset.Options{ValFraction: e.ValFraction, ValSize: e.ValSize, Seed: e.SplitSeed, TrainImages: e.TrainImages}
}

// Canonical returns the experiment's canonical JSON: fields in a fixed
// order, mutation weights sorted by name, no insignificant whitespace.
func (e *Experiment) Canonical() []byte {
	c := *e
	c.Preset = "" // a label for people, not part of the definition
	if c.Inheritance == train.InheritExact {
		c.Inheritance = "" // the default, as before the option existed
	}
	b, err := json.Marshal(&c)
	if err != nil {
		panic(err) // only plain data: cannot fail
	}
	if c.Migration.legacy() {
		// The immigration settings at their legacy values are left out,
		// as before they existed, so those experiments keep their IDs.
		full, _ := json.Marshal(c.Migration)
		b = bytes.Replace(b, append([]byte(`"migration":`), full...), append([]byte(`"migration":`), c.Migration.legacyJSON()...), 1)
	}
	// encoding/json sorts map keys, so the bytes are canonical.
	return b
}

// ID is the hex SHA-256 of the canonical form, prefixed "exp-" and cut to
// 16 digits for topics and logs; FullID returns all 64.
func (e *Experiment) ID() string { return "exp-" + e.FullID()[:16] }

// FullID is the hex SHA-256 of the canonical form.
func (e *Experiment) FullID() string {
	sum := sha256.Sum256(e.Canonical())
	return hex.EncodeToString(sum[:])
}

// MarshalIndent returns the experiment as indented JSON for the repo.
func (e *Experiment) MarshalIndent() []byte {
	b, _ := json.MarshalIndent(e, "", "  ")
	return append(b, '\n')
}

// mutationNames lists valid mutation names, for messages.
func mutationNames() string {
	var names []string
	for _, k := range dna.Kinds() {
		names = append(names, k.String())
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
