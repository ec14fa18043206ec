package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/evoswarm/evoswarm/internal/atomicfile"
	"github.com/multiformats/go-multiaddr"
)

// ConfigFile holds a node's own settings (not the experiment's): where it
// listens and whom it knows.
const ConfigFile = "config.json"

// SwarmKeyFile, when present in the repo, makes the node join a private
// swarm: only peers with the same key can connect, over TCP only.
const SwarmKeyFile = "swarm.key"

// Config is a node's network configuration, kept in config.json.
type Config struct {
	// Listen holds the multiaddrs to listen on. Empty or missing (init
	// writes "listen": []) means the default: TCP and QUIC on all IPv4 and
	// IPv6 interfaces at random ports, TCP only with a swarm key
	// (gossip.DefaultListenAddrs). It never means "listen nowhere".
	Listen []string `json:"listen"`
	// Bootstrap holds peers to connect to at start, as full multiaddrs
	// ending in /p2p/<peer-id>.
	Bootstrap []string `json:"bootstrap"`
	// MDNS finds peers on the local network. Default true.
	MDNS bool `json:"mdns"`
	// DHT advertises and finds peers of the same experiment on the kad-dht.
	// Default true.
	DHT bool `json:"dht"`
	// NAT turns on NAT traversal for nodes behind a home router: AutoNAT,
	// port mapping (UPnP/NAT-PMP on the LAN), relays and hole punching.
	// Default true; off for loopback swarms.
	NAT bool `json:"nat"`
	// ForcePrivate tells the node it is behind NAT without waiting for
	// AutoNAT, so it reserves a relay slot at once; for labs and campuses
	// where every address is private. Default false.
	ForcePrivate bool `json:"force_private"`
	// RelayService lets this node relay for peers behind NAT; for
	// bootstrap nodes with a public address. Default false.
	RelayService bool `json:"relay_service"`
	// API is the local API's address (loopback only). Default 127.0.0.1:0.
	API string `json:"api"`
}

// DefaultConfig returns a node's defaults.
func DefaultConfig() *Config {
	return &Config{Listen: []string{}, Bootstrap: []string{}, MDNS: true, DHT: true, NAT: true, API: "127.0.0.1:0"}
}

// LoopbackConfig returns the settings of a node that talks to 127.0.0.1
// only: TCP on 127.0.0.1, no mDNS, no NAT traversal. The DHT stays on: it
// talks only to peers the node already knows (its bootstrap peers, here on
// 127.0.0.1), and through it the nodes of a local swarm find each other
// rather than all hanging off the first. evoswarm local and the tests use
// it; nothing leaves the loopback interface.
func LoopbackConfig() *Config {
	c := DefaultConfig()
	c.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	c.MDNS, c.NAT = false, false
	return c
}

// Validate checks every address; the error names it.
func (c *Config) Validate() error {
	for _, a := range c.Listen {
		if _, err := multiaddr.NewMultiaddr(a); err != nil {
			return fmt.Errorf("config: listen address %q: %w", a, err)
		}
	}
	for _, a := range c.Bootstrap {
		if err := checkBootstrap(a); err != nil {
			return err
		}
	}
	if c.API != "" {
		if err := checkLoopback(c.API); err != nil {
			return fmt.Errorf("config: api: %w", err)
		}
	}
	return nil
}

func checkBootstrap(a string) error {
	ma, err := multiaddr.NewMultiaddr(a)
	if err != nil {
		return fmt.Errorf("config: bootstrap address %q: %w", a, err)
	}
	if _, err := ma.ValueForProtocol(multiaddr.P_P2P); err != nil {
		return fmt.Errorf("config: bootstrap address %q does not end in /p2p/<peer-id>", a)
	}
	return nil
}

// LoadConfig reads the repo's config.json, or the defaults if there is none.
func LoadConfig(dir string) (*Config, error) {
	c := DefaultConfig()
	b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	if c, err = ParseConfig(b); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ConfigFile), err)
	}
	return c, nil
}

// ParseConfig decodes a config.json over the defaults (a field left out
// keeps its default) and validates it.
func ParseConfig(b []byte) (*Config, error) {
	c := DefaultConfig()
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// SaveConfig writes the repo's config.json atomically.
func SaveConfig(dir string, c *Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, ConfigFile), append(b, '\n'), 0o644)
}

// AddBootstrap adds addrs to the repo's bootstrap list, skipping duplicates.
func AddBootstrap(dir string, addrs ...string) error {
	c, err := LoadConfig(dir)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if err := checkBootstrap(a); err != nil {
			return err
		}
		if !slices.Contains(c.Bootstrap, a) {
			c.Bootstrap = append(c.Bootstrap, a)
		}
	}
	return SaveConfig(dir, c)
}

// RemoveBootstrap removes addrs (or everything, with all) from the list.
func RemoveBootstrap(dir string, all bool, addrs ...string) error {
	c, err := LoadConfig(dir)
	if err != nil {
		return err
	}
	if all {
		c.Bootstrap = []string{}
	} else {
		c.Bootstrap = slices.DeleteFunc(c.Bootstrap, func(a string) bool { return slices.Contains(addrs, a) })
	}
	return SaveConfig(dir, c)
}
