package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/evoswarm/evoswarm/node"
)

// The README's volunteer and lab flows with the default config.json that
// `evoswarm init` writes ("listen": []): the daemon listens on every
// interface, prints each dialable address with its /p2p/ peer ID, `status`
// lists them, and a second node bootstraps from one of them. Every other
// daemon test uses loopback-only repos, so this is the one that runs the
// default listen path.
//
// To keep traffic on this machine the first node's mDNS and NAT traversal
// (port mapping probes the LAN's router) are turned off in its config.json;
// its listen list stays exactly as init wrote it. The second node is a
// loopback repo (`init --loopback`) and bootstraps from the first node's
// 127.0.0.1 address.

func TestDefaultListenVolunteerFlow(t *testing.T) { testDefaultListenFlow(t, false) }

func TestDefaultListenPrivateSwarm(t *testing.T) { testDefaultListenFlow(t, true) }

func testDefaultListenFlow(t *testing.T, private bool) {
	needFashion(t)
	// One thread per daemon: the smoke preset trains while the test runs,
	// and the test needs only the network.
	t.Setenv("GOMAXPROCS", "1")
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first"), filepath.Join(dir, "second")

	// `evoswarm init` with a preset, as the README says (no --loopback).
	if _, errOut, code := run(t, nil, "init", "--repo", first, "--preset", "smoke"); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	cfg := readRawConfig(t, first)
	if l, ok := cfg["listen"]; ok && string(l) != "[]" && string(l) != "null" {
		t.Fatalf("init wrote listen %s; this test is about the default (an empty list)", l)
	}
	cfg["mdns"], cfg["nat"] = json.RawMessage("false"), json.RawMessage("false")
	writeRawConfig(t, first, cfg)

	var key []byte
	if private {
		// The lab flow: evoswarm swarm-key gen > repo/swarm.key.
		out, errOut, code := run(t, nil, "swarm-key", "gen")
		if code != 0 {
			t.Fatalf("swarm-key gen: exit %d: %s", code, errOut)
		}
		key = []byte(out)
		if err := os.WriteFile(filepath.Join(first, node.SwarmKeyFile), key, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	a := startDaemon(t, first)
	defer stopDaemon(t, a)

	// What the daemon printed: every address full and dialable.
	var st node.Status
	if err := a.get(t, "/api/v1/status", &st); err != nil {
		t.Fatal(err)
	}
	if len(a.addrs) == 0 {
		t.Fatal(`the daemon printed no "listening on" address`)
	}
	t.Logf("the daemon printed: %s", strings.Join(a.addrs, " "))
	var tcp, quic int
	var loopTCP string
	for _, s := range a.addrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			t.Fatalf("printed address %q: %v", s, err)
		}
		info, err := peer.AddrInfoFromP2pAddr(m)
		if err != nil || info.ID.String() != st.PeerID || len(info.Addrs) != 1 {
			t.Fatalf("printed address %q is not a dialable address ending in /p2p/%s (%v)", s, st.PeerID, err)
		}
		if port, err := m.ValueForProtocol(ma.P_TCP); err == nil {
			if p, _ := strconv.Atoi(port); p <= 0 {
				t.Errorf("printed TCP address %q has port %q", s, port)
			}
			tcp++
			if ip, err := m.ValueForProtocol(ma.P_IP4); err == nil && ip == "127.0.0.1" {
				loopTCP = s
			}
		}
		if _, err := m.ValueForProtocol(ma.P_QUIC_V1); err == nil {
			if port, _ := m.ValueForProtocol(ma.P_UDP); port == "0" {
				t.Errorf("printed QUIC address %q has port 0", s)
			}
			quic++
		}
	}
	switch {
	case tcp == 0:
		t.Errorf("no TCP address among %v", a.addrs)
	case private && quic > 0:
		t.Errorf("a private swarm printed %d QUIC addresses: TCP only", quic)
	case !private && quic == 0:
		t.Errorf("no QUIC address among %v: the default is TCP and QUIC", a.addrs)
	}
	if loopTCP == "" {
		t.Fatalf("no /ip4/127.0.0.1/tcp address among %v", a.addrs)
	}

	// `evoswarm status` lists the addresses, from the API and as text.
	for _, s := range a.addrs {
		if !slices.Contains(st.Addrs, s) {
			t.Errorf("the status API's addrs %v lack the printed %s", st.Addrs, s)
		}
	}
	out, errOut, code := run(t, nil, "status", "--repo", first)
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, errOut)
	}
	for _, s := range a.addrs {
		if !strings.Contains(out, "address      "+s+"\n") {
			t.Errorf("evoswarm status does not list %s:\n%s", s, out)
		}
	}

	// A volunteer (here kept on loopback) joins with the swarm's experiment
	// file and one of the printed addresses.
	exp := filepath.Join(first, node.ExperimentFile)
	if _, errOut, code := run(t, nil, "init", "--repo", second, "--experiment", exp, "--loopback"); code != 0 {
		t.Fatalf("init the second node: exit %d: %s", code, errOut)
	}
	if private {
		if err := os.WriteFile(filepath.Join(second, node.SwarmKeyFile), key, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, errOut, code := run(t, nil, "bootstrap", "add", "--repo", second, loopTCP); code != 0 {
		t.Fatalf("bootstrap add %s: exit %d: %s", loopTCP, code, errOut)
	}
	b := startDaemon(t, second)
	defer stopDaemon(t, b)
	var sa, sb node.Status
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := a.get(t, "/api/v1/status", &sa); err != nil {
			t.Fatal(err)
		}
		if err := b.get(t, "/api/v1/status", &sb); err != nil {
			t.Fatal(err)
		}
		if sa.Peers >= 1 && sb.Peers >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second node did not connect through %s: peers %d and %d after 30 s", loopTCP, sa.Peers, sb.Peers)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if sb.ExperimentID != sa.ExperimentID {
		t.Errorf("experiments differ: %s and %s", sa.ExperimentID, sb.ExperimentID)
	}
	t.Logf("the second node connected through %s", loopTCP)
}

// stopDaemon stops d gracefully, or kills it after 20 s.
func stopDaemon(t *testing.T, d *daemon) {
	t.Helper()
	d.cmd.Process.Signal(os.Interrupt)
	kill := time.AfterFunc(20*time.Second, func() { d.cmd.Process.Kill() })
	defer kill.Stop()
	if err := d.cmd.Wait(); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
}

func readRawConfig(t *testing.T, repo string) map[string]json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, node.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func writeRawConfig(t *testing.T, repo string, m map[string]json.RawMessage) {
	t.Helper()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, node.ConfigFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
}
