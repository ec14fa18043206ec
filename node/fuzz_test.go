package node

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/store"
)

// FuzzReadExperiment fuzzes experiment files (what `init --experiment`
// and a repo's experiment.json are read with). An error is one line that
// starts "experiment:"; an accepted experiment is valid, and its indented
// form (what init writes) reads back to the same experiment: same ID, same
// canonical bytes.
func FuzzReadExperiment(f *testing.F) {
	for _, name := range Presets() {
		e, err := Preset(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(e.MarshalIndent())
	}
	for _, s := range []string{
		`{}`, `{"preset":"smoke","population":7,"train":{"steps":9}}`, `{"preset":"nope"}`,
		`{"population":"many"}`, `{"mutations":{"identity":1,"add-skip":2}}`, `{"mutations":{"bogus":1}}`,
		`{"inheritance":"partial"}`, `{"val_fraction":1e400}`, `{"bounds":{"max_filter":4}}`, `[]`, `null`, `{"seed":-1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ReadExperiment(bytes.NewReader(b))
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "experiment: ") || strings.Contains(msg, "\n") {
				t.Fatalf("error %q is not one line starting \"experiment: \"", msg)
			}
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("accepted an experiment that does not validate: %v", err)
		}
		again, err := ReadExperiment(bytes.NewReader(e.MarshalIndent()))
		if err != nil {
			t.Fatalf("the written form of an accepted experiment is refused: %v\n%s", err, e.MarshalIndent())
		}
		if !bytes.Equal(again.Canonical(), e.Canonical()) || again.ID() != e.ID() {
			t.Fatalf("round trip changed the experiment:\n%s\n%s", e.Canonical(), again.Canonical())
		}
	})
}

// FuzzParseConfig fuzzes config.json. An error is one line; an accepted
// config validates and survives a round trip through JSON unchanged.
func FuzzParseConfig(f *testing.F) {
	for _, c := range []*Config{DefaultConfig(), LoopbackConfig()} {
		b, _ := json.Marshal(c)
		f.Add(b)
	}
	for _, s := range []string{
		`{}`, `{"listen":[]}`, `{"listen":null}`, `{"listen":["/ip4/0.0.0.0/tcp/4001","/ip4/0.0.0.0/udp/4001/quic-v1"]}`,
		`{"listen":["/ip4/1.2.3.4/tcp/99999"]}`, `{"bootstrap":["/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8"]}`,
		`{"bootstrap":["/ip4/127.0.0.1/tcp/4001"]}`, `{"api":"0.0.0.0:80"}`, `{"api":"[::1]:0"}`, `{"mdns":"yes"}`, `[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q is not one line", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted a config that does not validate: %v", err)
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseConfig(out)
		if err != nil {
			t.Fatalf("the encoding of an accepted config is refused: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(c, again) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", c, again)
		}
	})
}

// apiNode is a Node with what the API handler reads, over a real store on
// disk: an initial individual, a child of it (alive) and a dead one. It
// returns the alive child's ID.
func apiNode(tb testing.TB) (*Node, dna.ID) {
	tb.Helper()
	s, err := store.Open(tb.TempDir(), store.Options{MinFreeBytes: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	exp, err := Preset("smoke")
	if err != nil {
		tb.Fatal(err)
	}
	parent := dna.Initial(dna.Shape{H: 28, W: 28, C: 1}, 10, 0.1)
	child, _, err := dna.MutateWith(parent, dna.InsertConvolution, rand.New(rand.NewPCG(1, 2)), dna.DefaultMutateOptions())
	if err != nil {
		tb.Fatal(err)
	}
	dead := dna.Initial(dna.Shape{H: 28, W: 28, C: 1}, 10, 0.1)
	dead.Nonce = 9
	now := time.Now()
	err = s.Update(func(tx *store.Tx) error {
		for i, g := range []*dna.Genome{parent, child, dead} {
			b, err := g.MarshalBinary()
			if err != nil {
				return err
			}
			ind := &store.Individual{ID: g.ID(), Genome: b, Fitness: 0.3 + 0.1*float64(i), Born: now.Add(time.Duration(i) * time.Second),
				Parent: g.Parent, Origin: "local-peer", Params: g.Params()}
			if err := tx.Insert(ind, store.Seal([]byte{byte(i)})); err != nil {
				return err
			}
		}
		return tx.Kill(dead.ID(), "lost a tournament", now.Add(time.Minute))
	})
	if err != nil {
		tb.Fatal(err)
	}
	return &Node{store: s, exp: exp, peer: "local-peer", started: now}, child.ID()
}

// apiPaths are the API's endpoints that read query parameters, or may.
var apiPaths = []string{"/api/v1/status", "/api/v1/individuals", "/api/v1/lineage", "/api/v1/genome", "/api/v1/events"}

// FuzzAPIQuery fuzzes the query strings of the node's /api/v1/* endpoints
// against the node's own handler over a real store. Every answer is 2xx or
// 4xx (a bad or unknown ID is the client's error, never the server's), a
// 200 carries JSON, and an ID of an individual in the store is answered
// with that individual.
func FuzzAPIQuery(f *testing.F) {
	n, alive := apiNode(f)
	h := n.handler()
	for i := range apiPaths {
		f.Add(uint8(i), "")
		f.Add(uint8(i), "id="+alive.String())
	}
	for _, q := range []string{"id=", "id=zz", "id=" + strings.Repeat("a", 64), "id=" + strings.Repeat("A", 64), "id=%zz",
		"id=" + alive.String() + "&id=x", "x=1;y=2", "id=" + alive.String()[:63], "id=" + alive.String() + "0", "%", "id=%00"} {
		f.Add(uint8(2), q)
		f.Add(uint8(3), q)
	}
	for _, q := range []string{"type=error,birth", "type=births", "type=", "type=,", "after=18446744073709551615", "after=18446744073709551616",
		"last=-1", "last=9223372036854775807", "last=0&after=0", "type=death&last=1"} {
		f.Add(uint8(4), q)
	}
	f.Fuzz(func(t *testing.T, which uint8, query string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Host = "127.0.0.1:8080"
		req.URL.Path = apiPaths[int(which)%len(apiPaths)]
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		code, body := rec.Code, rec.Body.Bytes()
		if code >= 500 || code < 200 || (code >= 300 && code < 400) {
			t.Fatalf("GET %s?%s: %d %s", req.URL.Path, query, code, body)
		}
		if code == 200 && !json.Valid(body) {
			t.Fatalf("GET %s?%s: 200 with a body that is not JSON: %.200s", req.URL.Path, query, body)
		}
		if id := req.URL.Query().Get("id"); id == alive.String() && code != 200 {
			t.Fatalf("GET %s?%s: %d for an individual in the store", req.URL.Path, query, code)
		}
	})
}
