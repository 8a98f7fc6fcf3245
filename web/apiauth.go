package web

import (
	"strings"
)

// Authentication error texts. API clients match on them: keep them exactly.
const (
	msgNotProvided   = "Authentication credentials were not provided."
	msgNoCredentials = "Invalid token header. No credentials provided."
	msgSpaces        = "Invalid token header. Token string should not contain spaces."
	msgInvalidToken  = "Invalid token."
)

// authHeaderError says why an Authorization header carries no usable key.
type authHeaderError struct {
	code   string
	detail string
}

// parseAuthorization extracts the key from an Authorization header value.
// Both "Token KEY" and "Bearer KEY" are accepted, the scheme in any case.
// An absent or empty header, or another scheme, means no credentials.
func parseAuthorization(header string) (string, *authHeaderError) {
	header = strings.TrimSpace(header)
	if header == "" {
		return "", &authHeaderError{"not_authenticated", msgNotProvided}
	}
	scheme, rest, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Token") && !strings.EqualFold(scheme, "Bearer") {
		return "", &authHeaderError{"not_authenticated", msgNotProvided}
	}
	rest = strings.TrimLeft(rest, " ")
	if rest == "" {
		return "", &authHeaderError{"invalid_token_header", msgNoCredentials}
	}
	if strings.ContainsAny(rest, " \t") {
		return "", &authHeaderError{"invalid_token_header", msgSpaces}
	}
	return rest, nil
}
