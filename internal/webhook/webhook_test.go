package webhook_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/mailer"
	"github.com/keygate/keygate/internal/sqlstore"
)

func TestWorker_KeyCreated(t *testing.T) {
	e := mustEnv(t, []string{keygate.WebhookKeyCreated}, nil)
	k, secret, err := e.keys.CreateAPIKey(e.ctx, e.org.PublicID, &keygate.APIKeyCreate{Name: "CI", Environment: keygate.EnvProduction,
		Scopes: []keygate.Scope{keygate.ScopeRead}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.tick(t), 1; got != want {
		t.Fatalf("claimed %d, want %d", got, want)
	}
	got := e.recv.requests()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(got))
	}
	r := got[0]
	if r.Event.Type != keygate.WebhookKeyCreated || r.Event.Organization != e.org.PublicID || r.Event.ID != r.ID || !strings.HasPrefix(r.ID, "msg_") {
		t.Fatalf("event = %+v, header id %q", r.Event, r.ID)
	}
	if ts, _ := strconv.ParseInt(r.Timestamp, 10, 64); ts != e.clock.Now().Unix() {
		t.Fatalf("webhook-timestamp = %q, want %d", r.Timestamp, e.clock.Now().Unix())
	}
	if r.ContentType != "application/json" || r.UserAgent != "Keygate-Webhooks" {
		t.Fatalf("content-type %q, user-agent %q", r.ContentType, r.UserAgent)
	}
	var data map[string]any
	if err := json.Unmarshal(r.Event.Data, &data); err != nil {
		t.Fatal(err)
	}
	if data["id"] != k.PublicID || data["name"] != "CI" || data["hint"] != k.Hint || data["state"] != "active" {
		t.Fatalf("data = %v", data)
	}
	if strings.Contains(string(r.Body), secret) {
		t.Fatal("the payload holds the key's secret")
	}
	// Delivered: nothing more is sent.
	e.clock.Advance(time.Hour)
	if n := e.tick(t); n != 0 {
		t.Fatalf("claimed %d after delivery, want 0", n)
	}
	list, _, err := e.hooks.FindWebhookDeliveries(e.ctx, e.org.PublicID, e.endpoint.PublicID, keygate.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].State != keygate.DeliveryDelivered || list[0].ResponseCode != 200 || list[0].Attempts != 1 ||
		list[0].ResponseBody != "receiver says OK" {
		t.Fatalf("deliveries = %+v", list[0])
	}
}

func TestWorker_RolledBackChangeSendsNothing(t *testing.T) {
	e := mustEnv(t, []string{keygate.WebhookKeyCreated}, nil)
	e.keys.MaxKeysPerOrg = 1
	e.mustCreateKey(t, "one")
	if _, _, err := e.keys.CreateAPIKey(e.ctx, e.org.PublicID, &keygate.APIKeyCreate{Name: "two", Environment: keygate.EnvProduction,
		Scopes: []keygate.Scope{keygate.ScopeRead}}); err == nil {
		t.Fatal("a key over the limit was created")
	}
	e.tick(t)
	e.clock.Advance(time.Minute)
	e.tick(t)
	if got := e.recv.requests(); len(got) != 1 {
		t.Fatalf("receiver got %d requests, want 1 (the refused key's event must not exist)", len(got))
	}
}

func TestWorker_RetrySchedule(t *testing.T) {
	e := mustEnv(t, []string{keygate.WebhookKeyCreated}, nil)
	e.recv.setStatus(http.StatusServiceUnavailable)
	e.mustCreateKey(t, "CI")
	e.tick(t) // attempt 1, at once
	want := 1
	for i, delay := range keygate.WebhookRetryDelays {
		e.clock.Advance(delay - time.Second)
		e.tick(t)
		if got := len(e.recv.requests()); got != want {
			t.Fatalf("a second before retry %d: %d attempts, want %d", i+1, got, want)
		}
		if i == len(keygate.WebhookRetryDelays)-1 {
			e.recv.setStatus(http.StatusNoContent) // back for the last attempt
		}
		e.clock.Advance(time.Second)
		e.tick(t)
		want++
		if got := len(e.recv.requests()); got != want {
			t.Fatalf("at retry %d (after %s): %d attempts, want %d", i+1, delay, got, want)
		}
	}
	list, _, err := e.hooks.FindWebhookDeliveries(e.ctx, e.org.PublicID, e.endpoint.PublicID, keygate.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if d := list[0]; d.State != keygate.DeliveryDelivered || d.Attempts != keygate.WebhookMaxAttempts || d.ResponseCode != 204 {
		t.Fatalf("delivery = %+v", d)
	}
	// One webhook-id for every attempt: receivers deduplicate by it.
	for _, r := range e.recv.requests() {
		if r.ID != e.recv.requests()[0].ID {
			t.Fatalf("attempts carried different ids: %q, %q", r.ID, e.recv.requests()[0].ID)
		}
	}
}

func TestWorker_FailsAfterLastAttempt(t *testing.T) {
	e := mustEnv(t, []string{keygate.WebhookKeyCreated}, nil)
	e.recv.setStatus(http.StatusInternalServerError)
	e.mustCreateKey(t, "CI")
	e.tick(t)
	for _, delay := range keygate.WebhookRetryDelays {
		e.clock.Advance(delay)
		e.tick(t)
	}
	e.clock.Advance(24 * time.Hour)
	e.tick(t)
	if got, want := len(e.recv.requests()), keygate.WebhookMaxAttempts; got != want {
		t.Fatalf("%d attempts, want %d", got, want)
	}
	list, _, _ := e.hooks.FindWebhookDeliveries(e.ctx, e.org.PublicID, e.endpoint.PublicID, keygate.Page{})
	if d := list[0]; d.State != keygate.DeliveryFailed || d.ResponseCode != 500 {
		t.Fatalf("delivery = %+v", d)
	}
}

func TestWorker_OrderPerKey(t *testing.T) {
	e := mustEnv(t, []string{keygate.WebhookKeyCreated, keygate.WebhookKeyRevoked}, nil)
	e.recv.setStatus(http.StatusBadGateway)
	k := e.mustCreateKey(t, "CI")
	if _, err := e.keys.RevokeAPIKey(e.ctx, e.org.PublicID, k.PublicID); err != nil {
		t.Fatal(err)
	}
	e.tick(t) // the create fails; the revoke waits behind it
	if got := e.recv.requests(); len(got) != 1 || got[0].Event.Type != keygate.WebhookKeyCreated {
		t.Fatalf("first tick sent %d requests", len(got))
	}
	e.recv.setStatus(http.StatusOK)
	e.clock.Advance(5 * time.Second)
	e.tick(t)
	e.tick(t)
	var types []string
	for _, r := range e.recv.requests() {
		types = append(types, r.Event.Type)
	}
	if got, want := strings.Join(types, " "), "key.created key.created key.revoked"; got != want {
		t.Fatalf("received %s, want %s", got, want)
	}
}

func TestWorker_DisablesAfterThreeDays(t *testing.T) {
	sink, err := mailer.NewSink()
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	m, err := mailer.New(sink.URL(), "keygate@keygate.test")
	if err != nil {
		t.Fatal(err)
	}
	e := mustEnv(t, []string{keygate.WebhookKeyCreated}, m)
	e.recv.setStatus(http.StatusInternalServerError)
	for day := 0; day < 4; day++ {
		e.mustCreateKey(t, "day "+strconv.Itoa(day))
		for range 8 {
			e.tick(t)
			e.clock.Advance(3 * time.Hour)
		}
	}
	ep, err := e.hooks.FindWebhookEndpoint(e.ctx, e.org.PublicID, e.endpoint.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	if ep.DisabledAt == nil || ep.State() != "disabled" {
		t.Fatalf("endpoint state %s after four days of failures", ep.State())
	}
	msgs := sink.Messages()
	if len(msgs) != 1 || msgs[0].To != "ada@example.com" || !strings.Contains(msgs[0].Data, e.recv.srv.URL+"/hook") {
		t.Fatalf("emails = %+v", msgs)
	}
	// Disabled, it is sent nothing.
	before := len(e.recv.requests())
	e.mustCreateKey(t, "after")
	e.clock.Advance(24 * time.Hour)
	e.tick(t)
	if got := len(e.recv.requests()); got != before {
		t.Fatalf("a disabled endpoint got %d more requests", got-before)
	}
}

func TestWorker_Resend(t *testing.T) {
	e := mustEnv(t, []string{keygate.WebhookKeyCreated}, nil)
	e.mustCreateKey(t, "CI")
	e.tick(t)
	list, _, _ := e.hooks.FindWebhookDeliveries(e.ctx, e.org.PublicID, e.endpoint.PublicID, keygate.Page{})
	d, err := e.hooks.ResendWebhookDelivery(e.ctx, e.org.PublicID, e.endpoint.PublicID, list[0].PublicID)
	if err != nil {
		t.Fatal(err)
	}
	if d.State != keygate.DeliveryPending || d.Attempts != 0 {
		t.Fatalf("resent delivery = %+v", d)
	}
	e.tick(t)
	got := e.recv.requests()
	if len(got) != 2 || got[0].ID != got[1].ID {
		t.Fatalf("got %d requests, want the same event twice", len(got))
	}
}

func TestWorker_SurvivesRestart(t *testing.T) {
	e := mustEnv(t, []string{keygate.WebhookKeyCreated}, nil)
	e.mustCreateKey(t, "CI")
	if err := e.db.Close(); err != nil { // no tick: the process stops here
		t.Fatal(err)
	}
	e.open(t, nil)
	if n := e.tick(t); n != 1 {
		t.Fatalf("claimed %d after a restart, want 1", n)
	}
	if got := e.recv.requests(); len(got) != 1 || got[0].Event.Type != keygate.WebhookKeyCreated {
		t.Fatalf("receiver got %d requests", len(got))
	}
}

func TestWorker_RolledSecretSignsTwice(t *testing.T) {
	e := mustEnv(t, []string{keygate.WebhookKeyCreated}, nil)
	_, next, err := e.hooks.RollWebhookSecret(e.ctx, e.org.PublicID, e.endpoint.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	e.mustCreateKey(t, "during grace")
	e.tick(t)
	r := e.recv.requests()[0]
	sigs := strings.Fields(r.Signature)
	if len(sigs) != 2 || !verify([]string{next}, r.ID, r.Timestamp, r.Body, sigs[0]) || !verify([]string{e.secret}, r.ID, r.Timestamp, r.Body, sigs[1]) {
		t.Fatalf("signatures during the grace period = %q, want the new one then the old one", r.Signature)
	}
	e.recv.mu.Lock()
	e.recv.secrets = []string{next}
	e.recv.mu.Unlock()
	e.clock.Advance(keygate.WebhookSecretGrace + time.Second)
	e.mustCreateKey(t, "after grace")
	e.tick(t)
	if r := e.recv.requests()[1]; len(strings.Fields(r.Signature)) != 1 {
		t.Fatalf("signatures after the grace period = %q, want the new one only", r.Signature)
	}
}

func TestWorker_ClaimedDeliveryIsNotClaimedAgain(t *testing.T) {
	e := mustEnv(t, []string{keygate.WebhookKeyCreated}, nil)
	for i := range 5 {
		e.mustCreateKey(t, "k"+strconv.Itoa(i))
	}
	// Two workers (two replicas) over one database tick at once.
	other := sqlstore.NewWebhookService(e.db, e.box)
	a, errA := e.hooks.ClaimDueDeliveries(context.Background(), e.clock.Now(), 100, 100, time.Minute)
	b, errB := other.ClaimDueDeliveries(context.Background(), e.clock.Now(), 100, 100, time.Minute)
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if len(a) != 5 || len(b) != 0 {
		t.Fatalf("claimed %d and %d, want 5 and 0", len(a), len(b))
	}
}

// TestWorker_KilledMidAttemptSendsAgainOnStart: a process killed between
// claiming a delivery and recording its attempt leaves it claimed; on
// SQLite the next start sends it at once, not after the lease.
func TestWorker_KilledMidAttemptSendsAgainOnStart(t *testing.T) {
	e := mustEnv(t, []string{keygate.WebhookKeyCreated}, nil)
	e.mustCreateKey(t, "CI")
	claimed, err := e.hooks.ClaimDueDeliveries(context.Background(), e.clock.Now(), 100, 100, 5*time.Minute)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claimed %d, %v", len(claimed), err)
	}
	if err := e.db.Close(); err != nil { // killed before the attempt is recorded
		t.Fatal(err)
	}
	e.open(t, nil)
	if n := e.tick(t); n != 0 {
		t.Fatalf("claimed %d again within the lease, want 0", n)
	}

	e.worker.Poll = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.worker.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(10 * time.Second); len(e.recv.requests()) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the delivery claimed before the crash was not sent after the start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := e.recv.requests(); got[0].Event.Type != keygate.WebhookKeyCreated {
		t.Fatalf("receiver got %+v", got[0])
	}
}

// TestWorker_SendsAKeysEventsBackToBack: the deliveries of one key go one
// at a time, in order, each as soon as the one before it is delivered,
// not one per poll.
func TestWorker_SendsAKeysEventsBackToBack(t *testing.T) {
	e := mustEnv(t, []string{keygate.WebhookKeyCreated, keygate.WebhookKeyUpdated}, nil)
	k := e.mustCreateKey(t, "CI")
	for i := range 20 {
		name := "CI " + strconv.Itoa(i)
		if _, err := e.keys.UpdateAPIKey(e.ctx, e.org.PublicID, k.PublicID, keygate.APIKeyUpdate{Name: &name}); err != nil {
			t.Fatal(err)
		}
	}
	e.worker.Poll = time.Hour // a poll never comes: only sending again at once delivers them all
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.worker.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(20 * time.Second); len(e.recv.requests()) < 21; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 21 events sent", len(e.recv.requests()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i, r := range e.recv.requests()[1:] {
		var data struct{ Name string }
		if err := json.Unmarshal(r.Event.Data, &data); err != nil {
			t.Fatal(err)
		}
		if want := "CI " + strconv.Itoa(i); data.Name != want {
			t.Fatalf("event %d names %q, want %q: out of order", i+1, data.Name, want)
		}
	}
}
