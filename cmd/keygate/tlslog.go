package main

import (
	"log"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/keygate/keygate/internal/tlsconf"
)

// rejections are the handshake errors of a client that does not trust the
// server's certificate: the alert it sends (Go's "bad certificate", "unknown
// certificate" or "unknown certificate authority" from others), or what Go
// reports when curl and other OpenSSL clients give up: a local "bad record
// MAC".
var rejections = []string{
	"remote error: tls: unknown certificate authority",
	"remote error: tls: bad certificate",
	"remote error: tls: unknown certificate",
	"remote error: tls: unsupported certificate",
	"remote error: tls: bad record MAC",
	"local error: tls: bad record MAC",
}

// handshakeErrorPrefix starts the line net/http logs for a failed handshake.
const handshakeErrorPrefix = "http: TLS handshake error from "

// httpsErrorLog is the ErrorLog of the HTTPS server. With a self-signed
// certificate, every client not yet told to trust it fails its handshake:
// that is expected, not a fault of the server, so such rejections are
// logged at debug level, and the first one also once at info level with
// what to do. Every other error stays a warning.
func httpsErrorLog(logger *slog.Logger, mode, certFile string) *log.Logger {
	return log.New(&httpsLogWriter{logger: logger, selfSigned: mode == tlsconf.ModeSelfSigned, certFile: certFile}, "", 0)
}

type httpsLogWriter struct {
	logger     *slog.Logger
	selfSigned bool
	certFile   string
	explained  atomic.Bool
}

func (w *httpsLogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	if remote, reason, ok := clientRejection(msg); ok && w.selfSigned {
		w.logger.Debug("client rejected the self-signed certificate", "remote", remote, "error", reason)
		if w.explained.CompareAndSwap(false, true) {
			w.logger.Info("A client rejected the self-signed certificate, as clients do until told to trust its file "+
				"(curl --cacert FILE, Python requests verify=FILE, Node NODE_EXTRA_CA_CERTS=FILE): said once, every rejection is logged at debug level",
				"cert", w.certFile, "remote", remote, "error", reason)
		}
		return len(p), nil
	}
	w.logger.Warn(msg)
	return len(p), nil
}

// clientRejection reads a handshake error line and reports whether the
// client refused the certificate, with the client's address and the error.
func clientRejection(msg string) (remote, reason string, ok bool) {
	rest, found := strings.CutPrefix(msg, handshakeErrorPrefix)
	if !found {
		return "", "", false
	}
	remote, reason, found = strings.Cut(rest, ": ")
	if !found {
		return "", "", false
	}
	return remote, reason, slices.Contains(rejections, reason)
}
