package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/keygate/keygate/internal/keygate"
)

// Names of the instance settings. A missing row means the flag decides.
const (
	settingSignupMode  = "signup_mode"  // overrides --signup
	settingDefaultPlan = "default_plan" // overrides --default-plan
)

// instanceSetting returns a setting's value, or "" when none is set.
func instanceSetting(ctx context.Context, q queryer, name string) (string, error) {
	var v string
	err := q.QueryRowContext(ctx, `SELECT value FROM instance_settings WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("read setting %s: %w", name, err)
	}
	return v, nil
}

// putInstanceSetting stores a setting, or removes it when value is "".
func putInstanceSetting(ctx context.Context, tx *Tx, name, value string) error {
	var err error
	if value == "" {
		_, err = tx.ExecContext(ctx, `DELETE FROM instance_settings WHERE name = $1`, name)
	} else {
		_, err = tx.ExecContext(ctx, `INSERT INTO instance_settings (name, value) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	}
	if err != nil {
		return fmt.Errorf("save setting %s: %w", name, err)
	}
	return nil
}

// flagDefaultPlan is the --default-plan flag's plan.
func (db *DB) flagDefaultPlan() keygate.Plan {
	if db.DefaultPlan.Valid() {
		return db.DefaultPlan
	}
	return keygate.DefaultPlan
}

// defaultPlan is the plan of an organization created now: the superuser's
// setting if there is one, else the flag.
func (db *DB) defaultPlan(ctx context.Context, q queryer) (keygate.Plan, error) {
	v, err := instanceSetting(ctx, q, settingDefaultPlan)
	if err != nil {
		return "", err
	}
	if p := keygate.Plan(v); p.Valid() {
		return p, nil
	}
	return db.flagDefaultPlan(), nil
}

// signupMode is the signup mode in force: the superuser's setting if there
// is one, else the --signup flag (SignupMode).
func (s *UserService) signupMode(ctx context.Context, q queryer) (string, error) {
	v, err := instanceSetting(ctx, q, settingSignupMode)
	if err != nil {
		return "", err
	}
	if keygate.ValidSignupMode(v) {
		return v, nil
	}
	return s.SignupMode, nil
}

// CurrentSignupMode returns the signup mode in force.
func (s *UserService) CurrentSignupMode(ctx context.Context) (string, error) {
	return s.signupMode(ctx, s.db.reader())
}

// Settings returns the instance settings with the flags they override.
func (s *AdminService) Settings(ctx context.Context) (*keygate.InstanceSettings, error) {
	if _, err := superuser(ctx, s.db.reader()); err != nil {
		return nil, err
	}
	return s.settings(ctx, s.db.reader())
}

func (s *AdminService) settings(ctx context.Context, q queryer) (*keygate.InstanceSettings, error) {
	mode, err := instanceSetting(ctx, q, settingSignupMode)
	if err != nil {
		return nil, err
	}
	plan, err := instanceSetting(ctx, q, settingDefaultPlan)
	if err != nil {
		return nil, err
	}
	out := &keygate.InstanceSettings{SignupMode: mode, DefaultPlan: keygate.Plan(plan), FlagDefaultPlan: s.db.flagDefaultPlan()}
	if s.users != nil {
		out.FlagSignupMode = s.users.SignupMode
	}
	return out, nil
}

// SetSettings saves the overrides; an empty one gives the decision back to
// its flag.
func (s *AdminService) SetSettings(ctx context.Context, in keygate.InstanceSettings) (*keygate.InstanceSettings, error) {
	var v keygate.ValidationErrors
	if in.SignupMode != "" && !keygate.ValidSignupMode(in.SignupMode) {
		v.Add("signup_mode", "Choose open, invite or closed, or leave it to the --signup flag.")
	}
	if in.DefaultPlan != "" && !in.DefaultPlan.Valid() {
		v.Add("default_plan", "Choose Free, Professional or Enterprise, or leave it to the --default-plan flag.")
	}
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	// The superuser check comes first: others learn nothing, not even
	// which values are valid.
	if _, err := superuser(ctx, tx); err != nil {
		return nil, err
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := putInstanceSetting(ctx, tx, settingSignupMode, in.SignupMode); err != nil {
		return nil, err
	}
	if err := putInstanceSetting(ctx, tx, settingDefaultPlan, string(in.DefaultPlan)); err != nil {
		return nil, err
	}
	if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{
		Action: keygate.AuditInstanceSettings, TargetType: "instance",
		TargetName: "signup " + orFlag(in.SignupMode) + ", default plan " + orFlag(string(in.DefaultPlan)),
	}); err != nil {
		return nil, err
	}
	out, err := s.settings(ctx, tx)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("save settings: %w", err)
	}
	return out, nil
}

func orFlag(v string) string {
	if strings.TrimSpace(v) == "" {
		return "from the flag"
	}
	return v
}
