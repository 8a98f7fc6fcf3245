package usage_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/usage"
)

type memSink struct {
	mu      sync.Mutex
	batches []*usage.Batch
	err     error
}

func (s *memSink) WriteUsage(_ context.Context, b *usage.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.batches = append(s.batches, b)
	return nil
}

func TestBufferAggregates(t *testing.T) {
	sink := &memSink{}
	b := usage.NewBuffer(sink)
	t0 := time.Date(2026, 11, 23, 10, 59, 0, 0, time.UTC)
	for i, st := range []int{200, 201, 404, 429, 500, 200} {
		b.Record(usage.Event{OrganizationID: 1, KeyID: 7, Status: st, At: t0.Add(time.Duration(i) * 20 * time.Second), IP: "10.0.0." + string(rune('1'+i))})
	}
	b.Record(usage.Event{OrganizationID: 1, KeyID: 8, Status: 200, At: t0})
	if len(sink.batches) != 0 || b.Pending() != 7 {
		t.Fatal("events written before a flush")
	}
	if err := b.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(sink.batches) != 1 {
		t.Fatalf("batches = %d", len(sink.batches))
	}
	got := sink.batches[0]
	h10, h11 := t0.Truncate(time.Hour), t0.Truncate(time.Hour).Add(time.Hour)
	checks := []struct {
		k usage.HourKey
		n int
	}{
		{usage.HourKey{OrganizationID: 1, KeyID: 7, Hour: h10, Class: "2xx"}, 2}, // 10:59:00, 10:59:20
		{usage.HourKey{OrganizationID: 1, KeyID: 7, Hour: h10, Class: "4xx"}, 1}, // 10:59:40
		{usage.HourKey{OrganizationID: 1, KeyID: 7, Hour: h11, Class: "429"}, 1}, // 11:00:00
		{usage.HourKey{OrganizationID: 1, KeyID: 7, Hour: h11, Class: "5xx"}, 1},
		{usage.HourKey{OrganizationID: 1, KeyID: 7, Hour: h11, Class: "2xx"}, 1},
		{usage.HourKey{OrganizationID: 1, KeyID: 8, Hour: h10, Class: "2xx"}, 1},
	}
	for _, c := range checks {
		if got.Hourly[c.k] != c.n {
			t.Errorf("%+v = %d, want %d", c.k, got.Hourly[c.k], c.n)
		}
	}
	if len(got.Hourly) != len(checks) || len(got.Requests) != 7 {
		t.Fatalf("hourly = %d rows, requests = %d", len(got.Hourly), len(got.Requests))
	}
	if last := got.LastUsed[7]; !last.At.Equal(t0.Add(100*time.Second)) || last.IP != "10.0.0.6" {
		t.Fatalf("last use = %+v", last)
	}
	if b.Pending() != 0 {
		t.Fatal("flushed events still pending")
	}
}

func TestBufferDropsWhenFull(t *testing.T) {
	b := usage.NewBuffer(&memSink{})
	b.Max = 3
	for i := 0; i < 5; i++ {
		b.Record(usage.Event{KeyID: 1, Status: 200, At: time.Now()})
	}
	if _, _, drops := b.Stats(); drops != 2 || b.Pending() != 3 {
		t.Fatalf("drops = %d, pending = %d", drops, b.Pending())
	}
}

func TestBufferFlushFailure(t *testing.T) {
	sink := &memSink{err: errors.New("disk full")}
	b := usage.NewBuffer(sink)
	b.Record(usage.Event{KeyID: 1, Status: 200, At: time.Now()})
	if err := b.Flush(context.Background()); err == nil {
		t.Fatal("no error")
	}
	if flushes, failures, drops := b.Stats(); flushes != 0 || failures != 1 || drops != 1 {
		t.Fatalf("stats = %d %d %d", flushes, failures, drops)
	}
}

func TestRunFlushesOnStop(t *testing.T) {
	sink := &memSink{}
	b := usage.NewBuffer(sink)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx, time.Hour, nil); close(done) }()
	b.Record(usage.Event{KeyID: 1, Status: 200, At: time.Now()})
	cancel()
	<-done
	if len(sink.batches) != 1 {
		t.Fatal("pending usage not flushed at shutdown")
	}
}

func BenchmarkRecord(b *testing.B) {
	buf := usage.NewBuffer(&memSink{})
	buf.Max = 1 << 30
	e := usage.Event{KeyID: 1, Status: 200, At: time.Now()}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			buf.Record(e)
		}
	})
}

func TestBucketFor(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want int64
	}{
		{-time.Millisecond, 250},
		{0, 250},
		{250 * time.Microsecond, 250},
		{250*time.Microsecond + 999*time.Nanosecond, 250}, // whole microseconds count
		{251 * time.Microsecond, 500},
		{time.Millisecond, 1000},
		{1001 * time.Microsecond, 2500},
		{42 * time.Millisecond, 50000},
		{time.Second, 1000000},
		{5 * time.Second, 5000000},
		{5*time.Second + time.Microsecond, math.MaxInt64},
		{time.Hour, math.MaxInt64},
	} {
		if got := usage.BucketFor(tt.d); got != tt.want {
			t.Errorf("BucketFor(%v)=%d, want %d", tt.d, got, tt.want)
		}
	}
}

func TestLatencyBucketsUS(t *testing.T) {
	b := usage.LatencyBucketsUS
	for i := 1; i < len(b); i++ {
		if b[i] <= b[i-1] {
			t.Fatalf("bounds not ascending at %d: %v", i, b)
		}
	}
	if got, want := b[len(b)-1], int64(math.MaxInt64); got != want {
		t.Fatalf("last bound=%d, want %d (+Inf)", got, want)
	}
	// Every bound is its own bucket.
	for _, bound := range b[:len(b)-1] {
		if got := usage.BucketFor(time.Duration(bound) * time.Microsecond); got != bound {
			t.Errorf("BucketFor(%dµs)=%d", bound, got)
		}
	}
}

func TestAggregateLatency(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 59, 0, 0, time.FixedZone("CET", 3600))
	events := []usage.Event{
		{OrganizationID: 1, KeyID: 7, Status: 200, At: t0, Latency: 200 * time.Microsecond},
		{OrganizationID: 1, KeyID: 7, Status: 500, At: t0.Add(time.Second), Latency: 250 * time.Microsecond},
		{OrganizationID: 1, KeyID: 7, Status: 200, At: t0.Add(2 * time.Second), Latency: 3 * time.Millisecond},
		{OrganizationID: 1, KeyID: 7, Status: 200, At: t0.Add(time.Minute), Latency: 10 * time.Second}, // next hour
		{OrganizationID: 1, KeyID: 8, Status: 200, At: t0, Latency: 3 * time.Millisecond},
		{OrganizationID: 1, KeyID: 0, Status: 401, At: t0, Latency: time.Millisecond}, // no key: log only
	}
	got := usage.Aggregate(events).Latency
	h := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC) // 10:59 CET is 09:59 UTC
	want := map[usage.LatencyKey]int{
		{OrganizationID: 1, KeyID: 7, Hour: h, BucketUS: 250}:                          2,
		{OrganizationID: 1, KeyID: 7, Hour: h, BucketUS: 5000}:                         1,
		{OrganizationID: 1, KeyID: 7, Hour: h.Add(time.Hour), BucketUS: math.MaxInt64}: 1,
		{OrganizationID: 1, KeyID: 8, Hour: h, BucketUS: 5000}:                         1,
	}
	if len(got) != len(want) {
		t.Fatalf("latency=%v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%+v=%d, want %d", k, got[k], n)
		}
	}
}

// copySink keeps a copy of each batch's requests, as a Sink must.
type copySink struct{ batches [][]usage.Event }

func (s *copySink) WriteUsage(_ context.Context, b *usage.Batch) error {
	s.batches = append(s.batches, append([]usage.Event(nil), b.Requests...))
	return nil
}

func TestBufferReusesFlushedSlice(t *testing.T) {
	sink := &copySink{}
	b := usage.NewBuffer(sink)
	ctx := context.Background()
	for round, ips := range [][]string{{"10.0.0.1", "10.0.0.2", "10.0.0.3"}, {"10.0.0.4"}, {}, {"10.0.0.5", "10.0.0.6"}} {
		for _, ip := range ips {
			b.Record(usage.Event{OrganizationID: 1, KeyID: 7, Status: 200, IP: ip})
		}
		if err := b.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if b.Pending() != 0 {
			t.Fatalf("round %d: %d events pending after a flush", round, b.Pending())
		}
	}
	// Each flush wrote its own events only, none left over from the slice
	// it reused; the empty round wrote nothing.
	want := [][]string{{"10.0.0.1", "10.0.0.2", "10.0.0.3"}, {"10.0.0.4"}, {"10.0.0.5", "10.0.0.6"}}
	if len(sink.batches) != len(want) {
		t.Fatalf("%d batches, want %d", len(sink.batches), len(want))
	}
	for i, batch := range sink.batches {
		var got []string
		for _, e := range batch {
			got = append(got, e.IP)
		}
		if strings.Join(got, ",") != strings.Join(want[i], ",") {
			t.Fatalf("batch %d wrote %v, want %v", i, got, want[i])
		}
	}
}

// aggregateByMap is Aggregate as a map increment per event, the reference
// the run-counting Aggregate must agree with.
func aggregateByMap(events []usage.Event) *usage.Batch {
	b := &usage.Batch{Hourly: map[usage.HourKey]int{}, Latency: map[usage.LatencyKey]int{}, Refused: map[usage.RefusedKey]int{},
		LastUsed: map[int64]usage.LastUse{}, LastAttempt: map[int64]usage.LastUse{}, LastRefused: map[int64]usage.LastUse{}}
	last := func(m map[int64]usage.LastUse, e usage.Event) {
		if prev, ok := m[e.KeyID]; !ok || e.At.After(prev.At) {
			m[e.KeyID] = usage.LastUse{At: e.At, IP: e.IP, UserAgent: e.UserAgent, Status: e.Status, Code: e.Code}
		}
	}
	for _, e := range events {
		if e.KeyID == 0 {
			continue
		}
		hour := e.At.UTC().Truncate(time.Hour)
		b.Hourly[usage.HourKey{OrganizationID: e.OrganizationID, KeyID: e.KeyID, Hour: hour, Class: e.Class()}]++
		b.Latency[usage.LatencyKey{OrganizationID: e.OrganizationID, KeyID: e.KeyID, Hour: hour, BucketUS: usage.BucketFor(e.Latency)}]++
		last(b.LastAttempt, e)
		if e.Status < 400 {
			last(b.LastUsed, e)
		}
		if e.Refused {
			b.Refused[usage.RefusedKey{OrganizationID: e.OrganizationID, KeyID: e.KeyID, Hour: hour}]++
			last(b.LastRefused, e)
		}
	}
	return b
}

func TestAggregateMatchesPerEventCounting(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	t0 := time.Date(2026, 11, 23, 9, 58, 0, 0, time.UTC)
	statuses := []int{200, 200, 200, 201, 404, 429, 500, 401}
	latencies := []time.Duration{90 * time.Microsecond, 3 * time.Millisecond, 40 * time.Millisecond, 2 * time.Second}
	for round := range 50 {
		var events []usage.Event
		at := t0
		for range r.IntN(400) {
			// Runs of one key, times mostly rising, sometimes back across
			// the hour, sometimes in another zone; unauthenticated calls.
			at = at.Add(time.Duration(r.IntN(2000)-200) * time.Millisecond)
			e := usage.Event{OrganizationID: 1 + int64(r.IntN(2)), KeyID: int64(r.IntN(4)), Status: statuses[r.IntN(len(statuses))],
				Latency: latencies[r.IntN(len(latencies))], At: at, IP: fmt.Sprintf("10.0.0.%d", r.IntN(3))}
			if e.Status == 401 {
				e.Refused, e.Code = true, "token_revoked"
			}
			if r.IntN(3) == 0 {
				e.At = e.At.In(time.FixedZone("UTC+2", 2*3600))
			}
			n := 1 + r.IntN(6)
			for range n {
				events = append(events, e)
				e.At = e.At.Add(time.Duration(r.IntN(50)) * time.Millisecond)
			}
		}
		got, want := usage.Aggregate(events), aggregateByMap(events)
		if !reflect.DeepEqual(got.Hourly, want.Hourly) || !reflect.DeepEqual(got.Latency, want.Latency) || !reflect.DeepEqual(got.Refused, want.Refused) {
			t.Fatalf("round %d: counters differ:\n got %v %v %v\nwant %v %v %v", round, got.Hourly, got.Latency, got.Refused, want.Hourly, want.Latency, want.Refused)
		}
		for name, maps := range map[string][2]map[int64]usage.LastUse{
			"last use": {got.LastUsed, want.LastUsed}, "last attempt": {got.LastAttempt, want.LastAttempt}, "last refusal": {got.LastRefused, want.LastRefused},
		} {
			g, w := maps[0], maps[1]
			if len(g) != len(w) {
				t.Fatalf("round %d: %s %v, want %v", round, name, g, w)
			}
			for k, wu := range w {
				if gu := g[k]; !gu.At.Equal(wu.At) || gu.IP != wu.IP || gu.Status != wu.Status {
					t.Fatalf("round %d: key %d %s %v, want %v", round, k, name, gu, wu)
				}
			}
		}
	}
}

func TestAggregateLastUseAndRefusals(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	events := []usage.Event{
		{OrganizationID: 1, KeyID: 7, Status: 200, At: t0, IP: "10.0.0.1"},
		{OrganizationID: 1, KeyID: 7, Status: 404, At: t0.Add(time.Second), IP: "10.0.0.2", Code: "not_found"},
		{OrganizationID: 1, KeyID: 8, Status: 401, At: t0, IP: "10.0.0.3", Code: "token_revoked", Refused: true},
		{OrganizationID: 1, KeyID: 8, Status: 401, At: t0.Add(2 * time.Second), IP: "10.0.0.4", Code: "token_revoked", Refused: true},
	}
	b := usage.Aggregate(events)
	t.Run("LastUsedIsTheLastSuccess", func(t *testing.T) {
		if got := b.LastUsed[7]; got.IP != "10.0.0.1" || got.Status != 200 {
			t.Fatalf("last use = %+v, want the 200 from 10.0.0.1", got)
		}
		if _, ok := b.LastUsed[8]; ok {
			t.Fatal("a key whose requests were all refused has a last use")
		}
	})
	t.Run("LastAttemptIsAnyOutcome", func(t *testing.T) {
		if got := b.LastAttempt[7]; got.IP != "10.0.0.2" || got.Code != "not_found" {
			t.Fatalf("last attempt = %+v", got)
		}
		if got := b.LastAttempt[8]; got.IP != "10.0.0.4" {
			t.Fatalf("last attempt = %+v", got)
		}
	})
	t.Run("RefusalsCountedApart", func(t *testing.T) {
		if got, want := b.Refused[usage.RefusedKey{OrganizationID: 1, KeyID: 8, Hour: t0}], 2; got != want {
			t.Fatalf("refused = %d, want %d", got, want)
		}
		if len(b.Refused) != 1 {
			t.Fatalf("refused = %v", b.Refused)
		}
		if got := b.LastRefused[8]; got.IP != "10.0.0.4" || got.Code != "token_revoked" {
			t.Fatalf("last refusal = %+v", got)
		}
		if got, want := b.Hourly[usage.HourKey{OrganizationID: 1, KeyID: 8, Hour: t0, Class: "4xx"}], 2; got != want {
			t.Fatalf("4xx = %d, want %d: refused requests are requests too", got, want)
		}
	})
}

func TestBufferKeepsRequestDetails(t *testing.T) {
	sink := &copySink{}
	b := usage.NewBuffer(sink)
	id, ok := usage.ParseRequestID("3F2a9c0d1b4e5f60")
	if !ok {
		t.Fatal("request id not parsed")
	}
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	in := []usage.Event{
		{OrganizationID: 1, KeyID: 7, Method: "GET", Route: "/api/v1/bots/{id}", Path: "/api/v1/bots/bot_1", Status: 404, Code: "not_found", RequestID: id, At: at},
		{OrganizationID: 1, KeyID: 7, Method: "GET", Route: "/api/v1/me", Path: "/api/v1/me", Status: 200, At: at},
		{OrganizationID: 1, KeyID: 8, Method: "GET", Route: "/api/v1/me", Path: "/api/v1/me", Status: 401, Code: "token_expired", Refused: true, At: at},
	}
	for _, e := range in {
		b.Record(e)
	}
	if err := b.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := sink.batches[0]; !reflect.DeepEqual(got, in) {
		t.Fatalf("flushed %+v, want %+v", got, in)
	}
}

func TestRequestID(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
		ok             bool
	}{
		{"OK", "3f2a9c0d1b4e5f60", "3f2a9c0d1b4e5f60", true},
		{"OKUpperCase", "3F2A9C0D1B4E5F60", "3f2a9c0d1b4e5f60", true},
		{"OKLeadingZeros", "000000000000000a", "000000000000000a", true},
		{"ErrShort", "3f2a9c0d", "", false},
		{"ErrNotHex", "3f2a9c0d1b4e5f6g", "", false},
		{"ErrEmpty", "", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, ok := usage.ParseRequestID(tt.in)
			if ok != tt.ok || id.String() != tt.want {
				t.Fatalf("ParseRequestID(%q) = %q, %v; want %q, %v", tt.in, id.String(), ok, tt.want, tt.ok)
			}
		})
	}
	id, _ := usage.ParseRequestID("0102030405060708")
	if got, want := id.Bytes(), [8]byte{1, 2, 3, 4, 5, 6, 7, 8}; got != want {
		t.Fatalf("Bytes = %v, want %v", got, want)
	}
}

// TestAggregate_StatusOfNoClass: a status of no class (1xx, 600 on) is
// logged but counted under no class, as the logs' class filter finds it
// under none.
func TestAggregate_StatusOfNoClass(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	events := []usage.Event{
		{OrganizationID: 1, KeyID: 7, At: t0, Status: 200},
		{OrganizationID: 1, KeyID: 7, At: t0.Add(time.Second), Status: 101},
		{OrganizationID: 1, KeyID: 7, At: t0.Add(2 * time.Second), Status: 600},
		{OrganizationID: 1, KeyID: 7, At: t0.Add(3 * time.Second), Status: 204},
	}
	b := usage.Aggregate(events)
	want := map[usage.HourKey]int{{OrganizationID: 1, KeyID: 7, Hour: t0, Class: "2xx"}: 2}
	if !reflect.DeepEqual(b.Hourly, want) {
		t.Fatalf("hourly = %v, want %v", b.Hourly, want)
	}
	if got, want := len(b.Requests), 4; got != want {
		t.Fatalf("logged %d requests, want %d", got, want)
	}
}
