package gossip

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/evoswarm/evoswarm/island/dna"
)

func TestSwarmKeyFormat(t *testing.T) {
	k := GenerateSwarmKey()
	lines := strings.Split(string(k), "\n")
	if len(lines) != 4 || lines[0] != "/key/swarm/psk/1.0.0/" || lines[1] != "/base16/" || len(lines[2]) != 64 || lines[3] != "" {
		t.Fatalf("GenerateSwarmKey = %q, want the header, /base16/ and 64 hex digits", k)
	}
	psk, err := ParseSwarmKey(k)
	if err != nil || len(psk) != 32 {
		t.Fatalf("ParseSwarmKey(generated) = %x, %v", psk, err)
	}
	if bytes.Equal(GenerateSwarmKey(), k) {
		t.Error("two generated keys are equal")
	}
	for _, bad := range []string{
		"",
		"/key/swarm/psk/1.0.0/\n/base16/\n1234\n",
		"/key/swarm/psk/1.0.0/\n/base16/\n" + strings.Repeat("zz", 32) + "\n",
		"/key/swarm/psk/1.0.0/\n/base16/\n" + strings.Repeat("ab", 33) + "\n",
		"/key/swarm/psk/2.0.0/\n/base16/\n" + strings.Repeat("ab", 32) + "\n",
	} {
		if _, err := ParseSwarmKey([]byte(bad)); err == nil {
			t.Errorf("ParseSwarmKey(%q) succeeded", bad)
		}
	}
}

// Two nodes with the swarm key connect and exchange migrants; a node
// without it, or with another key, cannot connect.
func TestPrivateSwarm(t *testing.T) {
	key, err := ParseSwarmKey(GenerateSwarmKey())
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ParseSwarmKey(GenerateSwarmKey())
	withKey := func(c *Config) { c.SwarmKey = key }
	a := newSwarm(t, withKey)
	b := newSwarm(t, withKey, func(c *Config) { c.Bootstrap = a.Addrs() })
	waitTopicPeers(t, a, 1)
	waitTopicPeers(t, b, 1)

	ann := testAnnouncement(t)
	if err := b.Publish(context.Background(), ann); err != nil {
		t.Fatal(err)
	}
	recvFrom(t, a, map[peer.ID]dna.ID{b.ID(): ann.Genome.ID()}, 10*time.Second)

	for name, edit := range map[string]func(*Config){
		"no key":    func(*Config) {},
		"other key": func(c *Config) { c.SwarmKey = other },
	} {
		outsider := newSwarm(t, edit)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err := outsider.Connect(ctx, addrInfo(t, a))
		cancel()
		if err == nil {
			t.Errorf("%s: connected to a private swarm", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
		for _, p := range a.Peers() {
			if p == outsider.ID() {
				t.Errorf("%s: the private node lists the outsider as a peer", name)
			}
		}
	}
}
