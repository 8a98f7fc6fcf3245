package keygate

import (
	"context"
	"time"
)

// IdempotencyTTL is how long an answer to a request made with an
// Idempotency-Key is kept: a retry within it gets that answer again.
const IdempotencyTTL = 24 * time.Hour

// IdempotencyKeyMax is the longest Idempotency-Key accepted, in bytes.
const IdempotencyKeyMax = 255

// IdempotentResponse is the kept answer to an API request made with an
// Idempotency-Key. A key is one organization's, for one method and path.
// Body is the answer as a retry gets it: it never holds a secret.
type IdempotentResponse struct {
	OrganizationID int64
	Method         string
	Path           string
	Key            string
	// RequestHash is the SHA-256 of the request's body in canonical form:
	// a retry with another body is refused.
	RequestHash []byte
	Status      int
	Body        []byte
	CreatedAt   time.Time
}

// IdempotencyService keeps the answers to requests made with an
// Idempotency-Key.
type IdempotencyService interface {
	// FindIdempotentResponse returns the answer kept for the key since
	// the given time. Returns ENOTFOUND.
	FindIdempotentResponse(ctx context.Context, orgID int64, method, path, key string, since time.Time) (*IdempotentResponse, error)

	// SaveIdempotentResponse keeps an answer, replacing one kept for the
	// same key before (one older than IdempotencyTTL, which no longer
	// counts).
	SaveIdempotentResponse(ctx context.Context, resp *IdempotentResponse) error
}

// Creator names who created something: a person, or an API key acting
// through the API.
type Creator struct {
	Type     string // CreatorUser or CreatorKey
	PublicID string // usr_... or key_...
	Name     string
}

// Kinds of creators.
const (
	CreatorUser = "user"
	CreatorKey  = "key"
)
