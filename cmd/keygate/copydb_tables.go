package main

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/keygate/keygate/internal/sqlstore"
)

// The copy reads table and column names from the two catalogs, never from
// input, and still quotes them as identifiers.

// copyTable is one table to copy: its columns as PostgreSQL has them, and
// what to do with them.
type copyTable struct {
	name    string
	cols    []string
	types   []string // PostgreSQL's data_type of each column
	orderBy string   // the SQLite ORDER BY: the primary key, or rowid
	// identity is the identity column, "" for none; seq the highest id
	// SQLite's AUTOINCREMENT ever handed out, which may exceed the rows'.
	identity string
	seq      int64
}

// quoteIdent quotes a name for either engine.
func quoteIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// pgTables lists the target's tables, bar the migrations' own.
func pgTables(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations'
		ORDER BY table_name`)
	if err != nil {
		return nil, fmt.Errorf("list PostgreSQL tables: %w", err)
	}
	return scanStrings(rows)
}

func scanStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// mustBeEmpty refuses a target any of whose tables (all of them, or only)
// holds a row.
func mustBeEmpty(ctx context.Context, db *sql.DB, only []string) error {
	tables := only
	if tables == nil {
		var err error
		if tables, err = pgTables(ctx, db); err != nil {
			return err
		}
	}
	for _, t := range tables {
		var n int64
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quoteIdent(t)).Scan(&n); err != nil {
			return fmt.Errorf("count %s in the target: %w", t, err)
		}
		if n > 0 {
			return fmt.Errorf("%w: table %s has %d %s. copy-db copies only into an empty database: create a new one (CREATE DATABASE) and start no replica on it before the copy",
				errNotEmpty, t, n, plural(int(n), "row", "rows"))
		}
	}
	return nil
}

// planCopy matches the two schemas table by table and column by column
// and orders the tables so that every table comes after those its foreign
// keys reference.
func planCopy(ctx context.Context, from, to *sqlstore.DB) ([]*copyTable, error) {
	src, dst := from.ReadConn(), to.WriteConn()
	rows, err := src.QueryContext(ctx, `SELECT name FROM sqlite_master
		WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name <> 'schema_migrations' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list SQLite tables: %w", err)
	}
	srcTables, err := scanStrings(rows)
	if err != nil {
		return nil, fmt.Errorf("list SQLite tables: %w", err)
	}
	dstTables, err := pgTables(ctx, dst)
	if err != nil {
		return nil, err
	}
	for _, t := range srcTables {
		if !slices.Contains(dstTables, t) {
			return nil, fmt.Errorf("table %s of the SQLite database has no counterpart in PostgreSQL at the same schema version", t)
		}
	}
	seqs, err := sqliteSequences(ctx, src)
	if err != nil {
		return nil, err
	}
	var plan []*copyTable
	for _, name := range dstTables {
		if !slices.Contains(srcTables, name) {
			continue // a table of PostgreSQL's alone: nothing to copy into it
		}
		t := &copyTable{name: name, seq: seqs[name]}
		if err := t.columns(ctx, src, dst); err != nil {
			return nil, err
		}
		plan = append(plan, t)
	}
	return orderByReferences(ctx, dst, plan)
}

// sqliteSequences returns each AUTOINCREMENT table's highest id ever used.
func sqliteSequences(ctx context.Context, src *sql.DB) (map[string]int64, error) {
	out := map[string]int64{}
	var n int
	if err := src.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE name = 'sqlite_sequence'`).Scan(&n); err != nil || n == 0 {
		return out, err
	}
	rows, err := src.QueryContext(ctx, `SELECT name, seq FROM sqlite_sequence`)
	if err != nil {
		return nil, fmt.Errorf("read sqlite_sequence: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var seq int64
		if err := rows.Scan(&name, &seq); err != nil {
			return nil, err
		}
		out[name] = seq
	}
	return out, rows.Err()
}

// columns fills in the table's columns, which must be the same on both
// sides, its identity column and the order to read SQLite's rows in.
func (t *copyTable) columns(ctx context.Context, src, dst *sql.DB) error {
	rows, err := dst.QueryContext(ctx, `SELECT column_name, data_type, is_identity FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, t.name)
	if err != nil {
		return fmt.Errorf("columns of %s in PostgreSQL: %w", t.name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var col, typ, identity string
		if err := rows.Scan(&col, &typ, &identity); err != nil {
			return err
		}
		t.cols, t.types = append(t.cols, col), append(t.types, typ)
		if identity == "YES" {
			t.identity = col
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}

	rows, err = src.QueryContext(ctx, `SELECT name, pk FROM pragma_table_info($1) ORDER BY pk, cid`, t.name)
	if err != nil {
		return fmt.Errorf("columns of %s in SQLite: %w", t.name, err)
	}
	defer rows.Close()
	var srcCols, pk []string
	for rows.Next() {
		var col string
		var pkPos int
		if err := rows.Scan(&col, &pkPos); err != nil {
			return err
		}
		srcCols = append(srcCols, col)
		if pkPos > 0 {
			pk = append(pk, quoteIdent(col))
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range srcCols {
		if !slices.Contains(t.cols, c) {
			return fmt.Errorf("column %s.%s of the SQLite database is not in PostgreSQL", t.name, c)
		}
	}
	for _, c := range t.cols {
		if !slices.Contains(srcCols, c) {
			return fmt.Errorf("column %s.%s of PostgreSQL is not in the SQLite database", t.name, c)
		}
	}
	// Rows go in key order, so that a row referring to an earlier one of
	// its table (a rolled key to its predecessor) finds it there.
	t.orderBy = "rowid"
	if len(pk) > 0 {
		t.orderBy = strings.Join(pk, ", ")
	}
	return nil
}

// orderByReferences sorts the plan so that each table follows the tables
// its foreign keys reference (a table's references to itself aside).
func orderByReferences(ctx context.Context, dst *sql.DB, plan []*copyTable) ([]*copyTable, error) {
	rows, err := dst.QueryContext(ctx, `SELECT a.relname, b.relname FROM pg_constraint c
		JOIN pg_class a ON a.oid = c.conrelid
		JOIN pg_class b ON b.oid = c.confrelid
		JOIN pg_namespace n ON n.oid = a.relnamespace
		WHERE c.contype = 'f' AND n.nspname = current_schema()`)
	if err != nil {
		return nil, fmt.Errorf("read foreign keys: %w", err)
	}
	defer rows.Close()
	needs := map[string][]string{}
	for rows.Next() {
		var from, to string
		if err := rows.Scan(&from, &to); err != nil {
			return nil, err
		}
		if from != to {
			needs[from] = append(needs[from], to)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []*copyTable
	done := map[string]bool{}
	for len(out) < len(plan) {
		progress := false
		for _, t := range plan {
			if done[t.name] {
				continue
			}
			ready := true
			for _, dep := range needs[t.name] {
				if !done[dep] && slices.ContainsFunc(plan, func(p *copyTable) bool { return p.name == dep }) {
					ready = false
				}
			}
			if ready {
				out, done[t.name], progress = append(out, t), true, true
			}
		}
		if !progress {
			return nil, fmt.Errorf("the foreign keys of the PostgreSQL schema form a cycle: no order to copy the tables in")
		}
	}
	return out, nil
}

// runCopy copies the planned tables in one PostgreSQL transaction, from
// one SQLite read transaction, and checks each table's row count.
func runCopy(ctx context.Context, from, to *sqlstore.DB, plan []*copyTable) ([]tableCount, error) {
	srcTx, err := from.ReadConn().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("read SQLite: %w", err)
	}
	defer srcTx.Rollback()
	conn, err := to.WriteConn().Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close()
	var out []tableCount
	err = conn.Raw(func(driverConn any) error {
		pc, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("unexpected PostgreSQL driver connection %T", driverConn)
		}
		out, err = copyTables(ctx, srcTx, pc.Conn(), plan)
		return err
	})
	return out, err
}

func copyTables(ctx context.Context, src *sql.Tx, pc *pgx.Conn, plan []*copyTable) ([]tableCount, error) {
	tx, err := pc.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// EXCLUSIVE lets others read but not write until the commit: a replica
	// started on the target meanwhile cannot slip rows in between the check
	// below and the copy.
	names := make([]string, len(plan))
	for i, t := range plan {
		names[i] = quoteIdent(t.name)
	}
	if len(names) > 0 {
		if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(names, ", ")+` IN EXCLUSIVE MODE`); err != nil {
			return nil, fmt.Errorf("lock the target's tables: %w", err)
		}
	}
	out := make([]tableCount, 0, len(plan))
	for _, t := range plan {
		var before int64
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM `+quoteIdent(t.name)).Scan(&before); err != nil {
			return nil, fmt.Errorf("count %s in the target: %w", t.name, err)
		}
		if before > 0 {
			return nil, fmt.Errorf("%w: table %s has %d %s", errNotEmpty, t.name, before, plural(int(before), "row", "rows"))
		}
		n, err := t.copy(ctx, src, tx)
		if err != nil {
			return nil, err
		}
		out = append(out, tableCount{name: t.name, rows: n})
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return out, nil
}

// copy streams the table's rows into PostgreSQL with COPY, checks that
// both sides now count the same rows, and moves the identity sequence past
// every id SQLite used.
func (t *copyTable) copy(ctx context.Context, src *sql.Tx, tx pgx.Tx) (int64, error) {
	var want int64
	if err := src.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quoteIdent(t.name)).Scan(&want); err != nil {
		return 0, fmt.Errorf("count %s in SQLite: %w", t.name, err)
	}
	cols := make([]string, len(t.cols))
	for i, c := range t.cols {
		cols[i] = quoteIdent(c)
	}
	rows, err := src.QueryContext(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+quoteIdent(t.name)+` ORDER BY `+t.orderBy)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", t.name, err)
	}
	defer rows.Close()
	n, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.cols, &rowSource{rows: rows, types: t.types})
	if err != nil {
		return 0, fmt.Errorf("copy %s: %w", t.name, err)
	}
	var got int64
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM `+quoteIdent(t.name)).Scan(&got); err != nil {
		return 0, fmt.Errorf("count %s in the target: %w", t.name, err)
	}
	if n != want || got != want {
		return 0, fmt.Errorf("table %s: SQLite has %d rows, %d were copied and PostgreSQL has %d; nothing was kept", t.name, want, n, got)
	}
	if t.identity != "" {
		if err := t.resetIdentity(ctx, tx); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// resetIdentity sets the identity sequence so that the next id is past
// both the highest copied id and the highest SQLite ever handed out: ids
// are never used twice, as on SQLite.
func (t *copyTable) resetIdentity(ctx context.Context, tx pgx.Tx) error {
	var maxID int64
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(`+quoteIdent(t.identity)+`), 0) FROM `+quoteIdent(t.name)).Scan(&maxID); err != nil {
		return fmt.Errorf("highest id of %s: %w", t.name, err)
	}
	last := max(maxID, t.seq)
	if last < 1 {
		return nil // a fresh sequence starts at 1
	}
	if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, $2), $3, true)`, quoteIdent(t.name), t.identity, last); err != nil {
		return fmt.Errorf("reset the identity of %s: %w", t.name, err)
	}
	return nil
}

// rowSource feeds SQLite rows to COPY, converting what SQLite's dynamic
// types may hold to what the PostgreSQL column takes.
type rowSource struct {
	rows  *sql.Rows
	types []string
	vals  []any
	err   error
}

func (r *rowSource) Next() bool { return r.err == nil && r.rows.Next() }

func (r *rowSource) Values() ([]any, error) {
	if r.vals == nil {
		r.vals = make([]any, len(r.types))
	}
	ptrs := make([]any, len(r.vals))
	for i := range r.vals {
		ptrs[i] = &r.vals[i]
	}
	if err := r.rows.Scan(ptrs...); err != nil {
		r.err = err
		return nil, err
	}
	out := make([]any, len(r.vals))
	for i, v := range r.vals {
		out[i] = convertValue(v, r.types[i])
	}
	return out, nil
}

func (r *rowSource) Err() error {
	if r.err != nil {
		return r.err
	}
	return r.rows.Err()
}

// convertValue adapts a SQLite value to a PostgreSQL column type: a BLOB
// column may hold text, a TEXT column bytes, a REAL column an integer.
func convertValue(v any, pgType string) any {
	switch pgType {
	case "bytea":
		if s, ok := v.(string); ok {
			return []byte(s)
		}
	case "text", "character varying", "character":
		if b, ok := v.([]byte); ok {
			return string(b)
		}
	case "double precision", "real", "numeric":
		if n, ok := v.(int64); ok {
			return float64(n)
		}
	case "boolean":
		if n, ok := v.(int64); ok {
			return n != 0
		}
	}
	return v
}
