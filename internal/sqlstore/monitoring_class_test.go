package sqlstore_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/internal/usage"
)

// classStatuses are every status of 100-599 and a few outside.
func classStatuses() []int {
	out := []int{-1, 0, 99, 600, 601, 699, 999, 1000}
	for s := 100; s <= 599; s++ {
		out = append(out, s)
	}
	return out
}

// TestStatusClassExpr checks that the database classes every status as
// keygate.StatusClassOf does, and so do the usage counters: a filter of the
// logs by class and the chart's counts then agree.
func TestStatusClassExpr(t *testing.T) {
	t.Parallel()
	db, _ := mustOpenDB(t)
	stmt, err := db.ReadConn().Prepare(`SELECT ` + sqlstore.StatusClassExpr + ` FROM (SELECT CAST($1 AS INTEGER) AS status) AS r`)
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	for _, status := range classStatuses() {
		want := keygate.StatusClassOf(status)
		var got string
		if err := stmt.QueryRowContext(context.Background(), status).Scan(&got); err != nil {
			t.Fatalf("status %d: %v", status, err)
		}
		if got != want {
			t.Errorf("SQL class of %d = %q, want %q", status, got, want)
		}
		if got := (usage.Event{Status: status}).Class(); got != want {
			t.Errorf("usage class of %d = %q, want %q", status, got, want)
		}
	}
}

// TestStatusClassExpr_IndexMatches checks that request_log_org_class
// indexes the very expression the queries filter on: an index on another
// expression would go unused.
func TestStatusClassExpr_IndexMatches(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		b, err := os.ReadFile("migrations/" + engine + "/0017_request_log_rows.sql")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), sqlstore.StatusClassExpr) {
			t.Errorf("%s: request_log_org_class is not on StatusClassExpr", engine)
		}
	}
}
