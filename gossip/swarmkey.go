package gossip

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/libp2p/go-libp2p/core/pnet"
)

const swarmKeyHeader = "/key/swarm/psk/1.0.0/\n/base16/\n"

// GenerateSwarmKey returns a new random swarm key in the file format that
// kubo and go-libp2p read:
//
//	/key/swarm/psk/1.0.0/
//	/base16/
//	<64 hex digits>
//
// Give the same file to every node of a private swarm.
func GenerateSwarmKey() []byte {
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		panic(fmt.Sprintf("gossip: reading random bytes: %v", err)) // crypto/rand does not fail
	}
	return fmt.Appendf(nil, "%s%s\n", swarmKeyHeader, hex.EncodeToString(k[:]))
}

// ParseSwarmKey reads a swarm key file (see GenerateSwarmKey; the /base64/
// and /bin/ encodings are accepted too). Besides what pnet.DecodeV1PSK
// checks, it refuses anything after the key but white space.
func ParseSwarmKey(data []byte) (pnet.PSK, error) {
	psk, err := pnet.DecodeV1PSK(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("gossip: swarm key: %w (want %q followed by 64 hex digits)", err, swarmKeyHeader)
	}
	if bytes.HasPrefix(data, []byte(swarmKeyHeader)) {
		rest := bytes.TrimSpace(data[len(swarmKeyHeader):])
		if len(rest) != 64 {
			return nil, fmt.Errorf("gossip: swarm key: %d characters after the header, want 64 hex digits", len(rest))
		}
	}
	return psk, nil
}
