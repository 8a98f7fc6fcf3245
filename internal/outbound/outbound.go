// Package outbound guards the requests Keygate makes to addresses that a
// tenant chose rather than the operator: an organization's own identity
// provider (discovery, keys, token and userinfo endpoints) today, and any
// other destination an organization configures later. An Organization
// Admin must not be able to make the server call its own intranet, the
// cloud's metadata service or itself.
//
// The guard is enforced where it cannot be talked around: every address
// the client dials is checked at connect time, after DNS resolution, so a
// name that resolves to a public address when checked and to a private one
// when dialled (DNS rebinding) is still refused; redirects are never
// followed; and only https:// is spoken.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// FlagName is the operator's switch that lifts the guard for private and
// loopback addresses.
const FlagName = "--allow-private-destinations"

// Policy says which destinations tenant-configured requests may reach.
type Policy struct {
	// AllowPrivate lets requests reach loopback and private addresses
	// (RFC 1918, fc00::/7, 100.64.0.0/10), and use plain http:// on a
	// loopback address: for an identity provider on the intranet, and for
	// tests. Link-local addresses (cloud metadata), unspecified, multicast
	// and reserved addresses stay refused.
	AllowPrivate bool
}

// BlockedError is a request the guard refused. Its Message is fit for the
// person who configured the destination.
type BlockedError struct {
	// Target is what was refused: a URL, or an address.
	Target string
	// Why completes "Keygate does not ...".
	why string
	// private says the flag would allow it.
	private bool
}

func (e *BlockedError) Error() string {
	return "outbound: " + e.Target + ": " + e.why
}

// Message says in words why the request was refused and, where the
// operator can allow it, how.
func (e *BlockedError) Message() string {
	msg := "Keygate " + e.why + "."
	if e.private {
		msg += " An operator can allow private and loopback addresses with " + FlagName + "."
	}
	return msg
}

// Message returns the BlockedError's Message if err holds one, else "".
func Message(err error) string {
	var be *BlockedError
	if errors.As(err, &be) {
		return be.Message()
	}
	return ""
}

var (
	cgnat   = netip.MustParsePrefix("100.64.0.0/10")
	thisNet = netip.MustParsePrefix("0.0.0.0/8")
	reserve = netip.MustParsePrefix("240.0.0.0/4") // includes broadcast
	nat64   = netip.MustParsePrefix("64:ff9b::/96")
)

// classify names the kind of a non-public address, or returns "" for a
// public one; private says whether AllowPrivate admits it.
func classify(ip netip.Addr) (kind string, private bool) {
	ip = ip.Unmap()
	if nat64.Contains(ip) {
		// A NAT64 address reaches the IPv4 address it embeds.
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	switch {
	case !ip.IsValid():
		return "an invalid address", false
	case ip.IsUnspecified():
		return "an unspecified address", false
	case ip.IsLoopback():
		return "a loopback address", true
	case ip.IsPrivate(), cgnat.Contains(ip):
		return "a private address", true
	case ip.IsLinkLocalUnicast():
		return "a link-local address", false
	case ip.IsMulticast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		return "a multicast address", false
	case thisNet.Contains(ip), reserve.Contains(ip):
		return "a reserved address", false
	}
	return "", false
}

// CheckAddr returns a *BlockedError if the policy refuses ip.
func (p Policy) CheckAddr(ip netip.Addr) error { return p.checkAddr("", ip) }

// checkAddr is CheckAddr for an address host resolved to ("" for none).
func (p Policy) checkAddr(host string, ip netip.Addr) error {
	kind, private := classify(ip)
	if kind == "" || (private && p.AllowPrivate) {
		return nil
	}
	what := ip.Unmap().String() + " is " + kind
	if host != "" {
		what = host + " resolves to " + ip.Unmap().String() + ", " + kind
	}
	return &BlockedError{Target: ip.String(), why: "does not connect to private or internal addresses: " + what, private: private}
}

// CheckURL returns a *BlockedError if the policy refuses u's scheme, or
// its host when that is an address. Names are checked when dialled.
func (p Policy) CheckURL(u *url.URL) error {
	host := u.Hostname()
	loopback := strings.EqualFold(host, "localhost")
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := p.CheckAddr(ip); err != nil {
			return err
		}
		loopback = ip.Unmap().IsLoopback()
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && loopback && p.AllowPrivate:
		return nil
	}
	return &BlockedError{Target: u.Redacted(), why: "connects to an organization's services over https:// only, and " + u.Redacted() + " is not"}
}

// IPResolver resolves host names; *net.Resolver is one.
type IPResolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// CheckHost is CheckURL that also resolves a host name and refuses it if
// any of its addresses is refused. It is the early, friendly check of a
// settings form: a name that does not resolve passes (the request will
// fail later with its own error), and the dial-time check stays the one
// that counts.
func (p Policy) CheckHost(ctx context.Context, r IPResolver, u *url.URL) error {
	host := u.Hostname()
	if _, err := netip.ParseAddr(host); err != nil {
		addrs, err := r.LookupNetIP(ctx, "ip", host)
		if err == nil {
			for _, ip := range addrs {
				if err := p.checkAddr(host, ip); err != nil {
					return err
				}
			}
		}
	}
	return p.CheckURL(u)
}

// Client returns an HTTP client that applies the policy to every request:
// the scheme before sending, each dialled address at connect time, and no
// redirects. It uses no proxy from the environment, which would make the
// proxy the only address checked. timeout bounds each whole request.
func (p Policy) Client(timeout time.Duration) *http.Client {
	dialer := &net.Dialer{
		Timeout: 10 * time.Second,
		// Control runs for every address the dialer tries, after name
		// resolution: what is checked is what is connected to.
		Control: func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return fmt.Errorf("outbound: dial %s: %w", address, err)
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return fmt.Errorf("outbound: dial %s: %w", address, err)
			}
			return p.CheckAddr(ip)
		},
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          20,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 15 * time.Second,
	}
	return &http.Client{
		Timeout:   timeout,
		Transport: schemeGuard{policy: p, next: transport},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			return &BlockedError{Target: req.URL.Redacted(),
				why: "does not follow redirects from an organization's services: " + via[len(via)-1].URL.Redacted() + " redirected to " + req.URL.Redacted()}
		},
	}
}

// schemeGuard refuses a request whose URL the policy refuses before any
// connection is made.
type schemeGuard struct {
	policy Policy
	next   http.RoundTripper
}

func (g schemeGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := g.policy.CheckURL(req.URL); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return g.next.RoundTrip(req)
}
