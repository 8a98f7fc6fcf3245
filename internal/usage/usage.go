// Package usage buffers API usage in memory and writes it in batches: the
// request log, per-key hourly counters by status class, per-key hourly
// latency histograms and refused requests, and each key's last use, last
// attempt and last refusal. The API's hot path only appends to a slice
// under a mutex; it never writes to the database.
package usage

import (
	"context"
	"encoding/hex"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// Event is one API request.
type Event struct {
	OrganizationID int64
	KeyID          int64
	Method         string
	Route          string
	// Path is the path requested, escaped, with any key in it replaced by
	// its hint; Route is the pattern that served it.
	Path      string
	Status    int
	Latency   time.Duration
	IP        string
	UserAgent string
	At        time.Time
	// RequestID is the X-Request-Id the response carried.
	RequestID RequestID
	// Code is the error code of the response's body, "" for a success.
	Code string
	// Refused: the key is known but may no longer be used (revoked,
	// expired, or its creator disabled), and the request got a 401.
	Refused bool
	// Service is the service a forward-auth or verify call checked the
	// key for; "" for a call of Keygate's own API.
	Service string
}

// RequestID is a request id as stored: the 16 hexadecimal digits of
// X-Request-Id as a number. 0 stands for none.
type RequestID uint64

// ParseRequestID reads a request id of 16 hexadecimal digits, in either
// case.
func ParseRequestID(s string) (RequestID, bool) {
	if len(s) != 16 {
		return 0, false
	}
	var id uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		id = id<<4 | uint64(c)
	}
	return RequestID(id), true
}

// String returns the id's 16 lowercase hexadecimal digits, "" for none.
func (id RequestID) String() string {
	if id == 0 {
		return ""
	}
	b := id.Bytes()
	return hex.EncodeToString(b[:])
}

// Bytes returns the id big-endian, the order of its digits.
func (id RequestID) Bytes() [8]byte {
	var b [8]byte
	for i := range b {
		b[i] = byte(id >> (56 - 8*i))
	}
	return b
}

// Class is the status class an event counts under
// (keygate.StatusClassOf): 2xx, 4xx, 5xx, or 429 apart from other 4xx; ""
// for a status of no class, which no counter takes.
func (e Event) Class() string { return keygate.StatusClassOf(e.Status) }

// HourKey names one hourly counter.
type HourKey struct {
	OrganizationID int64
	KeyID          int64
	Hour           time.Time // start of the hour, UTC
	Class          string
}

// ServiceKey names one hourly counter of a key's calls for a service
// ("" for Keygate's own API) by status class.
type ServiceKey struct {
	OrganizationID int64
	KeyID          int64
	Hour           time.Time // start of the hour, UTC
	Service        string
	Class          string
}

// LatencyBucketsUS are the upper bounds, in microseconds, of the latency
// histogram buckets, ascending. A request falls in the first bucket whose
// bound is at least its latency; the last bound, math.MaxInt64, stands for
// +Inf. Stored counts are keyed by bound, so bounds may be added later but
// existing ones must not move.
var LatencyBucketsUS = []int64{250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, math.MaxInt64}

// BucketFor returns the upper bound, in microseconds, of the latency bucket
// d falls in: the smallest bound that is not less than d.
func BucketFor(d time.Duration) int64 {
	us := d.Microseconds()
	for _, b := range LatencyBucketsUS {
		if us <= b {
			return b
		}
	}
	return math.MaxInt64
}

// LatencyKey names one hourly latency histogram bucket.
type LatencyKey struct {
	OrganizationID int64
	KeyID          int64
	Hour           time.Time // start of the hour, UTC
	BucketUS       int64     // the bucket's upper bound, one of LatencyBucketsUS
}

// RefusedKey names one hourly counter of a key's refused requests.
type RefusedKey struct {
	OrganizationID int64
	KeyID          int64
	Hour           time.Time // start of the hour, UTC
}

// LastUse is a key's most recent request of a kind in a batch.
type LastUse struct {
	At        time.Time
	IP        string
	UserAgent string
	Status    int
	Code      string
}

// Batch is what one flush writes, in one transaction.
type Batch struct {
	Requests []Event
	Hourly   map[HourKey]int
	Latency  map[LatencyKey]int
	Refused  map[RefusedKey]int
	// Services counts each key's calls per service and hour.
	Services map[ServiceKey]int
	// LastUsed is each key's last successful request (a status below
	// 400), LastAttempt its last request of any outcome, LastRefused its
	// last refused one.
	LastUsed    map[int64]LastUse
	LastAttempt map[int64]LastUse
	LastRefused map[int64]LastUse
}

// Sink stores batches (internal/sqlstore.UsageStore).
type Sink interface {
	WriteUsage(ctx context.Context, b *Batch) error
}

// Buffer collects events and flushes them to a Sink.
//
// Waiting events hold no pointers: their strings are numbers in a table of
// the period's distinct strings (a busy key sends the same address, agent
// and route thousands of times a second). The garbage collector never
// scans a buffer without pointers, however many requests it holds, and
// the table is a handful of strings. A second of 10,000 requests recorded
// and flushed (BenchmarkRecordSecond, one core) takes 2.5 ms and allocates
// 1.9 MB this way, against 7.9 ms and 8.7 MB as a plain slice of Events
// (BenchmarkRecordSecondPlain).
type Buffer struct {
	sink Sink
	// Max is how many events may wait; beyond it events are dropped and
	// counted, so a stalled database cannot exhaust memory.
	Max int

	mu      sync.Mutex
	pending []pendingEvent
	// spare is the slice the last flush wrote, emptied, for pending to
	// take over: events accumulate in memory already grown rather than in
	// a slice regrown (and copied) from nothing every second.
	spare []pendingEvent
	// strs numbers the pending events' strings: strs[s] is s's index in
	// strList.
	strs    map[string]uint32
	strList []string

	flushes, drops, failures atomic.Uint64
	flushMu                  sync.Mutex
}

// noString numbers no string: an event without an error code.
const noString = math.MaxUint32

// pendingEvent is an Event waiting for the flush, its strings numbered.
type pendingEvent struct {
	organizationID, keyID int64
	at                    int64 // Unix nanoseconds
	latency               time.Duration
	requestID             RequestID
	status                int32
	method, route, path   uint32
	ip, userAgent, code   uint32
	service               uint32
	refused               bool
}

// NewBuffer returns a Buffer writing to sink.
func NewBuffer(sink Sink) *Buffer {
	return &Buffer{sink: sink, Max: 200_000}
}

// Record adds an event. It never blocks on the database.
func (b *Buffer) Record(e Event) {
	b.mu.Lock()
	if len(b.pending) >= b.Max {
		b.mu.Unlock()
		b.drops.Add(1)
		return
	}
	p := pendingEvent{
		organizationID: e.OrganizationID, keyID: e.KeyID, at: e.At.UnixNano(), latency: e.Latency, status: int32(e.Status),
		requestID: e.RequestID, method: b.number(e.Method), route: b.number(e.Route), ip: b.number(e.IP),
		userAgent: b.number(e.UserAgent), refused: e.Refused,
	}
	// Most requests are of a route without a wildcard, which is their
	// path, and succeed: no lookup for what they repeat.
	p.path = p.route
	if e.Path != e.Route {
		p.path = b.number(e.Path)
	}
	p.code, p.service = noString, noString
	if e.Code != "" {
		p.code = b.number(e.Code)
	}
	if e.Service != "" {
		p.service = b.number(e.Service)
	}
	b.pending = append(b.pending, p)
	b.mu.Unlock()
}

// number returns s's index in the string table, adding it if new. b.mu is
// held.
func (b *Buffer) number(s string) uint32 {
	if i, ok := b.strs[s]; ok {
		return i
	}
	if b.strs == nil {
		b.strs = make(map[string]uint32, 64)
	}
	i := uint32(len(b.strList))
	b.strs[s] = i
	b.strList = append(b.strList, s)
	return i
}

// Pending returns how many events wait for the next flush.
func (b *Buffer) Pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)
}

// Flush writes everything pending in one batch. On failure the events are
// counted as dropped: usage is best effort and must not pile up.
func (b *Buffer) Flush(ctx context.Context) error {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.mu.Lock()
	pending, strList := b.pending, b.strList
	b.pending, b.spare = b.spare, nil
	// A new period numbers its strings afresh; the map keeps its memory.
	clear(b.strs)
	b.strList = nil
	b.mu.Unlock()
	if len(pending) == 0 {
		b.keepSpare(pending)
		return nil
	}
	// The events are built for the write and dropped after it, never kept
	// where the garbage collector would scan them again.
	events := make([]Event, len(pending))
	for i, p := range pending {
		yieldEvery(i)
		events[i] = Event{
			OrganizationID: p.organizationID, KeyID: p.keyID, Method: strList[p.method], Route: strList[p.route],
			Path: strList[p.path], Status: int(p.status), Latency: p.latency, IP: strList[p.ip], UserAgent: strList[p.userAgent],
			At: time.Unix(0, p.at).UTC(), RequestID: p.requestID, Refused: p.refused,
		}
		if p.code != noString {
			events[i].Code = strList[p.code]
		}
		if p.service != noString {
			events[i].Service = strList[p.service]
		}
	}
	b.keepSpare(pending)
	if err := b.sink.WriteUsage(ctx, Aggregate(events)); err != nil {
		b.failures.Add(1)
		b.drops.Add(uint64(len(events)))
		return err
	}
	b.flushes.Add(1)
	return nil
}

// keepSpare keeps a flushed slice for the next flush's events.
func (b *Buffer) keepSpare(pending []pendingEvent) {
	if cap(pending) == 0 {
		return
	}
	b.mu.Lock()
	if b.pending == nil {
		b.pending = pending[:0]
	} else if b.spare == nil {
		b.spare = pending[:0]
	}
	b.mu.Unlock()
}

// Aggregate turns events into a batch.
//
// Events come in runs: a busy key's requests follow one another, in the
// same hour, mostly with the same class and latency bucket. A run is
// counted locally and added to the maps when it ends, which spares most
// events the map lookups.
func Aggregate(events []Event) *Batch {
	batch := &Batch{Requests: events, Hourly: map[HourKey]int{}, Latency: map[LatencyKey]int{}, Refused: map[RefusedKey]int{},
		Services: map[ServiceKey]int{}, LastUsed: map[int64]LastUse{}, LastAttempt: map[int64]LastUse{}, LastRefused: map[int64]LastUse{}}
	var (
		hk                 HourKey
		lk                 LatencyKey
		sk                 ServiceKey
		hn, ln, sn         int
		hourStart, hourEnd time.Time // the hour of the last event, UTC
		lastKey            int64     // the key of the current run, 0 if none
		run                lastUses  // its latest requests in the run
	)
	for i := range events {
		yieldEvery(i)
		e := &events[i]
		if e.KeyID == 0 {
			continue
		}
		if e.At.Before(hourStart) || !e.At.Before(hourEnd) {
			hourStart = e.At.UTC().Truncate(time.Hour)
			hourEnd = hourStart.Add(time.Hour)
		}
		h := HourKey{e.OrganizationID, e.KeyID, hourStart, e.Class()}
		switch {
		case h.Class == "":
			// Counters hold the four classes only; the log keeps the request.
		case hn > 0 && h == hk:
			hn++
		default:
			if hn > 0 {
				batch.Hourly[hk] += hn
			}
			hk, hn = h, 1
		}
		if l := (LatencyKey{e.OrganizationID, e.KeyID, hourStart, BucketFor(e.Latency)}); ln > 0 && l == lk {
			ln++
		} else {
			if ln > 0 {
				batch.Latency[lk] += ln
			}
			lk, ln = l, 1
		}
		if s := (ServiceKey{e.OrganizationID, e.KeyID, hourStart, e.Service, h.Class}); s.Class == "" {
			// As the hourly counters: the four classes only.
		} else if sn > 0 && s == sk {
			sn++
		} else {
			if sn > 0 {
				batch.Services[sk] += sn
			}
			sk, sn = s, 1
		}
		if e.Refused {
			batch.Refused[RefusedKey{e.OrganizationID, e.KeyID, hourStart}]++
		}
		if e.KeyID != lastKey {
			run.end(batch, lastKey)
			lastKey, run = e.KeyID, lastUses{}
		}
		run.add(e)
	}
	if hn > 0 {
		batch.Hourly[hk] += hn
	}
	if ln > 0 {
		batch.Latency[lk] += ln
	}
	if sn > 0 {
		batch.Services[sk] += sn
	}
	run.end(batch, lastKey)
	return batch
}

// lastUses are one key's latest requests of each kind in a run of its
// events.
type lastUses struct {
	used, attempt, refused *Event
}

func (l *lastUses) add(e *Event) {
	if l.attempt == nil || e.At.After(l.attempt.At) {
		l.attempt = e
	}
	if e.Status < 400 && (l.used == nil || e.At.After(l.used.At)) {
		l.used = e
	}
	if e.Refused && (l.refused == nil || e.At.After(l.refused.At)) {
		l.refused = e
	}
}

// end adds the run of key's events to the batch's last uses.
func (l *lastUses) end(batch *Batch, key int64) {
	keep := func(m map[int64]LastUse, e *Event) {
		if e == nil {
			return
		}
		if prev, ok := m[key]; !ok || e.At.After(prev.At) {
			m[key] = LastUse{At: e.At, IP: e.IP, UserAgent: e.UserAgent, Status: e.Status, Code: e.Code}
		}
	}
	keep(batch.LastUsed, l.used)
	keep(batch.LastAttempt, l.attempt)
	keep(batch.LastRefused, l.refused)
}

// yieldEvery lets the goroutines waiting for the core run every
// yieldEvents events of a loop over a flush's events. A busy second's
// events (30,000) take 4 ms to go through, in one piece without it (a
// runtime trace under load), which requests would wait for whole. With
// it and the pauses of the request log's statements (flushPause in
// sqlstore), p99 of GET /api/v1/me under load was 6.5-7.8 ms, against
// 8.1-9.7 with the pauses alone; a bot read 7.6-9.4 against 8.6-12; a
// list of 20 bots 9.5-10.6 against 9.7-11.6 (keygate-bench -serve-only,
// wrk on its own core, 32 connections, 3 interleaved rounds of 5 s, each
// build's rounds moving by 2-4 ms).
func yieldEvery(i int) {
	if i%yieldEvents == yieldEvents-1 {
		runtime.Gosched()
	}
}

const yieldEvents = 1024

// Run flushes every interval until ctx ends, then flushes once more.
func (b *Buffer) Run(ctx context.Context, interval time.Duration, onError func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// Flush what is left with a fresh, bounded context.
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := b.Flush(fctx); err != nil && onError != nil {
				onError(err)
			}
			cancel()
			return
		case <-t.C:
			// A flush in progress when ctx ends must still finish, or its
			// batch would be lost: it runs on a context of its own.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if err := b.Flush(fctx); err != nil && onError != nil {
				onError(err)
			}
			cancel()
		}
	}
}

// Stats returns how many flushes succeeded, failed, and how many events
// were dropped.
func (b *Buffer) Stats() (flushes, failures, drops uint64) {
	return b.flushes.Load(), b.failures.Load(), b.drops.Load()
}
