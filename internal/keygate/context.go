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
