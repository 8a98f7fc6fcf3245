package loadtest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/sqlstore"
)

// clockTick is the unit of the CPU times in /proc/PID/stat (USER_HZ),
// 100 a second on every Linux.
const clockTick = 10 * time.Millisecond

// pgCPU reads the CPU time PostgreSQL's backends spend on the benchmark's
// database, from /proc: the server runs beside the benchmark, and its
// share of the work counts in the cost of a request as much as Keygate's.
type pgCPU struct {
	db *sqlstore.DB
}

// newPGCPU returns a pgCPU for db's server, or nil when its processes
// cannot be read (a server on another machine, or no /proc).
func newPGCPU(ctx context.Context, db *sqlstore.DB) (*pgCPU, error) {
	c := &pgCPU{db: db}
	snap, err := c.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	if len(snap) == 0 {
		return nil, nil
	}
	return c, nil
}

// snapshot returns the CPU time so far of each backend connected to the
// database, by pid; backends whose /proc entry cannot be read are left
// out.
func (c *pgCPU) snapshot(ctx context.Context) (map[int]time.Duration, error) {
	rows, err := c.db.ReadConn().QueryContext(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		return nil, fmt.Errorf("list PostgreSQL backends: %w", err)
	}
	defer rows.Close()
	out := map[int]time.Duration{}
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			return nil, err
		}
		if d, ok := procCPU(pid); ok {
			out[pid] = d
		}
	}
	return out, rows.Err()
}

// procCPU returns the user and system CPU time of process pid.
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name, field 2, is in parentheses and may hold spaces:
	// the fields are counted from its end. utime and stime are 14 and 15.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * clockTick, true
}

// cpuBetween is the CPU time the backends of after used since before;
// a backend that was not there before counts from its start.
func cpuBetween(before, after map[int]time.Duration) time.Duration {
	var d time.Duration
	for pid, t := range after {
		d += t - before[pid]
	}
	return d
}
