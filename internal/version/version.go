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
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " " + s.Value[:12]
			}
		}
	}
	return fmt.Sprintf("evoswarm %s%s %s/%s %s", Version, rev, runtime.GOOS, runtime.GOARCH, runtime.Version())
}
