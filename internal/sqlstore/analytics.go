package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// AnalyticsService sums up the API key organization's use of the API.
type AnalyticsService struct {
	db *DB
}

// NewAnalyticsService returns an AnalyticsService on db.
func NewAnalyticsService(db *DB) *AnalyticsService { return &AnalyticsService{db: db} }

// analyticsMaxRange is the longest range Analytics sums over.
const analyticsMaxRange = 366 * 24 * time.Hour

const analyticsDayMS = int64(24 * time.Hour / time.Millisecond)

// Analytics sums up the organization's use of the API in [from, to):
//
//   - BotsByState: bots created in the range, by the state they are in now;
//     every state is present, with 0 when no bot is in it.
//   - Conversations: those started in the range, or created in it when they
//     have no started_at; TranscriptMinutes sums their segments' lengths.
//   - RequestsPerDay: one entry per UTC day from from's day to the day
//     before to (to's day too when to is not midnight), zeros included.
//     Usage is counted by hour, so from's day counts whole, from midnight,
//     and the hour holding to counts whole.
//
// Returns EUNAUTHORIZED without an organization, and EINVALID when from is
// not before to or the range is longer than 366 days.
func (s *AnalyticsService) Analytics(ctx context.Context, from, to time.Time) (*keygate.Analytics, error) {
	orgID, err := apiOrgID(ctx)
	if err != nil {
		return nil, err
	}
	from, to = from.UTC(), to.UTC()
	if !from.Before(to) {
		return nil, keygate.Errorf(keygate.EINVALID, "The start of the range must be before its end.")
	}
	if to.Sub(from) > analyticsMaxRange {
		return nil, keygate.Errorf(keygate.EINVALID, "The range must be at most 366 days.")
	}
	a := &keygate.Analytics{From: from, To: to}

	// One read transaction, so the numbers come from one snapshot.
	tx, err := s.db.reader().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("analytics: %w", err)
	}
	defer tx.Rollback()
	if a.BotsByState, err = botsByState(ctx, tx, orgID, ms(s.db.Now()), from, to); err != nil {
		return nil, err
	}
	if err := conversationTotals(ctx, tx, orgID, from, to, a); err != nil {
		return nil, err
	}
	if a.RequestsPerDay, err = requestsPerDay(ctx, tx, orgID, from, to); err != nil {
		return nil, err
	}
	return a, nil
}

func botsByState(ctx context.Context, q queryer, orgID, now int64, from, to time.Time) (map[string]int, error) {
	counts := make(map[string]int, len(keygate.BotStates))
	for _, state := range keygate.BotStates {
		counts[state] = 0
	}
	rows, err := q.QueryContext(ctx, `
		SELECT `+botStateExpr+`, COUNT(*) FROM bots
		WHERE organization_id = $1 AND created_at >= $3 AND created_at < $4
		GROUP BY 1`, orgID, now, ms(from), ms(to))
	if err != nil {
		return nil, fmt.Errorf("count bots: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("count bots: %w", err)
		}
		counts[state] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count bots: %w", err)
	}
	return counts, nil
}

func conversationTotals(ctx context.Context, q queryer, orgID int64, from, to time.Time, a *keygate.Analytics) error {
	var speechMS int64
	err := q.QueryRowContext(ctx, `
		SELECT COUNT(DISTINCT c.id), COALESCE(SUM(s.end_ms - s.start_ms), 0)
		FROM conversations c LEFT JOIN transcript_segments s ON s.conversation_id = c.id
		WHERE c.organization_id = $1
			AND COALESCE(c.started_at, c.created_at) >= $2 AND COALESCE(c.started_at, c.created_at) < $3`,
		orgID, ms(from), ms(to)).Scan(&a.Conversations, &speechMS)
	if err != nil {
		return fmt.Errorf("count conversations: %w", err)
	}
	a.TranscriptMinutes = float64(speechMS) / 60000
	return nil
}

func requestsPerDay(ctx context.Context, q queryer, orgID int64, from, to time.Time) ([]keygate.DailyRequests, error) {
	first := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
	var days []keygate.DailyRequests
	for d := first; d.Before(to); d = d.Add(24 * time.Hour) {
		days = append(days, keygate.DailyRequests{Day: d.Format(time.DateOnly)})
	}
	rows, err := q.QueryContext(ctx, `
		SELECT hour - hour % $4, status_class, SUM(count) FROM usage_hourly
		WHERE organization_id = $1 AND hour >= $2 AND hour < $3
		GROUP BY 1, 2`, orgID, ms(first), ms(to), analyticsDayMS)
	if err != nil {
		return nil, fmt.Errorf("count requests: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var day int64
		var class string
		var n int
		if err := rows.Scan(&day, &class, &n); err != nil {
			return nil, fmt.Errorf("count requests: %w", err)
		}
		i := (day - ms(first)) / analyticsDayMS
		if i < 0 || i >= int64(len(days)) {
			continue
		}
		addRequests(&days[i], class, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count requests: %w", err)
	}
	return days, nil
}

func addRequests(d *keygate.DailyRequests, class string, n int) {
	switch class {
	case "2xx":
		d.Status2xx += n
	case "4xx":
		d.Status4xx += n
	case "5xx":
		d.Status5xx += n
	case "429":
		d.Status429 += n
	default:
		return
	}
	d.Total += n
}
