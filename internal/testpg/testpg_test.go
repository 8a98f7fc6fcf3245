package testpg_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/keygate/keygate/internal/testenv"

	"github.com/keygate/keygate/internal/testpg"
)

func TestServer(t *testing.T) {
	s, err := testpg.Start()
	if err != nil {
		testenv.SkipUnlessCI(t, "PostgreSQL could not be started: "+err.Error())
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
