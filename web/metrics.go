package web

import (
	"crypto/subtle"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds Keygate's Prometheus metrics in a registry of its own.
type Metrics struct {
	Registry *prometheus.Registry

	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	authFailures *prometheus.CounterVec
	throttles    prometheus.Counter

	// series caches each route and status's counter and histogram:
	// looking them up by label values hashes the labels every time.
	series sync.Map // routeStatus -> *routeSeries
}

type routeStatus struct {
	route  string
	status int
}

type routeSeries struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

// NewMetrics returns a registry with the HTTP and API metrics and the Go
// runtime and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keygate_http_requests_total", Help: "HTTP requests by route pattern and status code.",
	}, []string{"route", "status"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "keygate_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route"})
	m.authFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keygate_api_auth_failures_total", Help: "API requests refused at authentication, by reason.",
	}, []string{"reason"})
	m.throttles = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keygate_api_rate_limited_total", Help: "API requests refused by the rate limit.",
	})
	m.Registry.MustRegister(m.requests, m.latency, m.authFailures, m.throttles,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *Metrics) authFailure(reason string) { m.authFailures.WithLabelValues(reason).Inc() }

func (m *Metrics) throttled() { m.throttles.Inc() }

// observe records one finished request.
func (m *Metrics) observe(route string, status int, d time.Duration) {
	k := routeStatus{route, status}
	v, ok := m.series.Load(k)
	if !ok {
		// Routes are patterns and statuses three digits: the cache is small.
		v, _ = m.series.LoadOrStore(k, &routeSeries{
			requests: m.requests.WithLabelValues(route, strconv.Itoa(status)),
			latency:  m.latency.WithLabelValues(route),
		})
	}
	rs := v.(*routeSeries)
	rs.requests.Inc()
	rs.latency.Observe(d.Seconds())
}

// counterFunc registers a counter read from fn at scrape time.
func (m *Metrics) counterFunc(name, help string, fn func() float64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, fn))
}

// PoolStats are the figures of a database connection pool, as
// database/sql's DBStats gives them; web takes them from a function so
// that it knows nothing of the database.
type PoolStats struct {
	MaxOpen, Open, InUse, Idle int
	WaitCount                  int64
	WaitDuration               time.Duration
	MaxIdleClosed              int64
	MaxIdleTimeClosed          int64
	MaxLifetimeClosed          int64
}

// RegisterDB adds the statistics of the connection pool name, read from
// stats at scrape time, as the go_sql_* series labelled db_name.
func (m *Metrics) RegisterDB(stats func() PoolStats, name string) {
	m.Registry.MustRegister(newPoolCollector(stats, name))
}

// poolCollector exports PoolStats under the names Prometheus' own
// database/sql collector uses, so that dashboards built for it work.
type poolCollector struct {
	stats func() PoolStats
	descs [9]*prometheus.Desc
}

func newPoolCollector(stats func() PoolStats, name string) *poolCollector {
	c := &poolCollector{stats: stats}
	for i, d := range [9][2]string{
		{"max_open_connections", "Maximum number of open connections to the database."},
		{"open_connections", "The number of established connections both in use and idle."},
		{"in_use_connections", "The number of connections currently in use."},
		{"idle_connections", "The number of idle connections."},
		{"wait_count_total", "The total number of connections waited for."},
		{"wait_duration_seconds_total", "The total time blocked waiting for a new connection."},
		{"max_idle_closed_total", "The total number of connections closed due to SetMaxIdleConns."},
		{"max_idle_time_closed_total", "The total number of connections closed due to SetConnMaxIdleTime."},
		{"max_lifetime_closed_total", "The total number of connections closed due to SetConnMaxLifetime."},
	} {
		c.descs[i] = prometheus.NewDesc("go_sql_"+d[0], d[1], nil, prometheus.Labels{"db_name": name})
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	for i, v := range [9]struct {
		t prometheus.ValueType
		v float64
	}{
		{gauge, float64(s.MaxOpen)}, {gauge, float64(s.Open)}, {gauge, float64(s.InUse)}, {gauge, float64(s.Idle)},
		{counter, float64(s.WaitCount)}, {counter, s.WaitDuration.Seconds()},
		{counter, float64(s.MaxIdleClosed)}, {counter, float64(s.MaxIdleTimeClosed)}, {counter, float64(s.MaxLifetimeClosed)},
	} {
		ch <- prometheus.MustNewConstMetric(c.descs[i], v.t, v.v)
	}
}

// registerServices adds the metrics read from the verifier and the usage
// buffer, when the server has them.
func (s *Server) registerServiceMetrics() {
	m := s.metrics
	if s.verifier != nil {
		v := s.verifier
		m.counterFunc("keygate_verifier_cache_hits_total", "API key verifications answered from the cache.",
			func() float64 { h, _ := v.Stats(); return float64(h) })
		m.counterFunc("keygate_verifier_cache_misses_total", "API key verifications that read the database.",
			func() float64 { _, miss := v.Stats(); return float64(miss) })
		m.counterFunc("keygate_verifier_cache_flushes_total", "Times the API key cache was emptied by a change to keys, here or on another replica.",
			func() float64 { return float64(v.Flushes()) })
		m.counterFunc("keygate_verifier_cache_fallbacks_total", "API key verifications answered from the cache because the database could not be read.",
			func() float64 { return float64(v.Fallbacks()) })
	}
	if s.listener != nil {
		l := s.listener
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "keygate_listener_connected", Help: "1 while this replica listens for the other replicas' changes to keys, else 0.",
		}, func() float64 {
			if l.Connected() {
				return 1
			}
			return 0
		}))
		m.counterFunc("keygate_listener_reconnects_total", "Times the listener listened again after losing its connection.",
			func() float64 { return float64(l.Reconnects()) })
		m.counterFunc("keygate_listener_notifications_total", "Changes to keys the listener heard of, from any replica.",
			func() float64 { return float64(l.Notifications()) })
	}
	if s.usage != nil {
		u := s.usage
		m.counterFunc("keygate_usage_flushes_total", "Usage batches written.",
			func() float64 { f, _, _ := u.Stats(); return float64(f) })
		m.counterFunc("keygate_usage_flush_failures_total", "Usage batches that failed to write.",
			func() float64 { _, f, _ := u.Stats(); return float64(f) })
		m.counterFunc("keygate_usage_dropped_total", "Usage events dropped (buffer full or failed flush).",
			func() float64 { _, _, d := u.Stats(); return float64(d) })
	}
}

// Metrics returns the server's metrics, for wiring pool statistics.
func (s *Server) Metrics() *Metrics { return s.metrics }

// MetricsHandler serves the metrics in the Prometheus format. With a
// token, a request must carry "Authorization: Bearer TOKEN".
func (s *Server) MetricsHandler(token string) http.Handler {
	h := promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{})
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
