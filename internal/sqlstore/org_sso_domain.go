package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// Domain claims of organization single sign-on: a domain does nothing
// until its organization proves it owns it.

// domainSelect reads domain claims with their organization and whether
// another organization holds the domain verified.
const domainSelect = `SELECT d.domain, d.token, d.created_at, d.verified_at, d.verified_method, COALESCE(u.name, ''),
	o.public_id, o.name,
	EXISTS (SELECT 1 FROM org_sso_domains x WHERE x.domain = d.domain AND x.organization_id <> d.organization_id AND x.verified_at IS NOT NULL)
	FROM org_sso_domains d JOIN organizations o ON o.id = d.organization_id LEFT JOIN users u ON u.id = d.verified_by `

func loadDomains(ctx context.Context, q queryer, where string, args ...any) ([]*keygate.SSODomain, error) {
	rows, err := q.QueryContext(ctx, domainSelect+where, args...)
	if err != nil {
		return nil, fmt.Errorf("find sso domains: %w", err)
	}
	defer rows.Close()
	var out []*keygate.SSODomain
	for rows.Next() {
		var d keygate.SSODomain
		var created int64
		var verified sql.NullInt64
		if err := rows.Scan(&d.Domain, &d.Token, &created, &verified, &d.VerifiedMethod, &d.VerifiedByName,
			&d.OrgPublicID, &d.OrgName, &d.TakenElsewhere); err != nil {
			return nil, fmt.Errorf("find sso domains: %w", err)
		}
		d.CreatedAt, d.VerifiedAt = fromMS(created), fromNullMS(verified)
		out = append(out, &d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find sso domains: %w", err)
	}
	return out, nil
}

// loadDomain reads one organization's claim of a domain.
func loadDomain(ctx context.Context, q queryer, orgID int64, domain string) (*keygate.SSODomain, error) {
	list, err := loadDomains(ctx, q, `WHERE d.organization_id = $1 AND d.domain = $2`, orgID, domain)
	if err != nil {
		return nil, err
	} else if len(list) == 0 {
		return nil, keygate.Errorf(keygate.ENOTFOUND, "This organization has not claimed %s.", domain)
	}
	return list[0], nil
}

// checkDomainsFree refuses a domain another organization holds verified.
// A domain another organization has only claimed stays free: a claim
// proves nothing, and nobody may block a domain by typing it first.
func checkDomainsFree(ctx context.Context, tx *Tx, orgID int64, domains []string) error {
	for _, d := range domains {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM org_sso_domains WHERE domain = $1 AND organization_id <> $2 AND verified_at IS NOT NULL`,
			d, orgID).Scan(&n); err != nil {
			return fmt.Errorf("check sso domains: %w", err)
		}
		if n > 0 {
			return keygate.FieldError("domains", d+" is already used by another organization.")
		}
	}
	return nil
}

// syncDomains makes domains the organization's claims: a new one is
// claimed pending, with a fresh token; one left out is released, and the
// identities of its people from this provider with it. Claims kept keep
// their token and verification.
func syncDomains(ctx context.Context, tx *Tx, org *keygate.Organization, claimed, domains []string) error {
	for _, d := range domains {
		if slices.Contains(claimed, d) {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO org_sso_domains (organization_id, domain, token, created_at) VALUES ($1, $2, $3, $4)`,
			org.ID, d, newDomainToken(), ms(tx.now)); err != nil {
			return fmt.Errorf("save sso domains: %w", err)
		}
	}
	var released []string
	for _, d := range claimed {
		if slices.Contains(domains, d) {
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM org_sso_domains WHERE organization_id = $1 AND domain = $2`, org.ID, d); err != nil {
			return fmt.Errorf("release sso domain: %w", err)
		}
		released = append(released, d)
	}
	if len(released) == 0 {
		return nil
	}
	return deleteOrgIdentities(ctx, tx, org.PublicID, func(email string) bool {
		return slices.Contains(released, keygate.EmailDomain(email))
	})
}

// newDomainToken is a domain's challenge: random, and recognisable in a
// zone file.
func newDomainToken() string { return "keygate-" + strings.ToLower(rand.Text()) }

// domainCheckTimeout bounds the DNS lookup of a Verify.
const domainCheckTimeout = 10 * time.Second

// VerifyOrgSSODomain verifies a claim by its TXT record.
func (s *OrgSSOService) VerifyOrgSSODomain(ctx context.Context, orgID, domain string, dns keygate.TXTResolver) (*keygate.SSODomain, error) {
	org, err := orgSSOAdmin(ctx, s.db.reader(), orgID)
	if err != nil {
		return nil, err
	}
	claim, done, err := pendingClaim(ctx, s.db.reader(), org.ID, domain)
	if done || err != nil {
		return claim, err
	}
	// The lookup happens outside any transaction: it may take seconds.
	lctx, cancel := context.WithTimeout(ctx, domainCheckTimeout)
	defer cancel()
	if err := keygate.CheckDomainTXT(lctx, dns, claim); err != nil {
		return nil, err
	}
	return s.markVerified(ctx, org.ID, domain, keygate.DomainVerifiedDNS, nil)
}

// pendingClaim loads a claim to verify. done says there is nothing to do:
// it is verified already (and returned), or err says why it cannot be.
func pendingClaim(ctx context.Context, q queryer, orgID int64, domain string) (claim *keygate.SSODomain, done bool, err error) {
	claim, err = loadDomain(ctx, q, orgID, domain)
	switch {
	case err != nil:
		return nil, true, err
	case claim.Verified():
		return claim, true, nil
	case claim.TakenElsewhere:
		return nil, true, errDomainTaken(domain)
	}
	return claim, false, nil
}

func errDomainTaken(domain string) error {
	return keygate.Errorf(keygate.ECONFLICT, "%s is already verified by another organization.", domain)
}

// markVerified verifies one claim, unless another organization got there
// first (the partial unique index decides), and records it in the
// organization's audit log.
func (s *OrgSSOService) markVerified(ctx context.Context, orgID int64, domain, method string, by *keygate.User) (*keygate.SSODomain, error) {
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var byID sql.NullInt64
	how := "DNS record"
	if by != nil {
		byID, how = sql.NullInt64{Int64: by.ID, Valid: true}, "approved by an instance administrator"
	}
	res, err := tx.ExecContext(ctx, `UPDATE org_sso_domains SET verified_at = $1, verified_method = $2, verified_by = $3
		WHERE organization_id = $4 AND domain = $5 AND verified_at IS NULL`, ms(tx.now), method, byID, orgID, domain)
	if keygate.ErrorCode(formatError(err)) == keygate.ECONFLICT {
		return nil, errDomainTaken(domain)
	} else if err != nil {
		return nil, fmt.Errorf("verify sso domain: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{
			OrganizationID: orgID, Action: keygate.AuditSSODomainVerify,
			TargetType: "domain", TargetID: domain, TargetName: domain + " (" + how + ")",
		}); err != nil {
			return nil, err
		}
	}
	claim, err := loadDomain(ctx, tx, orgID, domain)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("verify sso domain: %w", err)
	}
	return claim, nil
}

// FindSSODomains lists every claim for the Admin area, pending first.
func (s *OrgSSOService) FindSSODomains(ctx context.Context) ([]*keygate.SSODomain, error) {
	if _, err := superuser(ctx, s.db.reader()); err != nil {
		return nil, err
	}
	return loadDomains(ctx, s.db.reader(), `ORDER BY d.verified_at IS NOT NULL, d.created_at DESC, d.domain`)
}

// ApproveSSODomain verifies a claim on a superuser's word.
func (s *OrgSSOService) ApproveSSODomain(ctx context.Context, orgPublicID, domain string) (*keygate.SSODomain, error) {
	user, err := superuser(ctx, s.db.reader())
	if err != nil {
		return nil, err
	}
	var orgID int64
	err = s.db.reader().QueryRowContext(ctx, `SELECT id FROM organizations WHERE public_id = $1`, orgPublicID).Scan(&orgID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errOrgNotFound
	} else if err != nil {
		return nil, fmt.Errorf("approve sso domain: %w", err)
	}
	if claim, done, err := pendingClaim(ctx, s.db.reader(), orgID, domain); done || err != nil {
		return claim, err
	}
	return s.markVerified(ctx, orgID, domain, keygate.DomainVerifiedAdmin, user)
}
