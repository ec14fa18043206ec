package experiment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/evoswarm/evoswarm/node"
)

// Topologies of a configuration's nodes.
const (
	// Isolated nodes do not swarm: each has the loopback config, no
	// bootstrap peer and no DHT, so it never meets another node.
	Isolated = "isolated"
	// Connected nodes form a local swarm over 127.0.0.1 as `evoswarm
	// local` does: every node after the first bootstraps to the first.
	Connected = "connected"
)

// Plan is K seeds times several configurations, run at equal compute.
// It is read from JSON; see docs/experiments.md ("Running an experiment").
type Plan struct {
	// Name labels the plan's figure and summary.
	Name string `json:"name"`
	// Seeds are the experiment's root seeds: every configuration runs once
	// with each.
	Seeds []uint64 `json:"seeds"`
	// Duration is every run's wall time ("20m"), counted from the moment
	// all of a run's nodes are ready.
	Duration Duration `json:"duration"`
	// Sample is how often the running nodes are asked for their status
	// (default: Duration/40, between 1 s and 15 s).
	Sample Duration `json:"sample,omitempty"`
	// AllowUnequal lets configurations differ in wall time or total cores
	// (refused otherwise: the comparison would not be at equal compute).
	AllowUnequal bool `json:"allow_unequal,omitempty"`
	// Configurations are what is compared.
	Configurations []*Config `json:"configurations"`
}

// Config is one configuration of a plan.
type Config struct {
	// Name names the configuration in files, tables and the figure
	// (letters, digits, '.', '_', '-').
	Name string `json:"name"`
	// Experiment is the partial experiment that `evoswarm init
	// --experiment FILE` reads, e.g. {"preset":"cpu-small","population":40}.
	// It may not set "seed": the plan's seeds do.
	Experiment json.RawMessage `json:"experiment"`
	// Nodes is the number of nodes (islands) of a run; default 1.
	Nodes int `json:"nodes,omitempty"`
	// Topology is "isolated" (the default) or "connected".
	Topology string `json:"topology,omitempty"`
	// CoresPerNode is each node's GOMAXPROCS (its training threads);
	// default 1.
	CoresPerNode int `json:"cores_per_node,omitempty"`
	// Duration overrides the plan's wall time (only with allow_unequal).
	Duration Duration `json:"duration,omitempty"`
}

// Duration is a time.Duration written as a Go duration string in JSON.
type Duration time.Duration

// UnmarshalJSON reads "20m", "90s", "1h30m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"20m\" or \"90s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: want a string such as \"20m\" or \"90s\"", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Cores is the total cores a run of c takes.
func (c *Config) Cores() int { return c.Nodes * c.CoresPerNode }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ReadPlan decodes and checks a plan. Unknown fields are refused; each
// configuration's experiment is read as `evoswarm init --experiment`
// would, so a bad field is reported before anything runs.
func ReadPlan(r io.Reader) (*Plan, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	p := &Plan{}
	if err := dec.Decode(p); err != nil {
		return nil, fmt.Errorf("plan: %s", strings.ReplaceAll(err.Error(), "json: ", ""))
	}
	return p, p.Validate()
}

// LoadPlan reads a plan file.
func LoadPlan(path string) (*Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := ReadPlan(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Validate fills in defaults and checks the plan; the error names the
// first bad field. Configurations must have the same wall time and total
// cores unless AllowUnequal is set.
func (p *Plan) Validate() error {
	if p.Name == "" {
		p.Name = "experiment"
	}
	if len(p.Seeds) == 0 {
		return errors.New("plan: seeds: name at least one seed")
	}
	seen := map[uint64]bool{}
	for _, s := range p.Seeds {
		if seen[s] {
			return fmt.Errorf("plan: seeds: %d appears twice", s)
		}
		seen[s] = true
	}
	if p.Duration < Duration(time.Second) {
		return fmt.Errorf("plan: duration: %v; want at least 1s", time.Duration(p.Duration))
	}
	if p.Sample == 0 {
		p.Sample = Duration(min(max(time.Duration(p.Duration)/40, time.Second), 15*time.Second).Round(time.Second))
	}
	if p.Sample < Duration(100*time.Millisecond) || p.Sample > p.Duration {
		return fmt.Errorf("plan: sample: %v; want between 100ms and the duration", time.Duration(p.Sample))
	}
	if len(p.Configurations) == 0 {
		return errors.New("plan: configurations: name at least one")
	}
	names := map[string]bool{}
	for i, c := range p.Configurations {
		if c == nil {
			return fmt.Errorf("plan: configurations[%d]: null", i)
		}
		where := fmt.Sprintf("plan: configuration %q", c.Name)
		if !nameRE.MatchString(c.Name) {
			return fmt.Errorf("plan: configurations[%d]: name %q: want 1-64 letters, digits, '.', '_' or '-'", i, c.Name)
		}
		if names[c.Name] {
			return fmt.Errorf("%s: the name appears twice", where)
		}
		names[c.Name] = true
		if c.Nodes == 0 {
			c.Nodes = 1
		}
		if c.CoresPerNode == 0 {
			c.CoresPerNode = 1
		}
		if c.Topology == "" {
			c.Topology = Isolated
		}
		if c.Duration == 0 {
			c.Duration = p.Duration
		}
		switch {
		case c.Nodes < 1 || c.Nodes > 64:
			return fmt.Errorf("%s: nodes: %d; want 1 to 64", where, c.Nodes)
		case c.CoresPerNode < 1 || c.CoresPerNode > 1024:
			return fmt.Errorf("%s: cores_per_node: %d; want 1 to 1024", where, c.CoresPerNode)
		case c.Topology != Isolated && c.Topology != Connected:
			return fmt.Errorf("%s: topology: %q; want %q or %q", where, c.Topology, Isolated, Connected)
		case c.Duration < Duration(time.Second):
			return fmt.Errorf("%s: duration: %v; want at least 1s", where, time.Duration(c.Duration))
		}
		if _, err := c.experiment(1); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	if p.AllowUnequal {
		return nil
	}
	first := p.Configurations[0]
	for _, c := range p.Configurations[1:] {
		if c.Duration != first.Duration {
			return fmt.Errorf("plan: configuration %q runs %v and %q %v: runs must have equal wall time (set allow_unequal to compare anyway)",
				first.Name, time.Duration(first.Duration), c.Name, time.Duration(c.Duration))
		}
		if c.Cores() != first.Cores() {
			return fmt.Errorf("plan: configuration %q takes %d cores (%d nodes x %d) and %q %d (%d x %d): runs must have equal total cores (set allow_unequal to compare anyway)",
				first.Name, first.Cores(), first.Nodes, first.CoresPerNode, c.Name, c.Cores(), c.Nodes, c.CoresPerNode)
		}
	}
	return nil
}

// experiment returns the configuration's experiment with the root seed.
func (c *Config) experiment(seed uint64) (*node.Experiment, error) {
	raw := bytes.TrimSpace(c.Experiment)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, errors.New(`experiment: missing; give a partial experiment such as {"preset":"cpu-small"}`)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, errors.New("experiment: want a JSON object, the partial experiment `evoswarm init --experiment` reads")
	}
	if _, ok := fields["seed"]; ok {
		return nil, errors.New(`experiment: "seed" is set by the plan's seeds; remove it`)
	}
	e, err := node.ReadExperiment(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	e.Seed = seed
	return e, nil
}

// Run is one configuration with one seed.
type Run struct {
	Config *Config
	Seed   uint64
}

// Dir is the run's directory relative to the output directory.
func (r Run) Dir() string { return fmt.Sprintf("runs/%s/seed-%d", r.Config.Name, r.Seed) }

func (r Run) String() string { return fmt.Sprintf("%s seed %d", r.Config.Name, r.Seed) }

// Runs lists the runs in the order they start: seed by seed, every
// configuration for a seed before the next seed, so that a machine whose
// load drifts over the hours affects every configuration alike.
func (p *Plan) Runs() []Run {
	var out []Run
	for _, s := range p.Seeds {
		for _, c := range p.Configurations {
			out = append(out, Run{Config: c, Seed: s})
		}
	}
	return out
}

// MaxCores is the most cores one run of the plan takes.
func (p *Plan) MaxCores() int {
	n := 0
	for _, c := range p.Configurations {
		n = max(n, c.Cores())
	}
	return n
}

// Canonical is the plan as indented JSON with defaults filled in, as
// written to the output directory.
func (p *Plan) Canonical() []byte {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		panic(err) // plain data
	}
	return append(b, '\n')
}

// ConfigNames lists the configurations' names in plan order.
func (p *Plan) ConfigNames() []string {
	var out []string
	for _, c := range p.Configurations {
		out = append(out, c.Name)
	}
	return out
}
