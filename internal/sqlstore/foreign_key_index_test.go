package sqlstore_test

import (
	"database/sql"
	"slices"
	"testing"
)

// Queries of table.column: the first column of every foreign key, and of
// every index that covers all rows (not partial), on each engine.
const (
	foreignKeyColumnsSQLite = `SELECT m.name || '.' || f."from"
		FROM sqlite_master m, pragma_foreign_key_list(m.name) f
		WHERE m.type = 'table' AND f.seq = 0`
	// A table's INTEGER PRIMARY KEY is its rowid, the table's own order:
	// no index lists it.
	indexedColumnsSQLite = `SELECT m.name || '.' || ii.name
		FROM sqlite_master m, pragma_index_list(m.name) il, pragma_index_info(il.name) ii
		WHERE m.type = 'table' AND ii.seqno = 0 AND il.partial = 0
		UNION SELECT m.name || '.' || c.name
		FROM sqlite_master m, pragma_table_info(m.name) c
		WHERE m.type = 'table' AND c.pk = 1 AND upper(c.type) = 'INTEGER'
		AND NOT EXISTS (SELECT 1 FROM pragma_table_info(m.name) o WHERE o.pk > 1)`
	foreignKeyColumnsPostgres = `SELECT c.conrelid::regclass::text || '.' || a.attname
		FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
		WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace`
	indexedColumnsPostgres = `SELECT i.indrelid::regclass::text || '.' || a.attname
		FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
		JOIN pg_class t ON t.oid = i.indrelid
		WHERE t.relnamespace = 'public'::regnamespace AND i.indpred IS NULL`
)

// TestForeignKeysIndexed checks that every foreign key column leads an
// index: a delete of the parent row, or a lookup by the column, would
// otherwise scan the whole child table.
func TestForeignKeysIndexed(t *testing.T) {
	t.Parallel()
	db, _ := mustOpenDB(t)
	fks, indexed := foreignKeyColumnsSQLite, indexedColumnsSQLite
	if onPostgres() {
		fks, indexed = foreignKeyColumnsPostgres, indexedColumnsPostgres
	}
	keys := queryStrings(t, db.WriteConn(), fks)
	if len(keys) == 0 {
		t.Fatal("no foreign keys found")
	}
	leading := queryStrings(t, db.WriteConn(), indexed)
	for _, k := range keys {
		if !slices.Contains(leading, k) {
			t.Errorf("foreign key %s leads no index", k)
		}
	}
}

// queryStrings returns the one text column of query's rows.
func queryStrings(tb testing.TB, conn *sql.DB, query string) []string {
	tb.Helper()
	rows, err := conn.Query(query)
	if err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			tb.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}
