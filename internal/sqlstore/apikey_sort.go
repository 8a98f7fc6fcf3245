package sqlstore

import "github.com/keygate/keygate/internal/keygate"

// apiKeyOrders are the ORDER BY clauses of the sorts of a key listing,
// default direction (newest, last or latest first) and ascending; only these
// fixed strings ever reach the query. Ties go newest first.
var apiKeyOrders = map[string][2]string{
	"created":   {"k.id DESC", "k.id ASC"},
	"name":      {"lower(k.name) DESC, k.id DESC", "lower(k.name) ASC, k.id DESC"},
	"last_used": {"k.last_used_at IS NULL, k.last_used_at DESC, k.id DESC", "k.last_used_at IS NOT NULL, k.last_used_at ASC, k.id DESC"},
	"expires":   {"k.expires_at IS NOT NULL, k.expires_at DESC, k.id DESC", "k.expires_at IS NULL, k.expires_at ASC, k.id DESC"},
}

// apiKeyOrder is the ORDER BY clause of f's sort, newest first when f names
// no known sort.
func apiKeyOrder(f keygate.APIKeyFilter) string {
	o, ok := apiKeyOrders[f.Sort]
	if !ok {
		o = apiKeyOrders["created"]
	}
	if f.Ascending {
		return o[1]
	}
	return o[0]
}
