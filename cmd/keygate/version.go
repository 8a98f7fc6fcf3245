package main

import (
	"fmt"
	"regexp"
	"runtime/debug"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

// buildVersion is the version alone: the linker's, else the module's when
// it was built at a release (go install ...@v1.2.3), else "dev".
func buildVersion() string {
	info, _ := debug.ReadBuildInfo()
	return moduleVersion(version, info)
}

// versionLine is what `keygate version` prints: the version, then the
// commit and its date when the build recorded them, as in
// "keygate v1.2.3 (commit 0123abcd, built 2026-12-03T10:00:00Z)".
func versionLine() string {
	info, _ := debug.ReadBuildInfo()
	return formatVersion(version, info)
}

// pseudoVersion matches the versions Go makes up for a commit that has no
// release tag (v0.0.0-20261203100617-082f0dbcd9df): the commit and its
// date say it better.
var pseudoVersion = regexp.MustCompile(`[-.](?:0\.)?\d{14}-[0-9a-f]{12}(?:\+.*)?$`)

func moduleVersion(linker string, info *debug.BuildInfo) string {
	if linker != "" {
		return linker
	}
	if info == nil {
		return "dev"
	}
	v := strings.TrimSuffix(info.Main.Version, "+dirty")
	if v == "" || v == "(devel)" || pseudoVersion.MatchString(v) {
		return "dev"
	}
	return v
}

func formatVersion(linker string, info *debug.BuildInfo) string {
	line := "keygate " + moduleVersion(linker, info)
	if info == nil {
		return line
	}
	var revision, at string
	var modified bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if revision == "" {
		return line
	}
	parts := []string{"commit " + revision[:min(len(revision), 8)]}
	if modified {
		parts = append(parts, "modified")
	}
	if at != "" {
		parts = append(parts, "built "+at)
	}
	return fmt.Sprintf("%s (%s)", line, strings.Join(parts, ", "))
}
