package node

import (
	"embed"
	"errors"
	"io/fs"
	"net/http"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/store"
)

// webFS holds the dashboard: a static page that polls the JSON API and
// draws it with plain SVG. Nothing in it is loaded from anywhere else.
//
//go:embed web
var webFS embed.FS

// dashboardCSP keeps the page to its own origin: no script, style, image
// or connection may reach another host.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// mountDashboard registers the dashboard (GET /, its assets) and the
// read-only endpoints it draws from beyond the API's own.
func (n *Node) mountDashboard(mux *http.ServeMux) {
	mux.Handle("GET /", dashboardHandler())
	mux.HandleFunc("GET /api/v1/genome", func(w http.ResponseWriter, r *http.Request) {
		id, err := n.idParam(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		gv, err := GenomeOf(n.store, id)
		if errors.Is(err, store.ErrNotFound) {
			http.Error(w, "node: individual "+id.Short()+" is not in this repo", http.StatusNotFound)
			return
		}
		reply(w, gv, err)
	})
}

// dashboardHandler serves the embedded assets.
func dashboardHandler() http.Handler {
	sub, err := fs.Sub(webFS, "web")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", dashboardCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

// GenomeView is GET /api/v1/genome: an individual's genome in its JSON
// form, with every vertex's and edge's shape resolved, for drawing.
type GenomeView struct {
	ID       string       `json:"id"`
	Fitness  float64      `json:"val_accuracy"`
	Params   int64        `json:"params"`
	FLOPs    int64        `json:"flops"`
	Genome   *dna.Genome  `json:"genome"`
	Vertices []VertexView `json:"vertices"` // in topological order
	Edges    []EdgeView   `json:"edges"`
	Input    ShapeView    `json:"input"`
	Output   uint32       `json:"output_vertex"`
	Classes  int          `json:"classes"`
}

// VertexView is one vertex of a GenomeView.
type VertexView struct {
	ID    uint32    `json:"id"`
	Type  string    `json:"type"`
	Shape ShapeView `json:"shape"`
	Rank  int       `json:"rank"` // position in topological order
	// Backbone is true on the path of primary edges from input to output.
	Backbone bool `json:"backbone"`
}

// EdgeView is one edge of a GenomeView.
type EdgeView struct {
	ID       uint32    `json:"id"`
	From     uint32    `json:"from"`
	To       uint32    `json:"to"`
	Type     string    `json:"type"`
	Channels int       `json:"channels,omitempty"`
	FilterH  int       `json:"filter_h,omitempty"`
	FilterW  int       `json:"filter_w,omitempty"`
	Stride   int       `json:"stride,omitempty"`
	Shape    ShapeView `json:"shape"` // what the edge produces
	Skip     bool      `json:"skip"`  // off the backbone
}

// ShapeView is a shape in the JSON the dashboard reads.
type ShapeView struct {
	H int `json:"h"`
	W int `json:"w"`
	C int `json:"c"`
}

func shapeView(s dna.Shape) ShapeView { return ShapeView{s.H, s.W, s.C} }

// GenomeOf reads id's record and resolves its genome for drawing.
func GenomeOf(s *store.Store, id dna.ID) (*GenomeView, error) {
	var rec *store.Individual
	err := s.View(func(tx *store.Tx) error {
		var err error
		rec, err = tx.Get(id)
		return err
	})
	if err != nil {
		return nil, err
	}
	g, err := dna.DecodeBinary(rec.Genome)
	if err != nil {
		return nil, err
	}
	r, err := g.Resolve()
	if err != nil {
		return nil, err
	}
	bbVertices, backbone, err := g.Backbone()
	if err != nil {
		return nil, err
	}
	onBackbone := make(map[uint32]bool, len(backbone))
	for _, e := range backbone {
		onBackbone[e] = true
	}
	gv := genomeViewOf(rec, g)
	gv.Vertices, gv.Edges = make([]VertexView, 0, len(r.Order)), make([]EdgeView, len(g.Edges))
	bbV := make(map[uint32]bool, len(bbVertices))
	for _, v := range bbVertices {
		bbV[v] = true
	}
	for rank, i := range r.Order {
		v := g.Vertices[i]
		gv.Vertices = append(gv.Vertices, VertexView{ID: v.ID, Type: v.Type.String(), Shape: shapeView(r.VertexShape[i]), Rank: rank, Backbone: bbV[v.ID]})
	}
	for j, e := range g.Edges {
		ev := EdgeView{ID: e.ID, From: e.From, To: e.To, Type: e.Type.String(), Shape: shapeView(r.EdgeShape[j]), Skip: !onBackbone[e.ID]}
		if e.Type == dna.Conv {
			ev.Channels, ev.FilterH, ev.FilterW, ev.Stride = e.Channels, e.FilterH, e.FilterW, e.Stride()
		}
		gv.Edges[j] = ev
	}
	return gv, nil
}
