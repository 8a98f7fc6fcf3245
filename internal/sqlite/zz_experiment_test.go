package sqlite_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/sqlite"
)

func TestZZMakeBenchDB(t *testing.T) {
	if os.Getenv("KG_EXP") == "" {
		t.Skip()
	}
	m := loadMonitoringBench(t, 1_000_000)
	os.Remove("/tmp/kgbench.db")
	if err := m.db.Backup(context.Background(), "/tmp/kgbench.db"); err != nil {
		t.Fatal(err)
	}
}

func TestZZQuery(t *testing.T) {
	q := os.Getenv("KG_Q")
	if q == "" {
		t.Skip()
	}
	db := sqlite.NewDB("/tmp/kgbench.db")
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	plan, err := db.ExplainQueryPlan(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(plan)
	for i := 0; i < 3; i++ {
		start := time.Now()
		rows, err := db.ReadConn().Query(q)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		t.Logf("%d rows in %v", n, time.Since(start))
	}
}
