package version

import "testing"

func TestBuild(t *testing.T) {
	for _, c := range []struct {
		rev   string
		dirty bool
		tags  string
		want  string
	}{
		{"e310522abcde", false, "dnnl,openblas", "e310522abcde tags=dnnl,openblas"},
		{"e310522abcde", true, "", "e310522abcde+dirty"},
		{"", false, "", "unknown"},
		{"", true, "dnnl", "unknown+dirty tags=dnnl"},
	} {
		if got := build(c.rev, c.dirty, c.tags); got != c.want {
			t.Errorf("build(%q, %v, %q) = %q, want %q", c.rev, c.dirty, c.tags, got, c.want)
		}
	}
	if Build() == "" {
		t.Error("Build() is empty")
	}
}
