package testpg_test

import (
	"context"
	"database/sql"
	"os"
	"testing"

	"github.com/keygate/keygate/internal/testpg"
)

func TestServer(t *testing.T) {
	s, err := testpg.Start()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("PostgreSQL could not be started, skipping: %v", err)
	}
	defer s.Stop()
	url, err := s.CreateDatabase(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v string
	if err := db.QueryRow(`SHOW fsync`).Scan(&v); err != nil || v != "off" {
		t.Fatalf("fsync = %q, %v", v, err)
	}
}
