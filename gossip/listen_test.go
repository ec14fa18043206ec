package gossip

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// The default listen addresses: a configuration that names none (nil, or
// the empty list that `evoswarm init` writes to config.json) listens on
// every interface at random ports, and others can dial it. The swarms here
// keep DHT, mDNS and NAT traversal off and are dialed on 127.0.0.1 only, so
// no traffic leaves the machine.

// listenKinds sorts a swarm's advertised addresses by family and transport
// and checks that every one is dialable: a full multiaddr ending in the
// swarm's /p2p/<peer ID>, with a non-zero port and no unspecified IP. It
// returns the 127.0.0.1 address of each transport ("tcp", "quic-v1").
func listenKinds(t *testing.T, s *Swarm) (kinds map[string]int, loopback map[string]peer.AddrInfo) {
	t.Helper()
	kinds, loopback = map[string]int{}, map[string]peer.AddrInfo{}
	addrs := s.Addrs()
	if len(addrs) == 0 {
		t.Fatalf("Addrs() is empty: the swarm listens nowhere")
	}
	for _, a := range addrs {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			t.Fatalf("address %q: %v", a, err)
		}
		info, err := peer.AddrInfoFromP2pAddr(m)
		if err != nil || info.ID != s.ID() || len(info.Addrs) != 1 {
			t.Fatalf("address %q does not end in /p2p/%s: %v", a, s.ID(), err)
		}
		tr := "tcp"
		port, err := m.ValueForProtocol(ma.P_TCP)
		if err != nil {
			if _, qerr := m.ValueForProtocol(ma.P_QUIC_V1); qerr != nil {
				continue // another transport (a relay circuit): not ours to check
			}
			tr = "quic-v1"
			if port, err = m.ValueForProtocol(ma.P_UDP); err != nil {
				t.Fatalf("QUIC address %q has no UDP port", a)
			}
		}
		if p, _ := strconv.Atoi(port); p <= 0 {
			t.Errorf("address %q has port %q: not dialable", a, port)
		}
		fam, ip := "ip4", ""
		if ip, err = m.ValueForProtocol(ma.P_IP4); err != nil {
			fam = "ip6"
			if ip, err = m.ValueForProtocol(ma.P_IP6); err != nil {
				continue // a DNS address: none here, but not wrong
			}
		}
		if net.ParseIP(ip).IsUnspecified() {
			t.Errorf("address %q is unspecified (0.0.0.0 or ::): not dialable", a)
		}
		kinds[fam+"/"+tr]++
		if ip == "127.0.0.1" {
			loopback[tr] = *info
		}
	}
	t.Logf("%s listens on %s", s.ID(), strings.Join(addrs, " "))
	return kinds, loopback
}

// hasIPv6Loopback reports whether this machine can listen on [::1]; the
// IPv6 defaults are checked only where it can.
func hasIPv6Loopback() bool {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// dialOnly connects from a loopback swarm (with edits) to target over the
// one address given, and checks the connection uses it.
func dialOnly(t *testing.T, target *Swarm, info peer.AddrInfo, edits ...func(*Config)) {
	t.Helper()
	dialer := newSwarm(t, edits...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := dialer.Connect(ctx, info); err != nil {
		t.Fatalf("dialing %v: %v", info, err)
	}
	conns := dialer.Host().Network().ConnsToPeer(target.ID())
	if len(conns) == 0 {
		t.Fatalf("no connection to %s after dialing %v", target.ID(), info)
	}
	if got := conns[0].RemoteMultiaddr(); !got.Equal(info.Addrs[0]) {
		t.Errorf("connected over %s, want %s", got, info.Addrs[0])
	}
	waitFor(t, 10*time.Second, "the target to see the dialer", func() bool {
		return len(target.Host().Network().ConnsToPeer(dialer.ID())) > 0
	})
}

func TestDefaultListen(t *testing.T) {
	for name, listen := range map[string][]string{"empty": {}, "nil": nil} {
		t.Run(name, func(t *testing.T) {
			s := newSwarm(t, func(c *Config) { c.ListenAddrs = listen })
			kinds, lo := listenKinds(t, s)
			for _, k := range []string{"ip4/tcp", "ip4/quic-v1"} {
				if kinds[k] == 0 {
					t.Errorf("no %s address: the default is TCP and QUIC on every interface (got %v)", k, kinds)
				}
			}
			if hasIPv6Loopback() {
				for _, k := range []string{"ip6/tcp", "ip6/quic-v1"} {
					if kinds[k] == 0 {
						t.Errorf("no %s address though this machine has IPv6: the default covers IPv6 too (got %v)", k, kinds)
					}
				}
			}
			for _, tr := range []string{"tcp", "quic-v1"} {
				info, ok := lo[tr]
				if !ok {
					t.Fatalf("no 127.0.0.1 %s address among %v", tr, s.Addrs())
				}
				t.Run("dial "+tr, func(t *testing.T) { dialOnly(t, s, info) })
			}
		})
	}
}

func TestDefaultListenPrivate(t *testing.T) {
	key, err := ParseSwarmKey(GenerateSwarmKey())
	if err != nil {
		t.Fatal(err)
	}
	withKey := func(c *Config) { c.SwarmKey = key }
	s := newSwarm(t, withKey, func(c *Config) { c.ListenAddrs = []string{} })
	kinds, lo := listenKinds(t, s)
	if kinds["ip4/tcp"] == 0 {
		t.Errorf("no IPv4 TCP address (got %v)", kinds)
	}
	if hasIPv6Loopback() && kinds["ip6/tcp"] == 0 {
		t.Errorf("no IPv6 TCP address though this machine has IPv6 (got %v)", kinds)
	}
	if n := kinds["ip4/quic-v1"] + kinds["ip6/quic-v1"]; n != 0 {
		t.Errorf("%d QUIC addresses: a private swarm listens on TCP only", n)
	}
	for _, a := range s.Addrs() {
		if strings.Contains(a, "/udp/") {
			t.Errorf("private swarm advertises %s: TCP only", a)
		}
	}
	info, ok := lo["tcp"]
	if !ok {
		t.Fatalf("no 127.0.0.1 TCP address among %v", s.Addrs())
	}
	dialOnly(t, s, info, withKey)
}

func TestDefaultListenAddrs(t *testing.T) {
	for _, private := range []bool{false, true} {
		c := LoopbackConfig()
		c.ListenAddrs = []string{}
		if private {
			c.SwarmKey = make([]byte, 32)
		}
		got := c.listenAddrs()
		if len(got) == 0 {
			t.Fatalf("private=%v: an empty ListenAddrs listens nowhere", private)
		}
		for _, a := range got {
			if private && !isTCP(ma.StringCast(a)) {
				t.Errorf("private=%v: default %s is not TCP", private, a)
			}
		}
		c.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
		if got := c.listenAddrs(); len(got) != 1 || got[0] != "/ip4/127.0.0.1/tcp/0" {
			t.Errorf("private=%v: explicit addresses replaced by %v", private, got)
		}
	}
}
