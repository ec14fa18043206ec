package testnet

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// NeedOnnxruntime returns the node binary that runs scripts/onnxrt/check.js,
// given the path of scripts/onnxrt from the test's directory. Without node
// or onnxruntime-node the test is skipped, except under CI (CI set), which
// installs both and so fails instead.
func NeedOnnxruntime(t testing.TB, onnxrtDir string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		node, err = exec.LookPath("nodejs")
	}
	missing := ""
	if err != nil {
		missing = "node is not installed"
	} else if _, err := os.Stat(filepath.Join(onnxrtDir, "node_modules", "onnxruntime-node", "package.json")); err != nil {
		missing = "onnxruntime-node is not installed (scripts/deps.sh, or npm ci --ignore-scripts in scripts/onnxrt)"
	}
	if missing != "" {
		if os.Getenv("CI") != "" {
			t.Fatal(missing + ", and CI is set")
		}
		t.Skip(missing)
	}
	return node
}
