// Package testpg gives tests a throwaway PostgreSQL server: Debian's
// postgresql package started from a temporary directory on a random
// loopback port, without fsync, and stopped when the tests end. As root,
// initdb and postgres run as the postgres user, since both refuse root.
//
// KEYGATE_TEST_DATABASE, a postgres:// URL of an existing server whose
// user may create databases, is used instead when it is set.
package testpg

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx database/sql driver
)

// EnvDatabase names an existing server to use instead of starting one.
const EnvDatabase = "KEYGATE_TEST_DATABASE"

// Server is a PostgreSQL server the tests may create databases on.
type Server struct {
	// URL is the admin connection URL (the postgres database).
	URL string

	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

var (
	shared     *Server
	sharedErr  error
	sharedOnce sync.Once
)

// Shared returns the process's server, starting it on first use. Call
// StopShared from TestMain when the tests are done.
func Shared() (*Server, error) {
	sharedOnce.Do(func() { shared, sharedErr = Start() })
	return shared, sharedErr
}

// StopShared stops the process's server, if one was started.
func StopShared() {
	if shared != nil {
		shared.Stop()
	}
}

// Start starts a server, or returns one for KEYGATE_TEST_DATABASE.
func Start() (*Server, error) {
	if u := os.Getenv(EnvDatabase); u != "" {
		return &Server{URL: u}, nil
	}
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "keygate-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, done: make(chan struct{})}
	cred, err := dropRoot(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "--no-sync", "--username=postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "-D", data)
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if s.log, err = os.Create(filepath.Join(dir, "postgres.log")); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "port="+strconv.Itoa(port),
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=64MB")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.log.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	if err := s.waitReady(30 * time.Second); err != nil {
		logText, _ := os.ReadFile(s.log.Name())
		s.Stop()
		return nil, fmt.Errorf("%w\n%s", err, logText)
	}
	return s, nil
}

// binDir finds initdb and postgres: the newest /usr/lib/postgresql/N/bin
// (Debian keeps them off PATH), else PATH.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin or on PATH): ./scripts/test installs Debian's postgresql package")
}

// dropRoot returns the credential to run the server with: the postgres
// user's when running as root, whose dir it then owns; nil otherwise.
func dropRoot(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the postgres user to start PostgreSQL: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		db, err := sql.Open("pgx", s.URL)
		if err == nil {
			err = db.Ping()
			db.Close()
		}
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return errors.New("postgres exited during start-up")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not answer within %v: %w", limit, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops a server that Start started, and removes its files.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		// SIGQUIT is PostgreSQL's immediate shutdown: nothing to keep.
		s.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
		}
	}
	if s.log != nil {
		s.log.Close()
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// CreateDatabase creates a database with a random name, a copy of
// template if one is given, and returns its URL.
func (s *Server) CreateDatabase(ctx context.Context, template string) (string, error) {
	name := "t_" + strings.ToLower(rand.Text()[:16])
	db, err := sql.Open("pgx", s.URL)
	if err != nil {
		return "", err
	}
	defer db.Close()
	q := `CREATE DATABASE ` + pgIdent(name)
	if template != "" {
		q += ` TEMPLATE ` + pgIdent(template)
	}
	if _, err := db.ExecContext(ctx, q); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	return s.DatabaseURL(name), nil
}

// DropDatabase drops the database at url, closing what is connected to it.
func (s *Server) DropDatabase(ctx context.Context, dbURL string) error {
	u, err := url.Parse(dbURL)
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(u.Path, "/")
	db, err := sql.Open("pgx", s.URL)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, `DROP DATABASE IF EXISTS `+pgIdent(name)+` WITH (FORCE)`)
	return err
}

// pgIdent quotes an identifier.
func pgIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// CreateNamedDatabase creates the database name, if it does not exist, and
// returns its URL.
func (s *Server) CreateNamedDatabase(ctx context.Context, name string) (string, error) {
	db, err := sql.Open("pgx", s.URL)
	if err != nil {
		return "", err
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil {
		return "", err
	}
	if n == 0 {
		if _, err := db.ExecContext(ctx, `CREATE DATABASE `+pgIdent(name)); err != nil {
			return "", fmt.Errorf("create database: %w", err)
		}
	}
	return s.DatabaseURL(name), nil
}

// DatabaseURL is the URL of the database name on the server.
func (s *Server) DatabaseURL(name string) string {
	u, err := url.Parse(s.URL)
	if err != nil {
		return s.URL
	}
	u.Path = "/" + name
	return u.String()
}

// Admin opens the server's postgres database, for tests that act on the
// server itself (pg_terminate_backend).
func (s *Server) Admin() (*sql.DB, error) { return sql.Open("pgx", s.URL) }
