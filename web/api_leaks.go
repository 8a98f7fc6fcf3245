package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/ratelimit"
)

// maxLeakEntries bounds the keys of one leak report (GitHub's secret
// scanning sends them in batches).
const maxLeakEntries = 100

// leakReportLimit is how many leak reports one client address may send.
var leakReportLimit = ratelimit.Limit{Count: 10, Period: time.Minute}

// leakEntry is one key of a report: {"key", "url", "source"} from a person
// or `keygate scan`, {"token", "type", "url", "source"} from GitHub.
type leakEntry struct {
	Key    string `json:"key"`
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// apiReportLeak takes reports of keys found in public. Its answer is the
// same whatever the keys are, real, unknown or already reported, so that
// it tells a caller nothing about which keys exist.
func (s *Server) apiReportLeak(w http.ResponseWriter, r *http.Request) {
	// The signups' limiter keeps a budget per key string: leak reports
	// have their own, per client address, shared by replicas like it.
	ip := keygate.RequestInfoFromContext(r.Context()).IP
	if d := s.signups.Allow("leak-report:"+ip, leakReportLimit); !d.Allowed {
		retry := max(int(math.Ceil(d.RetryAfter.Seconds())), 1)
		w.Header().Set("Retry-After", strconv.Itoa(retry))
		apiError(w, http.StatusTooManyRequests, "throttled", fmt.Sprintf("Too many leak reports from your address. Try again in %d seconds.", retry))
		return
	}
	entries, status, code, msg := readLeakReport(w, r)
	if status != 0 {
		apiError(w, status, code, msg)
		return
	}
	for _, e := range entries {
		s.reportLeak(r, e)
	}
	writeJSON(w, http.StatusAccepted, map[string]int{"received": len(entries)})
}

// readLeakReport decodes a report: one object or GitHub's array. On error
// it returns the status, code and message to answer with.
func readLeakReport(w http.ResponseWriter, r *http.Request) (entries []leakEntry, status int, code, msg string) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return nil, http.StatusUnsupportedMediaType, "unsupported_media_type", "Send JSON with Content-Type: application/json."
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, http.StatusRequestEntityTooLarge, "request_too_large", "Request body is too large: at most 1 MiB."
	} else if err != nil {
		return nil, http.StatusBadRequest, "parse_error", "JSON parse error - could not read the request body."
	}
	body = bytes.TrimSpace(body)
	if !json.Valid(body) {
		return nil, http.StatusBadRequest, "parse_error", "JSON parse error - invalid JSON."
	}
	if len(body) > 0 && body[0] == '[' {
		if err := json.Unmarshal(body, &entries); err != nil {
			return nil, http.StatusBadRequest, "parse_error", "Expected an array of objects with \"token\", \"url\" and \"source\" strings."
		}
		if len(entries) > maxLeakEntries {
			return nil, http.StatusBadRequest, "invalid", fmt.Sprintf("A report holds at most %d keys.", maxLeakEntries)
		}
		return entries, 0, "", ""
	}
	var e leakEntry
	if err := json.Unmarshal(body, &e); err != nil || body[0] != '{' {
		return nil, http.StatusBadRequest, "parse_error", "Expected an object with \"key\", \"url\" and \"source\" strings, or an array of them."
	}
	if strings.TrimSpace(e.Key) == "" {
		return nil, http.StatusBadRequest, "invalid", "\"key\" is required: the key you found."
	}
	return []leakEntry{e}, 0, "", ""
}

// reportLeak acts on one entry whose key is real: marks it, applies its
// organization's policy and tells its Owners and Admins. Anything else is
// ignored, as the answer says nothing of it.
func (s *Server) reportLeak(r *http.Request, e leakEntry) {
	token, source := e.Key, e.Source
	if e.Token != "" { // GitHub's shape
		token, source = e.Token, strings.TrimSpace("GitHub "+e.Source)
	}
	key, err := apikey.Parse(strings.TrimSpace(token))
	if err != nil || s.leaks == nil {
		return
	}
	leaked, err := s.leaks.ReportLeak(r.Context(), keygate.LeakReport{Hash: key.Hash(), URL: e.URL, Source: source})
	if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		return
	} else if err != nil {
		s.logger.Error("report leak", "key", key.Hint(), "error", err.Error())
		return
	}
	if leaked.New {
		s.mailLeak(r, leaked)
	}
}

// mailLeak tells the organization's Owners and Admins, when SMTP is
// configured.
func (s *Server) mailLeak(r *http.Request, k *keygate.LeakedKey) {
	if s.mailer == nil {
		return
	}
	link := s.linkBaseURL() + "/orgs/" + k.OrgPublicID + "/api-keys/" + k.KeyPublicID
	found := k.URL
	if k.Source != "" {
		found += " (" + k.Source + ")"
	}
	body := "The API key “" + k.KeyName + "” (" + k.Hint + ") of " + k.OrgName + " was reported leaked at:\n\n" + found + "\n\n" +
		leakPolicyOutcome(k) + "\n\nRemove it from where it was found, and roll it if it still works:\n\n" + link + "\n"
	subject := "API key “" + k.KeyName + "” reported leaked"
	for _, to := range k.Recipients {
		if err := s.mailer.Send(r.Context(), to, subject, body); err != nil {
			s.logger.Error("send leak report", "key", k.KeyPublicID, "error", err.Error())
		}
	}
}

// leakPolicyOutcome says in the email what the policy did to the key.
func leakPolicyOutcome(k *keygate.LeakedKey) string {
	if k.WasRevoked {
		return "The key was already revoked."
	}
	switch k.Policy {
	case keygate.LeakPolicyReadOnly:
		return "Your organization's leak policy made the key read-only."
	case keygate.LeakPolicyRevoke:
		return "Your organization's leak policy revoked the key."
	}
	return "The key still works."
}
