package cuda

import (
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// The kernel C signatures of kernels.cu, parameter kinds in order.
var wantSignatures = map[string]string{
	"ev_fill":               "ptr int float",
	"ev_add":                "ptr ptr int",
	"ev_to_cnhw":            "ptr ptr int int int",
	"ev_im2col":             "ptr ptr int int int int int int int int int int int int int",
	"ev_col2im":             "ptr ptr int int int int int int int int int int int int int",
	"ev_bn_center_sq":       "ptr ptr ptr int int",
	"ev_bn_finalize":        "ptr ptr ptr ptr ptr ptr int int float float",
	"ev_bn_infer_stats":     "ptr ptr int float",
	"ev_bn_relu":            "ptr ptr ptr ptr ptr ptr int int",
	"ev_bn_backward_prep":   "ptr ptr ptr ptr ptr ptr ptr int int",
	"ev_bn_backward_data":   "ptr ptr ptr ptr ptr ptr ptr ptr int int",
	"ev_reconcile":          "ptr ptr int int int int int int int",
	"ev_reconcile_backward": "ptr ptr int int int int int int int",
	"ev_gap_backward":       "ptr ptr int int",
	"ev_add_bias":           "ptr ptr int int",
	"ev_softmax_xent":       "ptr ptr ptr ptr int int",
	"ev_sgd":                "ptr ptr ptr int float float float",
	"ev_chan_partial":       "ptr ptr int int int",
	"ev_chan_finish":        "ptr ptr int int float",
}

func kinds(ps []ParamKind) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return strings.Join(s, " ")
}

func TestKernelTable(t *testing.T) {
	if len(wantSignatures) != int(NumKernels) {
		t.Fatalf("%d signatures for %d kernels", len(wantSignatures), NumKernels)
	}
	seen := map[string]bool{}
	for i := range Kernels {
		k := &Kernels[i]
		if k.Name == "" || k.Items == nil || k.MinLens == nil {
			t.Fatalf("kernel %d incomplete: %+v", i, k)
		}
		if seen[k.Name] {
			t.Errorf("%s twice", k.Name)
		}
		seen[k.Name] = true
		if got, want := kinds(k.Params), wantSignatures[k.Name]; got != want {
			t.Errorf("%s: params %q, want %q", k.Name, got, want)
		}
		nptr, nint := 0, 0
		for _, p := range k.Params {
			switch p {
			case Ptr:
				nptr++
			case Int:
				nint++
			}
		}
		ints := make([]int64, nint)
		for j := range ints {
			ints[j] = 3
		}
		if n := len(k.MinLens(ints)); n != nptr {
			t.Errorf("%s: MinLens gives %d lengths for %d pointers", k.Name, n, nptr)
		}
	}
}

// TestKernelTableMatchesPTX holds the table to the embedded kernels.ptx
// (and to $EVOSWARM_CUDA_PTX when set): the same kernels, no others, with
// parameters of the same kinds.
func TestKernelTableMatchesPTX(t *testing.T) {
	entries := ParsePTXEntries(kernelsPTX)
	if len(entries) != int(NumKernels) {
		t.Errorf("kernels.ptx has %d entries, want %d", len(entries), NumKernels)
	}
	for _, e := range entries {
		t.Logf("%-22s %v", e.Name, e.Params)
	}
	if err := CheckPTX(kernelsPTX); err != nil {
		t.Fatal(err)
	}
	if f := os.Getenv("EVOSWARM_CUDA_PTX"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckPTX(string(b)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
}

func TestCheckPTXCatchesMismatch(t *testing.T) {
	bad := strings.Replace(kernelsPTX, "ev_sgd", "ev_sgd2", -1)
	if err := CheckPTX(bad); err == nil || !strings.Contains(err.Error(), "missing ev_sgd") ||
		!strings.Contains(err.Error(), "unexpected kernel ev_sgd2") {
		t.Errorf("renamed kernel: %v", err)
	}
	// ev_fill's float parameter turned into an int.
	i := strings.Index(kernelsPTX, ".entry ev_fill(")
	if i < 0 {
		t.Fatal("no ev_fill in kernels.ptx")
	}
	j := i + strings.Index(kernelsPTX[i:], ")")
	head := strings.Replace(kernelsPTX[i:j], ".f32", ".u32", 1)
	if err := CheckPTX(kernelsPTX[:i] + head + kernelsPTX[j:]); err == nil || !strings.Contains(err.Error(), "ev_fill parameter 2") {
		t.Errorf("changed parameter: %v", err)
	}
}

func TestParsePTXEntries(t *testing.T) {
	ptx := `
// .entry commented_out(
/* .visible .entry also_commented(.param .u32 x) */
.version 8.0
.target sm_70
.address_size 64

	// .globl	k1
.visible .entry k1(
	.param .u64 k1_param_0,
	.param .u32 k1_param_1,
	.param .f32 k1_param_2
)
{
	ret;
}
.entry k2()
{
	ret;
}
.visible .entry k3(
	.param .align 8 .b64 k3_param_0
)
{ ret; }
`
	got := ParsePTXEntries(ptx)
	want := []PTXEntry{
		{Name: "k1", Params: []string{".u64", ".u32", ".f32"}},
		{Name: "k2"},
		{Name: "k3", Params: []string{".b64"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestLaunchConfig(t *testing.T) {
	cases := []struct {
		items   int64
		maxGrid int
		grid    int
	}{
		{0, 0, 0},
		{-5, 0, 0},
		{1, 0, 1},
		{255, 0, 1},
		{256, 0, 1},
		{257, 0, 2},
		{256 * DefaultMaxGrid, 0, DefaultMaxGrid},
		{256*DefaultMaxGrid + 1, 0, DefaultMaxGrid},
		{MaxItems, 0, DefaultMaxGrid},
		{math.MaxInt64, 0, DefaultMaxGrid},
		{1 << 20, 10, 10},
		{1, 10, 1},
		{MaxItems, GridCap(132), GridCap(132)},
	}
	for _, c := range cases {
		g, b := LaunchConfig(c.items, c.maxGrid)
		if g != c.grid || b != BlockSize {
			t.Errorf("LaunchConfig(%d, %d) = %d, %d; want %d, %d", c.items, c.maxGrid, g, b, c.grid, BlockSize)
		}
		// Every work item is reached by the grid-stride loop: the grid
		// is either enough on its own or the cap.
		if c.items > 0 && int64(g)*int64(b) < c.items && g != max(c.maxGrid, 0) && !(c.maxGrid <= 0 && g == DefaultMaxGrid) {
			t.Errorf("LaunchConfig(%d, %d): grid %d covers neither the items nor the cap", c.items, c.maxGrid, g)
		}
		if g < 0 || g > math.MaxInt32 {
			t.Errorf("grid %d out of range", g)
		}
	}
	if g := GridCap(0); g != DefaultMaxGrid {
		t.Errorf("GridCap(0) = %d", g)
	}
	if g := GridCap(132); g <= 0 || g > 65535 {
		t.Errorf("GridCap(132) = %d", g)
	}
}

func TestPackSlots(t *testing.T) {
	// The driver reads a parameter of four bytes from the start of its
	// slot: check what a little-endian read of the low four bytes gives.
	low32 := func(s uint64) [4]byte { return *(*[4]byte)(unsafe.Pointer(&s)) }
	for _, v := range []int32{0, 1, -1, 42, math.MaxInt32, math.MinInt32} {
		s := PackInt32(v)
		if s>>32 != 0 {
			t.Errorf("PackInt32(%d) = %#x: high bytes not zero", v, s)
		}
		b := low32(s)
		if got := *(*int32)(unsafe.Pointer(&b)); got != v {
			t.Errorf("PackInt32(%d) reads back %d", v, got)
		}
	}
	for _, v := range []float32{0, 1, -1.5, 3.25e-7, float32(math.Inf(1)), math.MaxFloat32} {
		s := PackFloat32(v)
		if s>>32 != 0 {
			t.Errorf("PackFloat32(%g) = %#x: high bytes not zero", v, s)
		}
		b := low32(s)
		if got := *(*float32)(unsafe.Pointer(&b)); got != v {
			t.Errorf("PackFloat32(%g) reads back %g", v, got)
		}
	}
	if s := PackFloat32(float32(math.NaN())); s != uint64(math.Float32bits(float32(math.NaN()))) {
		t.Errorf("NaN packed as %#x", s)
	}

	// A whole launch: ev_sgd(w, v, g, n, lr, momentum, decay).
	slots := make([]uint64, 7)
	args := []Arg{
		PtrArg(0x7f0000001000, 10), PtrArg(0x7f0000002000, 10), PtrArg(0x7f0000003000, 12),
		IntArg(10), FloatArg(0.1), FloatArg(0.9), FloatArg(-5e-4),
	}
	items, err := Kernels[KSGD].Prepare(args, slots)
	if err != nil || items != 10 {
		t.Fatalf("Prepare: %d, %v", items, err)
	}
	want := []uint64{0x7f0000001000, 0x7f0000002000, 0x7f0000003000, 10,
		uint64(math.Float32bits(0.1)), uint64(math.Float32bits(0.9)), uint64(math.Float32bits(-5e-4))}
	if !reflect.DeepEqual(slots, want) {
		t.Errorf("slots %#x, want %#x", slots, want)
	}
}

func TestPrepareRejects(t *testing.T) {
	slots := make([]uint64, 16)
	fill := &Kernels[KFill]
	cases := []struct {
		name string
		k    *Kernel
		args []Arg
		want string
	}{
		{"count", fill, []Arg{PtrArg(1, 4), IntArg(4)}, "2 arguments, want 3"},
		{"kind", fill, []Arg{PtrArg(1, 4), FloatArg(4), FloatArg(1)}, "argument 1 is float, want int"},
		{"int32", fill, []Arg{PtrArg(1, -1), IntArg(math.MaxInt32 + 1), FloatArg(1)}, "overflows int32"},
		{"negative", fill, []Arg{PtrArg(1, 4), IntArg(-1), FloatArg(1)}, "negative"},
		{"short buffer", fill, []Arg{PtrArg(1, 3), IntArg(4), FloatArg(1)}, "holds 3 values, the kernel touches 4"},
		{"too many items", &Kernels[KToCNHW], []Arg{PtrArg(1, -1), PtrArg(2, -1), IntArg(1 << 16), IntArg(1 << 16), IntArg(2)}, "over the limit"},
		{"huge product", &Kernels[KIm2col], []Arg{PtrArg(1, -1), PtrArg(2, -1),
			IntArg(1 << 30), IntArg(1 << 30), IntArg(1 << 30), IntArg(1 << 30), IntArg(1 << 30), IntArg(1 << 30),
			IntArg(1), IntArg(0), IntArg(0), IntArg(1 << 30), IntArg(1 << 30), IntArg(0), IntArg(1 << 30)}, "over the limit"},
		{"chunk outside images", &Kernels[KIm2col], []Arg{PtrArg(1, -1), PtrArg(2, -1),
			IntArg(4), IntArg(1), IntArg(3), IntArg(3), IntArg(3), IntArg(3),
			IntArg(1), IntArg(1), IntArg(1), IntArg(3), IntArg(3), IntArg(3), IntArg(2)}, "out of range"},
	}
	for _, c := range cases {
		_, err := c.k.Prepare(c.args, slots)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", c.name, err, c.want)
		}
	}
	// Zero work items: nothing to launch, no length check.
	if items, err := fill.Prepare([]Arg{PtrArg(0, 0), IntArg(0), FloatArg(1)}, slots); err != nil || items != 0 {
		t.Errorf("empty fill: %d, %v", items, err)
	}
}

// TestItemsAndLens checks the work-item formulas and buffer lengths on a
// concrete geometry.
func TestItemsAndLens(t *testing.T) {
	// conv: N=5 images of C=3 x H=7 x W=6, 3x2 filter, stride 2, pad 1x0,
	// OH=4, OW=3, chunk n0=1, nb=2.
	conv := []int64{5, 3, 7, 6, 3, 2, 2, 1, 0, 4, 3, 1, 2}
	if got, want := Kernels[KIm2col].Items(conv), int64(3*3*2*2*4*3); got != want {
		t.Errorf("im2col items %d, want %d", got, want)
	}
	if got, want := Kernels[KIm2col].MinLens(conv), []int64{3 * 5 * 7 * 6, 3 * 3 * 2 * 2 * 4 * 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("im2col lens %v, want %v", got, want)
	}
	if got, want := Kernels[KCol2im].Items(conv), int64(3*2*7*6); got != want {
		t.Errorf("col2im items %d, want %d", got, want)
	}
	if got, want := Kernels[KCol2im].MinLens(conv), []int64{3 * 3 * 2 * 2 * 4 * 3, 3 * 5 * 7 * 6}; !reflect.DeepEqual(got, want) {
		t.Errorf("col2im lens %v, want %v", got, want)
	}
	// reconcile: n=2, c1=3, h1=5, w1=4 -> c=5, h=3, w=7.
	rec := []int64{2, 3, 5, 4, 5, 3, 7}
	if got, want := Kernels[KReconcile].Items(rec), int64(5*2*3*7); got != want {
		t.Errorf("reconcile items %d, want %d", got, want)
	}
	if got, want := Kernels[KReconcileBackward].Items(rec), int64(3*2*5*4); got != want {
		t.Errorf("reconcile backward items %d, want %d", got, want)
	}
	if got, want := Kernels[KSoftmaxXent].Items([]int64{10, 50}), int64(50); got != want {
		t.Errorf("softmax items %d, want %d", got, want)
	}
	if got, want := Kernels[KBNFinalize].Items([]int64{8, 1000}), int64(8); got != want {
		t.Errorf("bn finalize items %d, want %d", got, want)
	}
	if got, want := Kernels[KChanPartial].Items([]int64{8, 5000, 1024}), int64(8*1024); got != want {
		t.Errorf("chan partial items %d, want %d", got, want)
	}
	if got, want := Kernels[KChanPartial].MinLens([]int64{8, 5000, 1024}), []int64{8 * 5000, 2 * 8 * 1024}; !reflect.DeepEqual(got, want) {
		t.Errorf("chan partial lens %v, want %v", got, want)
	}
	if got, want := Kernels[KChanFinish].MinLens([]int64{8, 1024}), []int64{2 * 8 * 1024, 8}; !reflect.DeepEqual(got, want) {
		t.Errorf("chan finish lens %v, want %v", got, want)
	}
}
