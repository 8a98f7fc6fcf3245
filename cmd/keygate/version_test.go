package main

import (
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	vcs := func(version string, settings ...string) *debug.BuildInfo {
		info := &debug.BuildInfo{Main: debug.Module{Path: "github.com/keygate/keygate", Version: version}}
		for i := 0; i+1 < len(settings); i += 2 {
			info.Settings = append(info.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return info
	}
	const rev = "0123abcd4567ef890123abcd4567ef8901234567"
	tests := []struct {
		name   string
		linker string
		info   *debug.BuildInfo
		want   string
	}{
		{"OKRelease", "", vcs("v1.2.3", "vcs.revision", rev, "vcs.time", "2026-12-03T10:00:00Z", "vcs.modified", "false"),
			"keygate v1.2.3 (commit 0123abcd, built 2026-12-03T10:00:00Z)"},
		{"OKGoInstall", "", vcs("v1.2.3"), "keygate v1.2.3"},
		{"OKModified", "", vcs("v1.2.3+dirty", "vcs.revision", rev, "vcs.time", "2026-12-03T10:00:00Z", "vcs.modified", "true"),
			"keygate v1.2.3 (commit 0123abcd, modified, built 2026-12-03T10:00:00Z)"},
		{"OKUntaggedCommit", "", vcs("v0.0.0-20261203100000-0123abcd4567+dirty", "vcs.revision", rev, "vcs.time", "2026-12-03T10:00:00Z", "vcs.modified", "true"),
			"keygate dev (commit 0123abcd, modified, built 2026-12-03T10:00:00Z)"},
		{"OKPseudoAfterTag", "", vcs("v1.2.4-0.20261203100000-0123abcd4567", "vcs.revision", rev),
			"keygate dev (commit 0123abcd)"},
		{"OKLinker", "v9.9.9", vcs("(devel)", "vcs.revision", rev, "vcs.time", "2026-12-03T10:00:00Z"),
			"keygate v9.9.9 (commit 0123abcd, built 2026-12-03T10:00:00Z)"},
		{"OKDevelNoVCS", "", vcs("(devel)"), "keygate dev"},
		{"OKNoBuildInfo", "", nil, "keygate dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatVersion(tt.linker, tt.info); got != tt.want {
				t.Fatalf("formatVersion = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestVersionBinary builds the binary with its version control information
// and checks that `keygate version` names the commit Go recorded.
func TestVersionBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	if err := exec.Command("git", "rev-parse", "--git-dir").Run(); err != nil {
		t.Skip("not in a git checkout")
	}
	bin := filepath.Join(t.TempDir(), "keygate")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	meta, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, line := range strings.Split(string(meta), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "build" {
			if k, v, ok := strings.Cut(f[1], "="); ok {
				settings[k] = v
			}
		}
	}
	rev := settings["vcs.revision"]
	if len(rev) < 8 {
		t.Fatalf("the build recorded no commit:\n%s", meta)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := "(commit " + rev[:8]
	if settings["vcs.modified"] == "true" {
		want += ", modified"
	}
	want += ", built " + settings["vcs.time"] + ")\n"
	if got := string(out); !strings.HasPrefix(got, "keygate ") || !strings.HasSuffix(got, want) {
		t.Fatalf("version printed %q, want it to end with %q", got, want)
	}
}
