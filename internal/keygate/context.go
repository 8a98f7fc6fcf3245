package keygate

import "context"

type contextKey int

const (
	userContextKey contextKey = iota + 1
	requestInfoContextKey
)

// NewContextWithUser returns a copy of ctx that carries user as the actor of
// every service call made with it.
func NewContextWithUser(ctx context.Context, user *User) context.Context {
	return context.WithValue(ctx, userContextKey, user)
}

// UserFromContext returns the user acting in ctx, or nil.
func UserFromContext(ctx context.Context) *User {
	user, _ := ctx.Value(userContextKey).(*User)
	return user
}

// UserIDFromContext returns the id of the user acting in ctx, or 0.
func UserIDFromContext(ctx context.Context) int64 {
	if user := UserFromContext(ctx); user != nil {
		return user.ID
	}
	return 0
}

// RequestInfo describes where a request came from, for the audit log.
type RequestInfo struct {
	IP        string
	UserAgent string
	RequestID string
}

// NewContextWithRequestInfo returns a copy of ctx that carries info.
func NewContextWithRequestInfo(ctx context.Context, info RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoContextKey, info)
}

// RequestInfoFromContext returns the request info in ctx, or the zero value.
func RequestInfoFromContext(ctx context.Context) RequestInfo {
	info, _ := ctx.Value(requestInfoContextKey).(RequestInfo)
	return info
}

type organizationContextKey struct{}

// NewContextWithOrganization returns a copy of ctx acting for the
// organization with row id orgID: the API key's organization.
func NewContextWithOrganization(ctx context.Context, orgID int64) context.Context {
	return context.WithValue(ctx, organizationContextKey{}, orgID)
}

// OrganizationIDFromContext returns the organization ctx acts for, or 0.
func OrganizationIDFromContext(ctx context.Context) int64 {
	id, _ := ctx.Value(organizationContextKey{}).(int64)
	return id
}

// KeyActor is an API key acting through the API: the actor of service calls
// made for an API request.
type KeyActor struct {
	KeyID          int64
	PublicID       string
	Name           string
	OrganizationID int64
	OrgPublicID    string
	Scopes         Scopes
}

type keyActorContextKey struct{}

// NewContextWithKey returns a copy of ctx in which key acts, for its
// organization: OrganizationIDFromContext answers key.OrganizationID (when
// it is set), as if NewContextWithOrganization had been called too.
func NewContextWithKey(ctx context.Context, key *KeyActor) context.Context {
	return &keyContext{Context: ctx, key: key}
}

// keyContext is one context node for both the key and its organization:
// it is made on every API request.
type keyContext struct {
	context.Context
	key *KeyActor
}

func (c *keyContext) Value(k any) any {
	switch k.(type) {
	case keyActorContextKey:
		return c.key
	case organizationContextKey:
		if c.key != nil && c.key.OrganizationID != 0 {
			return c.key.OrganizationID
		}
	}
	return c.Context.Value(k)
}

// KeyFromContext returns the API key acting in ctx, or nil.
func KeyFromContext(ctx context.Context) *KeyActor {
	k, _ := ctx.Value(keyActorContextKey{}).(*KeyActor)
	return k
}

// RoleForScopes is the organization role an API key acts with: Admin for
// the admin scope, Member otherwise.
func RoleForScopes(s Scopes) Role {
	if s.Has(ScopeAdmin) {
		return RoleAdmin
	}
	return RoleMember
}
