package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/node"
)

const (
	root     = "../.."
	unitPath = root + "/scripts/deploy/evoswarm.service"
)

// binDir holds the evoswarm binary, built once for the tests that run it.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "evoswarm-deploy-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildErr  error
)

// evoswarm returns the path of an evoswarm binary built from this tree
// (once: about 20 s with a warm build cache).
func evoswarm(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "evoswarm")
	buildOnce.Do(func() {
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/evoswarm")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/evoswarm: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bin
}

// unit is a parsed systemd unit file: section -> key -> values, in order
// (a key may repeat, as Environment= does).
type unit map[string]map[string][]string

// parseUnit reads systemd's unit syntax: [Section] headers, Key=Value
// lines, comments starting with # or ;, and lines continued with a
// trailing backslash.
func parseUnit(data []byte) (unit, error) {
	u := unit{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	n, cont := 0, ""
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if cont == "" && (line == "" || line[0] == '#' || line[0] == ';') {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cont += strings.TrimSuffix(line, `\`) + " "
			continue
		}
		line, cont = cont+line, ""
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("line %d: bad section header %q", n, line)
			}
			section = line[1 : len(line)-1]
			if _, dup := u[section]; dup {
				return nil, fmt.Errorf("line %d: section [%s] twice", n, section)
			}
			u[section] = map[string][]string{}
			continue
		}
		if section == "" {
			return nil, fmt.Errorf("line %d: %q before any section", n, line)
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: %q is not Key=Value", n, line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		u[section][k] = append(u[section][k], v)
	}
	if cont != "" {
		return nil, fmt.Errorf("the file ends in a continued line")
	}
	return u, sc.Err()
}

// get returns the last value of section's key ("" when absent), as systemd
// does for single-valued keys.
func (u unit) get(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// env returns the Environment= assignments.
func (u unit) env() map[string]string {
	out := map[string]string{}
	for _, v := range u["Service"]["Environment"] {
		for _, kv := range strings.Fields(v) {
			k, val, _ := strings.Cut(strings.Trim(kv, `"`), "=")
			out[k] = val
		}
	}
	return out
}

func loadUnit(t *testing.T) unit {
	t.Helper()
	data, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	u, err := parseUnit(data)
	if err != nil {
		t.Fatalf("%s: %v", unitPath, err)
	}
	return u
}

// parseSpan parses a systemd time span ("10s", "5min", "1h 30min", or
// plain seconds).
func parseSpan(s string) (time.Duration, error) {
	units := map[string]time.Duration{"": time.Second, "us": time.Microsecond, "ms": time.Millisecond,
		"s": time.Second, "sec": time.Second, "m": time.Minute, "min": time.Minute,
		"h": time.Hour, "hr": time.Hour, "d": 24 * time.Hour}
	re := regexp.MustCompile(`^\s*([0-9]+)\s*([a-z]*)`)
	var d time.Duration
	rest := s
	for strings.TrimSpace(rest) != "" {
		m := re.FindStringSubmatch(rest)
		if m == nil {
			return 0, fmt.Errorf("time span %q", s)
		}
		n, _ := strconv.Atoi(m[1])
		f, ok := units[m[2]]
		if !ok {
			return 0, fmt.Errorf("time span %q: unit %q", s, m[2])
		}
		d += time.Duration(n) * f
		rest = rest[len(m[0]):]
	}
	if s == "" {
		return 0, fmt.Errorf("empty time span")
	}
	return d, nil
}

// parseBytes parses a systemd size: bytes, or K, M, G, T (base 1024).
func parseBytes(s string) (int64, error) {
	mult := map[byte]int64{'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30, 'T': 1 << 40}
	f := int64(1)
	if s != "" {
		if m, ok := mult[s[len(s)-1]]; ok {
			f, s = m, s[:len(s)-1]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("size %q", s)
	}
	return n * f, nil
}

// execArgs splits ExecStart's command line (no quoting is used in the
// unit; a quote would be an error here) and drops systemd's prefixes.
func execArgs(t *testing.T, line string) []string {
	t.Helper()
	if strings.ContainsAny(line, `"'`) {
		t.Fatalf("ExecStart %q uses quotes; this test does not parse them", line)
	}
	args := strings.Fields(line)
	if len(args) == 0 {
		t.Fatal("empty ExecStart")
	}
	args[0] = strings.TrimLeft(args[0], "-@:+!")
	return args
}

// expand replaces ${VAR} and $VAR with the unit's Environment= values.
func expand(t *testing.T, args []string, env map[string]string) []string {
	t.Helper()
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = os.Expand(a, func(k string) string {
			v, ok := env[k]
			if !ok {
				t.Errorf("ExecStart uses $%s, which no Environment= sets", k)
			}
			return v
		})
	}
	return out
}

// TestUnit checks that the unit has the keys a lab deployment needs, with
// sane values, and none that would break the daemon.
func TestUnit(t *testing.T) {
	u := loadUnit(t)
	for _, s := range []string{"Unit", "Service", "Install"} {
		if u[s] == nil {
			t.Fatalf("no [%s] section", s)
		}
	}
	svc := func(k string) string { return u.get("Service", k) }
	want := func(section, key, value string) {
		t.Helper()
		if got := u.get(section, key); got != value {
			t.Errorf("[%s] %s=%q, want %q", section, key, got, value)
		}
	}
	has := func(section, key, word string) {
		t.Helper()
		if !strings.Contains(" "+strings.Join(u[section][key], " ")+" ", " "+word+" ") {
			t.Errorf("[%s] %s=%q lacks %s", section, key, u.get(section, key), word)
		}
	}

	// Ordering and installation.
	if u.get("Unit", "Description") == "" {
		t.Error("no Description=")
	}
	has("Unit", "Wants", "network-online.target")
	has("Unit", "After", "network-online.target")
	want("Install", "WantedBy", "multi-user.target")

	// A dedicated user, and the repo it owns.
	if user := svc("User"); user == "" || user == "root" || user == "0" {
		t.Errorf("User=%q: run the daemon as a dedicated user", user)
	}
	env := u.env()
	repo := env["EVOSWARM_PATH"]
	if !filepath.IsAbs(repo) {
		t.Fatalf("Environment=EVOSWARM_PATH=%q: want the repo's absolute path", repo)
	}
	args := expand(t, execArgs(t, svc("ExecStart")), env)
	if !filepath.IsAbs(args[0]) || filepath.Base(args[0]) != "evoswarm" || len(args) < 2 || args[1] != "daemon" {
		t.Fatalf("ExecStart=%q: want /absolute/path/evoswarm daemon ...", svc("ExecStart"))
	}
	if r := flagValue(args, "--repo"); r != "" && r != repo {
		t.Errorf("ExecStart's --repo %q differs from EVOSWARM_PATH %q", r, repo)
	}
	if got := u.get("Unit", "AssertPathExists"); got != filepath.Join(repo, "experiment.json") {
		t.Errorf("AssertPathExists=%q, want the repo's experiment.json (fail loudly before init)", got)
	}
	// ProtectSystem=strict makes everything read-only but the state
	// directory and ReadWritePaths: the repo must be in one of them.
	want("Service", "ProtectSystem", "strict")
	writable := append([]string{}, u[("Service")]["ReadWritePaths"]...)
	for _, d := range strings.Fields(svc("StateDirectory")) {
		writable = append(writable, filepath.Join("/var/lib", d))
	}
	ok := false
	for _, w := range writable {
		if rel, err := filepath.Rel(w, repo); err == nil && !strings.HasPrefix(rel, "..") {
			ok = true
		}
	}
	if !ok {
		t.Errorf("the repo %s is not writable under ProtectSystem=strict (StateDirectory %q, ReadWritePaths %q)", repo, svc("StateDirectory"), writable)
	}

	// Stop and restart. The daemon stops gracefully on SIGTERM (exit 0,
	// so Restart=on-failure does not restart a stop) and survives kill -9,
	// so a restart after a crash or a kill at TimeoutStopSec is safe.
	want("Service", "Restart", "on-failure")
	want("Service", "KillSignal", "SIGTERM")
	rs, err := parseSpan(svc("RestartSec"))
	if err != nil || rs < time.Second {
		t.Errorf("RestartSec=%q (%v): want at least 1s", svc("RestartSec"), err)
	}
	if svc("RestartMaxDelaySec") != "" {
		md, err := parseSpan(svc("RestartMaxDelaySec"))
		steps, serr := strconv.Atoi(svc("RestartSteps"))
		if err != nil || serr != nil || md <= rs || steps < 1 {
			t.Errorf("RestartSteps=%q RestartMaxDelaySec=%q: want a backoff growing from RestartSec %v", svc("RestartSteps"), svc("RestartMaxDelaySec"), rs)
		}
	}
	if burst, err := strconv.Atoi(u.get("Unit", "StartLimitBurst")); err != nil || burst < 2 {
		t.Errorf("[Unit] StartLimitBurst=%q: want a bound on restarts of at least 2", u.get("Unit", "StartLimitBurst"))
	}
	if iv, err := parseSpan(u.get("Unit", "StartLimitIntervalSec")); err != nil || iv < 5*rs {
		t.Errorf("[Unit] StartLimitIntervalSec=%q (%v): want several RestartSec", u.get("Unit", "StartLimitIntervalSec"), err)
	}
	if ts, err := parseSpan(svc("TimeoutStopSec")); err != nil || ts < 10*time.Second || ts > 5*time.Minute {
		t.Errorf("TimeoutStopSec=%q (%v): want 10s to 5min", svc("TimeoutStopSec"), err)
	}

	// Resources. MemoryMax must be above the ceiling the daemon paces Go's
	// collector to for cpu-small (node.limitMemory: 512 MiB + the memory
	// budget per network x (workers + 3 admitters)), unless GOMEMLIMIT is
	// set below it.
	mmax, err := parseBytes(svc("MemoryMax"))
	if err != nil {
		t.Fatalf("MemoryMax=%q: %v", svc("MemoryMax"), err)
	}
	if h := svc("MemoryHigh"); h != "" {
		if mh, err := parseBytes(h); err != nil || mh >= mmax {
			t.Errorf("MemoryHigh=%q: want a size below MemoryMax", h)
		}
	}
	exp, err := node.Preset("cpu-small")
	if err != nil {
		t.Fatal(err)
	}
	ceiling := int64(512<<20) + exp.Train.MemoryBudget*int64(exp.Workers+3)
	if g := env["GOMEMLIMIT"]; g != "" {
		gl, err := parseBytes(strings.TrimSuffix(g, "iB"))
		if err != nil || gl >= mmax {
			t.Errorf("GOMEMLIMIT=%q: want below MemoryMax %d", g, mmax)
		}
	} else if mmax <= ceiling {
		t.Errorf("MemoryMax=%s (%d MiB) is below cpu-small's collector ceiling %d MiB: the kernel would kill the node first", svc("MemoryMax"), mmax>>20, ceiling>>20)
	}
	if n, err := strconv.Atoi(svc("LimitNOFILE")); err != nil || n < 4096 {
		t.Errorf("LimitNOFILE=%q: want at least 4096 (libp2p connections, Badger tables)", svc("LimitNOFILE"))
	}
	if svc("CPUQuota") == "" && svc("AllowedCPUs") == "" && svc("CPUWeight") == "" {
		t.Error("no CPU setting (CPUWeight, CPUQuota or AllowedCPUs)")
	}

	// Hardening that would break the daemon: it needs its sockets (TCP,
	// UDP for QUIC, mDNS and NAT-PMP; netlink to list interfaces), the
	// GPU's device nodes, and writable-executable memory for oneDNN's and
	// CUDA's JIT compilers.
	for _, fam := range []string{"AF_INET", "AF_INET6", "AF_NETLINK", "AF_UNIX"} {
		if f := svc("RestrictAddressFamilies"); f != "" && !strings.Contains(" "+f+" ", " "+fam+" ") {
			t.Errorf("RestrictAddressFamilies=%q lacks %s", f, fam)
		}
	}
	for key, bad := range map[string]string{"PrivateDevices": "yes", "PrivateNetwork": "yes", "MemoryDenyWriteExecute": "yes",
		"DevicePolicy": "closed", "DynamicUser": "yes"} {
		if strings.EqualFold(svc(key), bad) || (key == "DevicePolicy" && svc(key) == "strict") {
			t.Errorf("%s=%s breaks the daemon (see docs/deploy.md)", key, svc(key))
		}
	}
	want("Service", "NoNewPrivileges", "yes")
}

// flagValue returns the value given to name in args ("--name v" or
// "--name=v"), or "".
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

// helpFlags parses the flag list of "evoswarm VERB --help": flag name ->
// type ("" for a boolean).
func helpFlags(t *testing.T, bin, verb string) map[string]string {
	t.Helper()
	out, err := exec.Command(bin, verb, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("evoswarm %s --help: %v\n%s", verb, err, out)
	}
	re := regexp.MustCompile(`^\s+(?:-\w, )?--([a-z][a-z0-9-]*)(?: (\w+))?\s`)
	flags := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			flags[m[1]] = m[2]
		}
	}
	if len(flags) < 2 {
		t.Fatalf("no flags found in evoswarm %s --help:\n%s", verb, out)
	}
	return flags
}

// checkCommand checks a command line "evoswarm VERB args..." against the
// real CLI: every flag is one of VERB's, with a value where it takes one,
// and the CLI itself parses the line (with --help appended, so that
// nothing runs: cobra parses every flag before it looks at --help).
func checkCommand(t *testing.T, bin string, args []string) {
	t.Helper()
	verb, rest := args[1], args[2:]
	flags := helpFlags(t, bin, verb)
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if !strings.HasPrefix(a, "--") {
			t.Errorf("evoswarm %s: argument %q is not a --flag", verb, a)
			continue
		}
		name, _, hasValue := strings.Cut(a[2:], "=")
		typ, ok := flags[name]
		switch {
		case !ok:
			t.Errorf("evoswarm %s has no flag --%s (its flags: %v)", verb, name, flags)
		case typ != "" && !hasValue:
			if i+1 >= len(rest) || strings.HasPrefix(rest[i+1], "--") {
				t.Errorf("evoswarm %s --%s takes a value (%s)", verb, name, typ)
			} else {
				i++
			}
		}
	}
	cmd := exec.Command(bin, append(append([]string{verb}, rest...), "--help")...)
	cmd.Env = append(os.Environ(), "EVOSWARM_PATH="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("evoswarm %s %s: the CLI refuses it: %v\n%s", verb, strings.Join(rest, " "), err, out)
	}
}

// TestUnitCommandLines checks ExecStart, and the evoswarm commands of the
// install instructions in the unit's header, against the real CLI.
func TestUnitCommandLines(t *testing.T) {
	u := loadUnit(t)
	bin := evoswarm(t)
	args := expand(t, execArgs(t, u.get("Service", "ExecStart")), u.env())
	checkCommand(t, bin, args)
	if v := flagValue(args, "--log-level"); v != "" && !strings.Contains(" debug info warn error ", " "+v+" ") {
		t.Errorf("--log-level %q", v)
	}

	data, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	// The header's commands, continuation lines joined.
	var header strings.Builder
	for _, l := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(l, "#") {
			break
		}
		l = strings.TrimSpace(strings.TrimPrefix(l, "#"))
		if s, ok := strings.CutSuffix(l, `\`); ok {
			header.WriteString(s + " ")
		} else {
			header.WriteString(l + "\n")
		}
	}
	found := 0
	for _, l := range strings.Split(header.String(), "\n") {
		fields := strings.Fields(l)
		for i, f := range fields {
			if f == "evoswarm" && i+1 < len(fields) && fields[i+1] == "init" {
				found++
				checkCommand(t, bin, append([]string{"evoswarm"}, fields[i+1:]...))
			}
		}
	}
	if found == 0 {
		t.Error("the unit's header does not show the evoswarm init command")
	}
}

// TestSystemdVerify runs systemd-analyze verify on the unit, with the
// binary's path replaced by the one built here. systemd versions before
// 254 do not know RestartSteps and RestartMaxDelaySec and say so; that is
// the only complaint allowed.
func TestSystemdVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: skipping systemd's own check of the unit")
	}
	bin := evoswarm(t)
	data, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	u := loadUnit(t)
	orig := execArgs(t, u.get("Service", "ExecStart"))[0]
	dir := t.TempDir()
	path := filepath.Join(dir, "evoswarm.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(data, []byte(orig), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sa, "verify", "--man=no", path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	allowed := regexp.MustCompile(`Unknown key '(RestartSteps|RestartMaxDelaySec)' in section \[Service\], ignoring\.$`)
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && !allowed.MatchString(l) {
			t.Errorf("systemd-analyze verify: %s", l)
		}
	}
}

// TestDeployDocumented checks that the README's lab section and
// docs/deploy.md point at the unit.
func TestDeployDocumented(t *testing.T) {
	for _, f := range []string{"README.md", "docs/deploy.md"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte("scripts/deploy/evoswarm.service")) {
			t.Errorf("%s does not mention scripts/deploy/evoswarm.service", f)
		}
	}
}
