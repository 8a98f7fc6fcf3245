package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// Services lists the services the organization's keys (or one key) were
// checked for in the last 30 days, busiest first, from the hourly
// counters by service.
func (s *MonitoringService) Services(ctx context.Context, orgID, keyID string) ([]keygate.ServiceUsage, error) {
	tx, scope, err := s.beginFigures(ctx, orgID, keyID)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	col, id := scope.column()
	d := daysAt(s.db.Now())
	rows, err := tx.QueryContext(ctx, `
		SELECT service, SUM(count), SUM(CASE WHEN status_class IN ($4, $5) THEN count ELSE 0 END)
		FROM usage_service_hourly WHERE `+col+` = $1 AND hour >= $2 AND hour < $3
		GROUP BY service`, id, ms(d.last(30)), ms(d.tomorrow), keygate.Class4xx, keygate.Class5xx)
	if err != nil {
		return nil, fmt.Errorf("usage by service: %w", err)
	}
	defer rows.Close()
	var out []keygate.ServiceUsage
	for rows.Next() {
		var u keygate.ServiceUsage
		if err := rows.Scan(&u.Service, &u.Requests, &u.Errors); err != nil {
			return nil, fmt.Errorf("usage by service: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usage by service: %w", err)
	}
	slices.SortFunc(out, func(a, b keygate.ServiceUsage) int {
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), cmp.Compare(a.Service, b.Service))
	})
	return out, nil
}

// ServiceSummary returns the organization's figures for today and the last
// 30 days of the calls for one service. Any member may read them, as the
// organization's Summary.
func (s *MonitoringService) ServiceSummary(ctx context.Context, orgID, service string) (*keygate.UsageSummary, error) {
	daily, err := s.ServiceDaily(ctx, orgID, service, 30)
	if err != nil {
		return nil, err
	}
	var sum keygate.UsageSummary
	for i, day := range daily {
		for class, n := range day.Counts {
			sum.Requests30d += n
			if i == len(daily)-1 {
				sum.RequestsToday += n
			}
			switch class {
			case keygate.Class4xx, keygate.Class5xx:
				sum.Errors30d += n
			case keygate.Class429:
				sum.Throttled30d += n
			}
		}
	}
	return &sum, nil
}

// ServiceDaily returns one entry per UTC day for the last n days (today
// included, oldest first) of the calls for one service.
func (s *MonitoringService) ServiceDaily(ctx context.Context, orgID, service string, n int) ([]keygate.DailyUsage, error) {
	tx, scope, err := s.beginFigures(ctx, orgID, "")
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	d := daysAt(s.db.Now())
	out, err := emptyDays(d, n)
	if err != nil {
		return nil, err
	}
	first := out[0].Day
	rows, err := tx.QueryContext(ctx, `
		SELECT status_class, hour / $5 * $5, SUM(count) FROM usage_service_hourly
		WHERE organization_id = $1 AND service = $2 AND hour >= $3 AND hour < $4
		GROUP BY status_class, hour / $5 * $5`, scope.orgID, service, ms(first), ms(d.tomorrow), int64(dayMS))
	if err != nil {
		return nil, fmt.Errorf("daily usage by service: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var class string
		var day int64
		var count int
		if err := rows.Scan(&class, &day, &count); err != nil {
			return nil, fmt.Errorf("daily usage by service: %w", err)
		}
		i := int(time.UnixMilli(day).UTC().Sub(first) / (24 * time.Hour))
		if i >= 0 && i < n {
			out[i].Counts[class] += count
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("daily usage by service: %w", err)
	}
	return out, nil
}
