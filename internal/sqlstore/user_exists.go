package sqlstore

import (
	"context"
	"fmt"
)

// HasUsers reports whether the instance has any account at all.
func (s *UserService) HasUsers(ctx context.Context) (bool, error) {
	var ok bool
	if err := s.db.reader().QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM users)`).Scan(&ok); err != nil {
		return false, fmt.Errorf("has users: %w", err)
	}
	return ok, nil
}
