package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/apikey"
)

// Limits of what scan reads.
const (
	scanMaxFileSize = 10 << 20 // larger files are skipped
	scanSniffLen    = 8000     // a NUL byte in the first bytes means binary
)

// scanSkipDirs are directories scan never enters.
var scanSkipDirs = map[string]bool{".git": true, "node_modules": true}

// keyCandidate matches what could be a key; apikey.Parse then checks its
// checksum, so random kg_ strings are not reported.
var keyCandidate = regexp.MustCompile(`kg_[0-9A-Za-z]{38}`)

// scanFinding is a key found in a file.
type scanFinding struct {
	path string
	line int
	key  apikey.Key
}

// runScan looks for Keygate keys in files: exit status 1 if it found any,
// 0 if none, 2 on an error.
func runScan(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("scan", "keygate scan [--report URL [--insecure]] [PATH...]", stderr)
	report := fset.String("report", "", "report each key found to the Keygate instance at this URL (https://keygate.example.com), as leaked")
	insecure := fset.Bool("insecure", false, "with --report, accept the instance's certificate without checking it (a self-signed instance)")
	if err := parseFlags(fset, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if !errors.Is(err, errUsage) {
			fmt.Fprintf(stderr, "keygate: %v\n", err)
		}
		return 2
	}
	paths := fset.Args()
	if len(paths) == 0 {
		paths = []string{"."}
	}
	findings, failed := scanPaths(paths, stderr)
	for _, f := range findings {
		fmt.Fprintf(stdout, "%s:%d: key %s\n", f.path, f.line, f.key.Hint())
	}
	if *report != "" && len(findings) > 0 {
		client := &http.Client{Timeout: 30 * time.Second}
		if *insecure {
			client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // asked for with --insecure
		}
		if err := reportFindings(client, *report, findings); err != nil {
			fmt.Fprintf(stderr, "keygate: report: %v\n", err)
			failed = true
		} else {
			fmt.Fprintf(stderr, "Reported %d keys to %s.\n", len(findings), *report)
		}
	}
	switch {
	case failed:
		return 2
	case len(findings) > 0:
		return 1
	}
	return 0
}

// scanPaths walks paths and returns the keys found; failed says whether
// anything could not be read (said on stderr).
func scanPaths(paths []string, stderr io.Writer) (found []scanFinding, failed bool) {
	for _, root := range paths {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != root && scanSkipDirs[d.Name()] {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			keys, err := scanFile(path)
			found = append(found, keys...)
			return err
		})
		if err != nil {
			fmt.Fprintf(stderr, "keygate: scan: %v\n", err)
			failed = true
		}
	}
	return found, failed
}

// scanFile returns the keys in one file, skipping files over
// scanMaxFileSize and binary ones.
func scanFile(path string) ([]scanFinding, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.Size() > scanMaxFileSize {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if bytes.IndexByte(data[:min(len(data), scanSniffLen)], 0) >= 0 {
		return nil, nil
	}
	var out []scanFinding
	for _, m := range keyCandidate.FindAllIndex(data, -1) {
		// A longer run of base62 is not a key that ends here.
		if (m[0] > 0 && isKeyByte(data[m[0]-1])) || (m[1] < len(data) && isKeyByte(data[m[1]])) {
			continue
		}
		key, err := apikey.Parse(string(data[m[0]:m[1]]))
		if err != nil {
			continue
		}
		out = append(out, scanFinding{path: path, line: 1 + bytes.Count(data[:m[0]], []byte("\n")), key: key})
	}
	return out, nil
}

func isKeyByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
}

// reportFindings posts each key to the instance's leak report endpoint.
func reportFindings(client *http.Client, base string, findings []scanFinding) error {
	endpoint := strings.TrimSuffix(base, "/") + "/api/v1/keys/report-leak"
	for _, f := range findings {
		where := f.path
		if abs, err := filepath.Abs(f.path); err == nil {
			where = abs
		}
		body, _ := json.Marshal(map[string]string{
			"key": f.key.String(), "url": fmt.Sprintf("file://%s:%d", filepath.ToSlash(where), f.line), "source": "keygate scan",
		})
		if err := postLeak(client, endpoint, body); err != nil {
			return err
		}
	}
	return nil
}

func postLeak(client *http.Client, endpoint string, body []byte) error {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s answered %s: %s", endpoint, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
