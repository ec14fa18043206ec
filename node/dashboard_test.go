package node

import (
	"encoding/json"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/store"
)

// dashboardNode is a Node with only what the API handler reads: an
// in-memory store holding an initial individual and a child of it with an
// inserted convolution and a skip connection.
func dashboardNode(t *testing.T) (n *Node, parent, child *dna.Genome) {
	t.Helper()
	s, err := store.Open("mem", store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	exp, err := Preset("smoke")
	if err != nil {
		t.Fatal(err)
	}
	parent = dna.Initial(dna.Shape{H: 28, W: 28, C: 1}, 10, 0.1)
	rng := rand.New(rand.NewPCG(1, 2))
	mid, _, err := dna.MutateWith(parent, dna.InsertConvolution, rng, dna.DefaultMutateOptions())
	if err != nil {
		t.Fatal(err)
	}
	mid, _, err = dna.MutateWith(mid, dna.InsertConvolution, rng, dna.DefaultMutateOptions())
	if err != nil {
		t.Fatal(err)
	}
	child, _, err = dna.MutateWith(mid, dna.AddSkip, rng, dna.DefaultMutateOptions())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	err = s.Update(func(tx *store.Tx) error {
		for i, g := range []*dna.Genome{parent, child} {
			b, err := g.MarshalBinary()
			if err != nil {
				return err
			}
			ind := &store.Individual{ID: g.ID(), Genome: b, Fitness: 0.5 + 0.1*float64(i), Born: now.Add(time.Duration(i) * time.Minute),
				Parent: g.Parent, Origin: "local-peer", Params: g.Params()}
			if i > 0 {
				ind.Mutation = "add-skip"
			}
			if err := tx.Insert(ind, store.Seal([]byte{1})); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return &Node{store: s, exp: exp, peer: "local-peer", started: now}, parent, child
}

func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", path, nil)
	req.Host = "127.0.0.1:8080" // as the daemon is asked (guardLocal)
	h.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestDashboardServed(t *testing.T) {
	n, _, _ := dashboardNode(t)
	h := n.handler()
	res, body := get(t, h, "/")
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	for _, want := range []string{`<svg id="scatter"`, `<table id="population"`, `src="app.js"`, `href="style.css"`} {
		if !strings.Contains(body, want) {
			t.Errorf("GET / lacks %s", want)
		}
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("CSP %q does not keep the page to its origin", csp)
	}
	for _, p := range []string{"/app.js", "/style.css"} {
		if res, body := get(t, h, p); res.StatusCode != 200 || len(body) < 100 {
			t.Errorf("GET %s: %d, %d bytes", p, res.StatusCode, len(body))
		}
	}
	if res, _ := get(t, h, "/no-such-asset"); res.StatusCode != 404 {
		t.Errorf("GET /no-such-asset: %d, want 404", res.StatusCode)
	}
	// The API's own routes still win over the dashboard's catch-all.
	if res, body := get(t, h, "/api/v1/status"); res.StatusCode != 200 || !strings.Contains(body, `"peer_id":"local-peer"`) {
		t.Errorf("GET /api/v1/status: %d %s", res.StatusCode, body)
	}
}

// TestDashboardAssetsSelfContained checks that nothing in the embedded
// page refers to another host: no URL with a scheme, no protocol-relative
// URL, no CSS import. The SVG namespace name, which createElementNS needs
// and no browser fetches, is the one allowed string.
func TestDashboardAssetsSelfContained(t *testing.T) {
	url := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|[a-z][a-z0-9+.-]*://|@import|url\(\s*['"]?[a-z]+:`)
	n := 0
	err := fs.WalkDir(webFS, "web", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, err := webFS.ReadFile(path)
		if err != nil {
			return err
		}
		text := strings.ReplaceAll(string(b), `"http://www.w3.org/2000/svg"`, `""`)
		for _, m := range url.FindAllString(text, -1) {
			t.Errorf("%s refers to another host or scheme: %q", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 3 {
		t.Errorf("%d embedded assets; want index.html, app.js and style.css", n)
	}
}

func TestGenomeEndpoint(t *testing.T) {
	n, parent, child := dashboardNode(t)
	h := n.handler()
	// With no id: the best, here the child.
	for _, path := range []string{"/api/v1/genome", "/api/v1/genome?id=" + child.ID().String()} {
		res, body := get(t, h, path)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
		}
		var gv struct {
			ID       string          `json:"id"`
			Params   int64           `json:"params"`
			Genome   json.RawMessage `json:"genome"`
			Vertices []struct {
				ID       uint32    `json:"id"`
				Type     string    `json:"type"`
				Shape    ShapeView `json:"shape"`
				Rank     int       `json:"rank"`
				Backbone bool      `json:"backbone"`
			} `json:"vertices"`
			Edges []struct {
				From, To uint32
				Type     string    `json:"type"`
				Channels int       `json:"channels"`
				Stride   int       `json:"stride"`
				Shape    ShapeView `json:"shape"`
				Skip     bool      `json:"skip"`
			} `json:"edges"`
		}
		if err := json.Unmarshal([]byte(body), &gv); err != nil {
			t.Fatal(err)
		}
		if gv.ID != child.ID().String() || gv.Params != child.Params() {
			t.Errorf("GET %s: id %s params %d; want the child's %s, %d", path, gv.ID[:12], gv.Params, child.ID().Short(), child.Params())
		}
		g, err := dna.DecodeJSON(strings.NewReader(string(gv.Genome)))
		if err != nil || g.ID() != child.ID() {
			t.Errorf("the genome field does not decode to the child: %v", err)
		}
		if len(gv.Vertices) != len(child.Vertices) || len(gv.Edges) != len(child.Edges) {
			t.Fatalf("%d vertices, %d edges; want %d, %d", len(gv.Vertices), len(gv.Edges), len(child.Vertices), len(child.Edges))
		}
		if gv.Vertices[0].ID != child.InputVertex || gv.Vertices[len(gv.Vertices)-1].ID != child.OutputVertex {
			t.Errorf("vertices not in topological order: first %d last %d", gv.Vertices[0].ID, gv.Vertices[len(gv.Vertices)-1].ID)
		}
		if gv.Vertices[0].Shape != (ShapeView{28, 28, 1}) {
			t.Errorf("input shape %+v", gv.Vertices[0].Shape)
		}
		skips, convs := 0, 0
		for _, e := range gv.Edges {
			if e.Skip {
				skips++
			}
			if e.Type == "conv" {
				convs++
				if e.Channels == 0 || e.Stride == 0 || e.Shape.C == 0 {
					t.Errorf("conv edge %d->%d lacks its sizes: %+v", e.From, e.To, e)
				}
			}
		}
		if skips != 1 || convs != 2 {
			t.Errorf("%d skips, %d convs; want the one skip and two convs the mutations made", skips, convs)
		}
	}
	if res, body := get(t, h, "/api/v1/genome?id="+parent.ID().String()); res.StatusCode != 200 || !strings.Contains(body, parent.ID().String()) {
		t.Errorf("GET the parent's genome: %d %s", res.StatusCode, body)
	}
	if res, _ := get(t, h, "/api/v1/genome?id=zz"); res.StatusCode != 400 {
		t.Errorf("a malformed id: %d, want 400", res.StatusCode)
	}
	if res, _ := get(t, h, "/api/v1/genome?id="+strings.Repeat("ab", 32)); res.StatusCode != 404 {
		t.Errorf("an unknown id: %d, want 404", res.StatusCode)
	}
}

// TestAPIGuard: the API answers loopback names only (a rebound hostile
// name gets 421), refuses pages of other sites (403), and every reply
// carries nosniff.
func TestAPIGuard(t *testing.T) {
	n, _, _ := dashboardNode(t)
	h := n.handler()
	for _, tc := range []struct {
		host, site string
		want       int
	}{
		{"127.0.0.1:8080", "", http.StatusOK},
		{"localhost:9000", "same-origin", http.StatusOK},
		{"[::1]:8080", "none", http.StatusOK},
		{"127.0.0.2", "", http.StatusOK},
		{"evil.example:8080", "", http.StatusMisdirectedRequest},
		{"127.0.0.1.evil.example", "", http.StatusMisdirectedRequest},
		{"192.168.1.5:8080", "", http.StatusMisdirectedRequest},
		{"127.0.0.1:8080", "cross-site", http.StatusForbidden},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/api/v1/status", nil)
		req.Host = tc.host
		if tc.site != "" {
			req.Header.Set("Sec-Fetch-Site", tc.site)
		}
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("Host %q, Sec-Fetch-Site %q: %d, nosniff %q; want %d and nosniff", tc.host, tc.site, rec.Code, rec.Header().Get("X-Content-Type-Options"), tc.want)
		}
	}
}

// TestIndividualsSince checks the dashboard's incremental read: a list
// read whole, merged by ID with what GET /api/v1/individuals?after=N
// returns (N from the first reply's Evoswarm-Events header), is the list
// read whole again, after a death, a birth and a start of training; and a
// cursor the node cannot honour is refused.
func TestIndividualsSince(t *testing.T) {
	n, parent, child := dashboardNode(t)
	h := n.handler()
	read := func(path string) ([]Summary, string) {
		t.Helper()
		res, body := get(t, h, path)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
		}
		var list []Summary
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return list, res.Header.Get(EventsHeader)
	}
	first, cursor := read("/api/v1/individuals")
	if len(first) != 2 || cursor != "2" {
		t.Fatalf("whole list: %d individuals, cursor %q; want 2 and \"2\" (two births)", len(first), cursor)
	}
	if same, c := read("/api/v1/individuals?after=" + cursor); len(same) != 0 || c != cursor {
		t.Errorf("nothing changed, yet ?after=%s returned %d individuals, cursor %q", cursor, len(same), c)
	}

	rng := rand.New(rand.NewPCG(3, 4))
	grandchild, _, err := dna.MutateWith(child, dna.InsertConvolution, rng, dna.DefaultMutateOptions())
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := dna.MutateWith(child, dna.AlterLearningRate, rng, dna.DefaultMutateOptions())
	if err != nil {
		t.Fatal(err)
	}
	record := func(g *dna.Genome) *store.Individual {
		b, err := g.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return &store.Individual{ID: g.ID(), Genome: b, Fitness: 0.7, Born: time.Now(), Parent: g.Parent, Origin: "local-peer", Params: g.Params()}
	}
	err = n.store.Update(func(tx *store.Tx) error {
		if err := tx.Kill(parent.ID(), "lost to "+child.ID().Short(), time.Now()); err != nil {
			return err
		}
		if err := tx.Insert(record(grandchild), store.Seal([]byte{2})); err != nil {
			return err
		}
		return tx.StartTraining(record(other)) // no event: listed because it is in training
	})
	if err != nil {
		t.Fatal(err)
	}

	changed, next := read("/api/v1/individuals?after=" + cursor)
	got := map[string]string{}
	for _, s := range changed {
		got[s.ID] = s.Status.String()
	}
	want := map[string]string{parent.ID().String(): "dead", grandchild.ID().String(): "alive", other.ID().String(): "training"}
	if len(got) != len(want) {
		t.Errorf("?after=%s returned %v, want %v", cursor, got, want)
	}
	for id, st := range want {
		if got[id] != st {
			t.Errorf("?after=%s: %s is %q, want %q", cursor, id[:12], got[id], st)
		}
	}
	merged := map[string]Summary{}
	for _, s := range append(first, changed...) {
		merged[s.ID] = s
	}
	whole, wholeCursor := read("/api/v1/individuals")
	if wholeCursor != next {
		t.Errorf("cursor %q from the whole list, %q from the incremental read", wholeCursor, next)
	}
	if len(merged) != len(whole) {
		t.Errorf("merged %d individuals, the whole list has %d", len(merged), len(whole))
	}
	for _, s := range whole {
		if merged[s.ID] != s {
			t.Errorf("merged %+v, whole list %+v", merged[s.ID], s)
		}
	}

	for _, bad := range []string{"?after=" + next + "0", "?after=-1", "?after=x"} {
		if res, body := get(t, h, "/api/v1/individuals"+bad); res.StatusCode != http.StatusBadRequest {
			t.Errorf("GET /api/v1/individuals%s: %d %s, want 400", bad, res.StatusCode, body)
		}
	}
}
