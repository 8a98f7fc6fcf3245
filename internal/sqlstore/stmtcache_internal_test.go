package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
)

func TestReadPoolPreparesOnce(t *testing.T) {
	pool, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "k.db"), false))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ctx := context.Background()
	if _, err := pool.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		pool.ExecContext(ctx, `INSERT INTO t (v) VALUES ($1)`, fmt.Sprint("v", i))
	}
	p := newReadPool(pool, true)
	defer p.close()

	for i := range 3 {
		var v string
		if err := p.QueryRowContext(ctx, `SELECT v FROM t WHERE id = $1`, i+1).Scan(&v); err != nil || v != fmt.Sprint("v", i) {
			t.Fatalf("row %d = %q, %v", i+1, v, err)
		}
	}
	if got := p.n.Load(); got != 1 {
		t.Fatalf("prepared %d statements for one query text, want 1", got)
	}
	// A schema change does not break a prepared statement: SQLite
	// prepares it again.
	if _, err := pool.ExecContext(ctx, `ALTER TABLE t ADD COLUMN w TEXT`); err != nil {
		t.Fatal(err)
	}
	var v string
	if err := p.QueryRowContext(ctx, `SELECT v FROM t WHERE id = $1`, 2).Scan(&v); err != nil || v != "v1" {
		t.Fatalf("after ALTER: %q, %v", v, err)
	}
	// The cache is bounded; queries past the bound still answer.
	for i := range maxCachedStmts + 10 {
		rows, err := p.QueryContext(ctx, fmt.Sprintf(`SELECT %d, v FROM t`, i))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		if n != 3 {
			t.Fatalf("query %d returned %d rows", i, n)
		}
	}
	if got := p.n.Load(); got != maxCachedStmts {
		t.Fatalf("cache holds %d statements, want the bound %d", got, maxCachedStmts)
	}
	// A query that does not prepare reports its error.
	if err := p.QueryRowContext(ctx, `SELECT nope FROM t`).Scan(&v); err == nil {
		t.Fatal("a bad query did not fail")
	}
}

func TestReadPoolOff(t *testing.T) {
	pool, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "k.db"), false))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	p := newReadPool(pool, false)
	var one int
	if err := p.QueryRowContext(context.Background(), `SELECT 1`).Scan(&one); err != nil || one != 1 {
		t.Fatal(one, err)
	}
	if p.n.Load() != 0 {
		t.Fatal("a pool without caching prepared a statement")
	}
}
