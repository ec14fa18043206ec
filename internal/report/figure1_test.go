package report

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"math/rand/v2"
	"testing"
	"time"

	"gonum.org/v1/plot/vg"
)

// synthetic returns nodes series of n individuals each over span, with
// rising fitness, a tenth of them immigrants and the older ones dead.
func synthetic(nodes, n int, span time.Duration) []Series {
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var out []Series
	for k := range nodes {
		s := Series{Name: ShortPeerID("12D3KooWsyntheticnode" + string(rune('A'+k)))}
		for i := range n {
			frac := float64(i) / float64(n)
			s.Dots = append(s.Dots, Dot{
				Born:      start.Add(time.Duration(frac * float64(span))),
				Fitness:   min(1, 0.1+0.8*frac*rng.Float64()+0.05*rng.Float64()),
				Alive:     i >= n*3/4,
				Immigrant: rng.IntN(10) == 0,
			})
		}
		out = append(out, s)
	}
	return out
}

// colours counts the distinct colours of img.
func colours(img image.Image) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
		}
	}
	return len(seen)
}

func TestFigure1PNG(t *testing.T) {
	for _, tc := range []struct {
		name          string
		series        []Series
		width, height vg.Length
		wantW, wantH  int
	}{
		{"one node, minutes", synthetic(1, 40, 30*time.Minute), 0, 0, 768, 480},
		{"three nodes, hours", synthetic(3, 200, 20*time.Hour), 4 * vg.Inch, 3 * vg.Inch, 384, 288},
		{"single individual", []Series{{Name: "x", Dots: []Dot{{Born: time.Unix(0, 0), Fitness: 0.5, Alive: true}}}}, 0, 0, 768, 480},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Figure1(&buf, tc.series, Options{Width: tc.width, Height: tc.height}); err != nil {
				t.Fatalf("Figure1: %v", err)
			}
			img, err := png.Decode(&buf)
			if err != nil {
				t.Fatalf("decoding the PNG: %v", err)
			}
			if b := img.Bounds(); b.Dx() != tc.wantW || b.Dy() != tc.wantH {
				t.Errorf("image is %dx%d, want %dx%d", b.Dx(), b.Dy(), tc.wantW, tc.wantH)
			}
			if n := colours(img); n < 5 {
				t.Errorf("image has %d distinct colours, want at least 5 (is it blank?)", n)
			}
		})
	}
}

func TestFigure1Errors(t *testing.T) {
	var buf bytes.Buffer
	if err := Figure1(&buf, []Series{{Name: "empty"}}, Options{}); !errors.Is(err, ErrNoData) {
		t.Errorf("Figure1 of empty series: got %v, want ErrNoData", err)
	}
	if err := Figure1(&buf, synthetic(1, 5, time.Minute), Options{Format: "bmp"}); err == nil {
		t.Error("Figure1 with format bmp: got no error")
	}
	if err := Figure1(&buf, synthetic(1, 5, time.Minute), Options{Width: vg.Points(10), Height: vg.Inch}); err == nil {
		t.Error("Figure1 10pt wide: got no error")
	}
}

func TestBestSoFar(t *testing.T) {
	start := time.Unix(0, 0)
	dots := []Dot{
		{Born: start.Add(2 * time.Minute), Fitness: 0.3},
		{Born: start, Fitness: 0.5},
		{Born: start.Add(time.Minute), Fitness: 0.4},
		{Born: start.Add(3 * time.Minute), Fitness: 0.7},
	}
	got := bestSoFar(dots, func(t time.Time) float64 { return t.Sub(start).Minutes() })
	want := []float64{0.5, 0.5, 0.5, 0.7}
	for i, p := range got {
		if p.X != float64(i) || p.Y != want[i] {
			t.Errorf("point %d = (%v, %v), want (%d, %v)", i, p.X, p.Y, i, want[i])
		}
	}
}

func TestShortPeerID(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"12D3KooWAbCdEfGhIjKlMnOpQrStUvWxYz", "12D3KooW…UvWxYz"},
		{"short", "short"},
	} {
		if got := ShortPeerID(tc.in); got != tc.want {
			t.Errorf("ShortPeerID(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
