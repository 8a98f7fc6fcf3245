package web

import (
	"net/http"
	"strings"

	"github.com/keygate/keygate/internal/apikey"
)

// Authentication error texts. API clients match on them: keep them exactly.
const (
	msgNotProvided   = "Authentication credentials were not provided."
	msgNoCredentials = "Invalid token header. No credentials provided."
	msgSpaces        = "Invalid token header. Token string should not contain spaces."
	msgInvalidToken  = "Invalid token."
	msgSeveralAuth   = "Send one Authorization header, not several."
	msgMissingScheme = "Send the key as Authorization: Token <key> (or Bearer <key>)."
)

// failMissingScheme is the 401 of a key sent without its scheme, or in
// another API's header (X-API-Key). It never repeats what was sent.
var failMissingScheme = &authHeaderError{code: "not_authenticated", detail: msgMissingScheme, metric: "missing_scheme"}

// msgInvalidInput is the detail of every 400 that maps fields to messages.
const msgInvalidInput = "Invalid input."

// authHeaderError says why an Authorization header carries no usable key.
type authHeaderError struct {
	code   string
	detail string
	// metric names the failure in the metrics where it says more than code.
	metric string
	// status is the answer's status; 0 means 401, whose WWW-Authenticate
	// says how to authenticate.
	status int
}

// statusCode is the status of the failure's answer.
func (e *authHeaderError) statusCode() int {
	if e.status != 0 {
		return e.status
	}
	return http.StatusUnauthorized
}

// reason is the failure's name in the metrics.
func (e *authHeaderError) reason() string {
	if e.metric != "" {
		return e.metric
	}
	return e.code
}

// parseAuthorization extracts the key from an Authorization header value.
// Both "Token KEY" and "Bearer KEY" are accepted, the scheme in any case.
// An absent or empty header, or another scheme, means no credentials; a
// credential without a scheme (one word, or a key first) is told how to
// send it.
func parseAuthorization(header string) (string, *authHeaderError) {
	header = strings.TrimSpace(header)
	if header == "" {
		return "", &authHeaderError{code: "not_authenticated", detail: msgNotProvided}
	}
	scheme, rest, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Token") && !strings.EqualFold(scheme, "Bearer") {
		if rest == "" || strings.HasPrefix(scheme, apikey.Prefix) {
			return "", failMissingScheme
		}
		return "", &authHeaderError{code: "not_authenticated", detail: msgNotProvided}
	}
	rest = strings.TrimLeft(rest, " ")
	if rest == "" {
		return "", &authHeaderError{code: "invalid_token_header", detail: msgNoCredentials}
	}
	if strings.ContainsAny(rest, " \t") {
		return "", &authHeaderError{code: "invalid_token_header", detail: msgSpaces}
	}
	return rest, nil
}
