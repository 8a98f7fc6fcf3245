package main_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/testenv"

	"github.com/PuerkitoBio/goquery"
	"github.com/keygate/keygate/internal/secretbox"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/internal/testpg"
)

// pgServer returns the test PostgreSQL server. Under CI=true a server
// that cannot be started fails the test; elsewhere the test is skipped,
// loudly.
func pgServer(t *testing.T) *testpg.Server {
	t.Helper()
	s, err := testpg.Shared()
	if err != nil {
		testenv.SkipUnlessCI(t, fmt.Sprintf("SKIPPING a PostgreSQL test: %v", err))
	}
	return s
}

// mustCreatePGDatabase creates an empty database on the test server,
// dropped when the test ends, and returns its URL.
func mustCreatePGDatabase(t *testing.T) string {
	t.Helper()
	s := pgServer(t)
	u, err := s.CreateDatabase(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.DropDatabase(context.Background(), u) })
	return u
}

// withPassword returns the database URL with a user and password in it.
// The test server trusts every local connection, so the password is only
// there to be kept out of what Keygate prints.
func withPassword(t *testing.T, dbURL, user, password string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(user, password)
	return u.String()
}

// mustOpenPG opens the database at dbURL, closed when the test ends.
func mustOpenPG(t *testing.T, dbURL string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// mustOpenMigrated opens and migrates db; the caller closes it.
func mustOpenMigrated(t *testing.T, db *sqlstore.DB) *sqlstore.DB {
	t.Helper()
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(context.Background()); err != nil {
		db.Close()
		t.Fatal(err)
	}
	return db
}

// mustNewKey returns the secret of the key that the page p, the answer
// to a key created in the dashboard, shows once.
func mustNewKey(t *testing.T, p page) string {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := doc.Find("#new-api-key").Attr("value")
	if !strings.HasPrefix(key, "kg_") {
		t.Fatalf("no new key in the page (status %d on %s)", p.StatusCode, p.Request.URL)
	}
	return key
}

// newSecretKey returns a fresh master key, as KEYGATE_SECRET_KEY takes it.
func newSecretKey() string { return secretbox.EncodeKey(secretbox.GenerateKey()) }

// runBinary runs the binary with args and env to its end, and returns its
// combined output and exit code.
func runBinary(t *testing.T, bin string, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(childEnv(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("%s %s: %v", bin, strings.Join(args, " "), err)
		}
	}
	return string(out), cmd.ProcessState.ExitCode()
}
