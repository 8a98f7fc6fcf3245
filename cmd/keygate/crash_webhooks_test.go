package main_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// crashReceiver is a webhook endpoint on loopback that takes key.created
// events, checks each signature and remembers the keys' names.
type crashReceiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	names  map[string]bool
	events int
}

func newCrashReceiver(t *testing.T) *crashReceiver {
	r := &crashReceiver{t: t, names: map[string]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *crashReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !signedWith(r.secret, req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"), body, req.Header.Get("webhook-signature")) {
		r.t.Errorf("webhook %s: signature %q does not verify", req.Header.Get("webhook-id"), req.Header.Get("webhook-signature"))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev struct {
		Type string
		Data struct{ Name string }
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.Type != "key.created" {
		r.t.Errorf("webhook body %.200s: %v", body, err)
	}
	r.names[ev.Data.Name] = true
	r.events++
}

// setSecret is the endpoint's signing secret, once it is created.
func (r *crashReceiver) setSecret(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secret = s
}

// missing returns the names in keys the receiver has no event of.
func (r *crashReceiver) missing(keys []ackedKey) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, k := range keys {
		if !r.names[k.name] {
			out = append(out, k.name)
		}
	}
	return out
}

// mustReceiveAll waits until the receiver has the key.created event of
// every acknowledged key.
func (r *crashReceiver) mustReceiveAll(t *testing.T, ledger *crashLedger, within time.Duration) {
	t.Helper()
	ledger.mu.Lock()
	keys := append([]ackedKey(nil), ledger.keys...)
	ledger.mu.Unlock()
	deadline := time.Now().Add(within)
	for {
		missing := r.missing(keys)
		if len(missing) == 0 {
			r.mu.Lock()
			t.Logf("webhooks: the key.created event of each of the %d acknowledged keys arrived (%d deliveries for %d keys created)",
				len(keys), r.events, len(r.names))
			r.mu.Unlock()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhooks: %d of %d acknowledged keys have no key.created event after %v, e.g. %s",
				len(missing), len(keys), within, strings.Join(missing[:min(5, len(missing))], ", "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// signedWith checks a Standard Webhooks signature as a receiver does: one
// of the header's v1 signatures is the base64 HMAC-SHA256, under the
// secret, of "id.timestamp.body".
func signedWith(secret, id, ts string, body []byte, header string) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || secret == "" {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(header) {
		v, ok := strings.CutPrefix(sig, "v1,")
		if !ok {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(v)
		if err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}
