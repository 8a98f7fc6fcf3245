package sqlstore_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/keygate/keygate/internal/testenv"

	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/internal/testpg"
)

// testEngine is the engine this run of the suite tests: SQLite, or
// PostgreSQL with KEYGATE_TEST_ENGINE=postgres (./scripts/test runs both).
// Every test of the package is the store's contract, run on each engine.
var testEngine = sqlstore.Engine(cmp.Or(os.Getenv("KEYGATE_TEST_ENGINE"), string(sqlstore.EngineSQLite)))

func TestMain(m *testing.M) {
	code := m.Run()
	testpg.StopShared()
	os.Exit(code)
}

// onPostgres reports whether the suite runs on PostgreSQL.
func onPostgres() bool { return testEngine == sqlstore.EnginePostgres }

// skipOnPostgres skips a test of SQLite itself (its files, pragmas and
// upgrades from its older formats).
func skipOnPostgres(tb testing.TB) {
	tb.Helper()
	if onPostgres() {
		tb.Skip("tests SQLite itself")
	}
}

// pgServer returns the test PostgreSQL server. Under CI=true a server that
// cannot be started fails the test; elsewhere it is skipped, loudly.
func pgServer(tb testing.TB) *testpg.Server {
	tb.Helper()
	s, err := testpg.Shared()
	if err != nil {
		testenv.SkipUnlessCI(tb, fmt.Sprintf("SKIPPING the PostgreSQL half of the store's tests: %v", err))
	}
	return s
}

var (
	templateOnce sync.Once
	templateErr  error
)

// templateDB is a migrated database that each test's database copies.
const templateDB = "keygate_template"

// newTestDB returns an unopened database of the suite's engine: an SQLite
// file under tb.TempDir(), or a PostgreSQL database of its own, migrated
// already unless empty.
func newTestDB(tb testing.TB, empty bool) *sqlstore.DB {
	tb.Helper()
	if !onPostgres() {
		return sqlstore.NewDB(filepath.Join(tb.TempDir(), "keygate.db"))
	}
	s := pgServer(tb)
	ctx := context.Background()
	template := ""
	if !empty {
		templateOnce.Do(func() { templateErr = migrateTemplate(ctx, s) })
		if templateErr != nil {
			tb.Fatal(templateErr)
		}
		template = templateDB
	}
	url, err := s.CreateDatabase(ctx, template)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.DropDatabase(context.Background(), url) })
	return sqlstore.NewPostgresDB(url)
}

func migrateTemplate(ctx context.Context, s *testpg.Server) error {
	url, err := s.CreateNamedDatabase(ctx, templateDB)
	if err != nil {
		return err
	}
	db := sqlstore.NewPostgresDB(url)
	if err := db.OpenAndMigrate(ctx); err != nil {
		return fmt.Errorf("migrate the template database: %w", err)
	}
	return db.Close()
}
