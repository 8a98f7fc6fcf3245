package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestHTTPSErrorLog(t *testing.T) {
	const (
		curlRefusal = "http: TLS handshake error from 127.0.0.1:50000: local error: tls: bad record MAC\n"
		goRefusal   = "http: TLS handshake error from [::1]:50001: remote error: tls: bad certificate\n"
		unknownCA   = "http: TLS handshake error from 127.0.0.1:50002: remote error: tls: unknown certificate authority\n"
		plainHTTP   = "http: TLS handshake error from 127.0.0.1:50003: client sent an HTTP request to an HTTPS server\n"
		eof         = "http: TLS handshake error from 127.0.0.1:50004: EOF\n"
		other       = "http: superfluous response.WriteHeader call\n"
	)
	type want struct {
		warn, info, debug int
	}
	tests := []struct {
		name  string
		mode  string
		lines []string
		want  want
	}{
		{"OKSelfSignedRefusalsExplainedOnce", "self-signed", []string{curlRefusal, goRefusal, unknownCA, curlRefusal}, want{0, 1, 4}},
		{"OKRealErrorsStayWarnings", "self-signed", []string{plainHTTP, eof, other}, want{3, 0, 0}},
		{"OKFilesRefusalsStayWarnings", "files", []string{curlRefusal, goRefusal}, want{2, 0, 0}},
		{"OKACMERefusalsStayWarnings", "acme", []string{unknownCA}, want{1, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			l := httpsErrorLog(logger, tt.mode, "/data/tls/selfsigned-cert.pem")
			for _, line := range tt.lines {
				l.Print(line)
			}
			var got want
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				switch {
				case strings.Contains(line, "level=WARN"):
					got.warn++
				case strings.Contains(line, "level=INFO"):
					got.info++
					if !strings.Contains(line, "cert=/data/tls/selfsigned-cert.pem") || !strings.Contains(line, "--cacert") {
						t.Errorf("explanation: %s", line)
					}
				case strings.Contains(line, "level=DEBUG"):
					got.debug++
				}
			}
			if got != tt.want {
				t.Fatalf("warn, info, debug = %v, want %v:\n%s", got, tt.want, buf.String())
			}
		})
	}
}
