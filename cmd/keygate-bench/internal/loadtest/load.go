package loadtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// client is the load generator's side: one Transport speaking HTTP/1.1
// with keep-alive, trusting only the loopback certificate and refusing to
// dial anything but 127.0.0.1.
type client struct {
	hc    *http.Client
	tr    *http.Transport
	dials atomic.Int64
}

func newClient(roots *x509.CertPool, workers int) *client {
	c := &client{}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	c.tr = &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			// The benchmark must never send load anywhere else.
			if host, _, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" {
				return nil, fmt.Errorf("loadtest: refusing to dial %q: only 127.0.0.1 is allowed", addr)
			}
			c.dials.Add(1)
			return dialer.DialContext(ctx, network, addr)
		},
		// No InsecureSkipVerify: the server's certificate is the only root.
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConnsPerHost: workers,
		MaxConnsPerHost:     workers,
		IdleConnTimeout:     90 * time.Second,
		Protocols:           new(http.Protocols),
	}
	c.tr.Protocols.SetHTTP1(true)
	c.hc = &http.Client{Transport: c.tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return c
}

// loader sends the load: client in process, or remoteClient.
type loader interface {
	run(ctx context.Context, t target, workers int, d time.Duration, limit int) *phase
	dialed() int64
}

func (c *client) dialed() int64 { return c.dials.Load() }

// target is what a scenario requests: one URL, or the same path on
// several replicas in turn (as a round-robin balancer sends it), with the
// keys used in turn.
type target struct {
	urls []string
	auth []string // Authorization header values
}

func newTarget(url string, keys []string) target { return newTargets([]string{url}, keys) }

func newTargets(urls []string, keys []string) target {
	t := target{urls: urls, auth: make([]string, len(keys))}
	for i, k := range keys {
		t.auth[i] = "Bearer " + k
	}
	return t
}

// response is one complete answer.
type response struct {
	status int
	header http.Header
	body   []byte
	proto  string
	tls    uint16
}

// get makes one request with the target's first key.
func (c *client) get(t target) (*response, error) {
	req, err := http.NewRequest(http.MethodGet, t.urls[0], nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", t.auth[0])
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := &response{status: resp.StatusCode, header: resp.Header, body: body, proto: resp.Proto}
	if resp.TLS != nil {
		out.tls = resp.TLS.Version
	}
	return out, nil
}

// phase is the outcome of running load for a while.
type phase struct {
	requests  int // complete responses, whatever their status
	non2xx    int
	errors    int
	firstErr  error
	elapsed   time.Duration
	latencies []time.Duration
}

// run sends requests from workers concurrent keep-alive workers, each one
// after the other, until d has passed, limit requests have been started or
// ctx ends. Requests in flight when time is up are completed and counted.
func (c *client) run(ctx context.Context, t target, workers int, d time.Duration, limit int) *phase {
	var stop atomic.Bool
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	defer context.AfterFunc(ctx, func() { stop.Store(true) })()

	var issued atomic.Int64
	results := make([]*phase, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Go(func() { results[w] = c.work(t, &stop, &issued, int64(limit)) })
	}
	wg.Wait()
	p := &phase{elapsed: time.Since(start)}
	for _, r := range results {
		p.requests += r.requests
		p.non2xx += r.non2xx
		p.errors += r.errors
		if p.firstErr == nil {
			p.firstErr = r.firstErr
		}
		p.latencies = append(p.latencies, r.latencies...)
	}
	return p
}

// work is one worker's loop. Keys are taken in turn across all workers, so
// every key of the target gets the same share.
func (c *client) work(t target, stop *atomic.Bool, issued *atomic.Int64, limit int64) *phase {
	p := &phase{latencies: make([]time.Duration, 0, 4096)}
	for !stop.Load() {
		n := issued.Add(1)
		if n > limit {
			break
		}
		req, err := http.NewRequest(http.MethodGet, t.urls[(n-1)%int64(len(t.urls))], nil)
		if err != nil {
			p.fail(err)
			break
		}
		req.Header.Set("Authorization", t.auth[(n-1)%int64(len(t.auth))])
		start := time.Now()
		resp, err := c.hc.Do(req)
		if err != nil {
			p.fail(err)
			continue
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		elapsed := time.Since(start)
		if err != nil {
			p.fail(err)
			continue
		}
		p.requests++
		p.latencies = append(p.latencies, elapsed)
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			p.non2xx++
			if p.firstErr == nil {
				p.firstErr = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
	}
	return p
}

func (p *phase) fail(err error) {
	p.errors++
	if p.firstErr == nil {
		p.firstErr = err
	}
}

// percentile returns the nearest-rank q-quantile of sorted latencies.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(float64(len(sorted))*q)) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
