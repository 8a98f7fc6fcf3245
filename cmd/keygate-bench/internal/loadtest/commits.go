package loadtest

import (
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"modernc.org/sqlite"
)

// commitCounters maps a database file to the number of write transactions
// committed on it, counted by SQLite itself through a commit hook on every
// connection the driver opens. It checks the usage buffer's own count
// independently: a write on the request path that bypassed the buffer would
// show up here and not there.
var commitCounters sync.Map // path -> *atomic.Uint64

var registerHook sync.Once

// countCommits starts counting commits on the database file at path. It
// must be called before the database is opened.
func countCommits(path string) *atomic.Uint64 {
	registerHook.Do(func() {
		sqlite.RegisterConnectionHook(func(conn sqlite.ExecQuerierContext, dsn string) error {
			n, ok := commitCounters.Load(dsnPath(dsn))
			if !ok {
				return nil
			}
			if h, ok := conn.(sqlite.HookRegisterer); ok {
				counter := n.(*atomic.Uint64)
				// SQLite calls the hook only for transactions that wrote;
				// returning 0 lets the commit proceed.
				h.RegisterCommitHook(func() int32 { counter.Add(1); return 0 })
			}
			return nil
		})
	})
	n := &atomic.Uint64{}
	commitCounters.Store(path, n)
	return n
}

// forgetCommits stops tracking path.
func forgetCommits(path string) { commitCounters.Delete(path) }

// dsnPath extracts the file path from a "file:PATH?query" data source
// name, undoing the escaping of '%', '?' and '#' in PATH.
func dsnPath(dsn string) string {
	p := strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if u, err := url.PathUnescape(p); err == nil {
		return u
	}
	return p
}
