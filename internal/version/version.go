// Package version reports the evoswarm release and the build it came from.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is the release. Release builds override it with
// -ldflags "-X github.com/evoswarm/evoswarm/internal/version.Version=v1.2.3".
var Version = "v0.1.0-dev"

// String returns the release, the VCS revision when the binary carries one,
// and the Go toolchain, on one line.
func String() string {
	rev := ""
	if r, _, _ := settings(); len(r) >= 12 {
		rev = " " + r[:12]
	}
	return fmt.Sprintf("evoswarm %s%s %s/%s %s", Version, rev, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// settings reads the binary's VCS revision, whether its tree had
// uncommitted changes, and its build tags; each is zero where the binary
// does not record it.
func settings() (rev string, dirty bool, tags string) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "", false, ""
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		case "-tags":
			tags = s.Value
		}
	}
	return rev, dirty, tags
}

// Build names the build for records that must not be mixed across builds
// unnoticed (an experiment's runs): the VCS revision, "+dirty" when the
// tree had uncommitted changes, and the build tags, which pick the
// training engines. The revision reads "unknown" in a binary built
// without VCS information (go run, a build outside the repository).
func Build() string {
	rev, dirty, tags := settings()
	return build(rev[:min(len(rev), 12)], dirty, tags)
}

func build(rev string, dirty bool, tags string) string {
	s := rev
	if s == "" {
		s = "unknown"
	}
	if dirty {
		s += "+dirty"
	}
	if tags != "" {
		s += " tags=" + tags
	}
	return s
}
