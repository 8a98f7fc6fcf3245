package outbound_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/outbound"
)

func TestPolicy_CheckAddr(t *testing.T) {
	for _, tt := range []struct {
		addr          string
		wantKind      string // "" for allowed
		allowedByFlag bool
	}{
		{"8.8.8.8", "", false},
		{"2001:4860:4860::8888", "", false},
		{"127.0.0.1", "a loopback address", true},
		{"127.10.0.1", "a loopback address", true},
		{"::1", "a loopback address", true},
		{"::ffff:127.0.0.1", "a loopback address", true},
		{"10.1.2.3", "a private address", true},
		{"172.16.0.9", "a private address", true},
		{"192.168.1.1", "a private address", true},
		{"fd12:3456::1", "a private address", true},
		{"100.64.0.1", "a private address", true},
		{"169.254.169.254", "a link-local address", false},
		{"::ffff:169.254.169.254", "a link-local address", false},
		{"64:ff9b::a9fe:a9fe", "a link-local address", false}, // NAT64 of 169.254.169.254
		{"fe80::1", "a link-local address", false},
		{"0.0.0.0", "an unspecified address", false},
		{"::", "an unspecified address", false},
		{"0.1.2.3", "a reserved address", false},
		{"255.255.255.255", "a reserved address", false},
		{"224.0.0.1", "a multicast address", false},
		{"ff02::1", "a multicast address", false},
	} {
		t.Run(tt.addr, func(t *testing.T) {
			ip := netip.MustParseAddr(tt.addr)
			err := outbound.Policy{}.CheckAddr(ip)
			if tt.wantKind == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var be *outbound.BlockedError
			if !errors.As(err, &be) || !strings.Contains(be.Message(), " is "+tt.wantKind+".") {
				t.Fatalf("error = %v, want %q", err, tt.wantKind)
			}
			if got := strings.Contains(be.Message(), "--allow-private-destinations"); got != tt.allowedByFlag {
				t.Fatalf("message %q names the flag: %v, want %v", be.Message(), got, tt.allowedByFlag)
			}
			if err := (outbound.Policy{AllowPrivate: true}).CheckAddr(ip); (err == nil) != tt.allowedByFlag {
				t.Fatalf("with the flag: %v, want allowed=%v", err, tt.allowedByFlag)
			}
		})
	}
}

func TestPolicy_CheckURL(t *testing.T) {
	for _, tt := range []struct {
		url                 string
		wantOK, wantOKFlag  bool
		wantMessageContains string
	}{
		{"https://login.example.com/", true, true, ""},
		{"http://login.example.com/", false, false, "over https:// only"},
		{"ftp://login.example.com/", false, false, "over https:// only"},
		{"https://127.0.0.1:8443/", false, true, "127.0.0.1 is a loopback address"},
		{"http://127.0.0.1:8080/", false, true, "127.0.0.1 is a loopback address"},
		{"http://localhost:8080/", false, true, "over https:// only"},
		{"http://10.0.0.5/", false, false, "10.0.0.5 is a private address"},
		{"https://[fe80::1]/", false, false, "fe80::1 is a link-local address"},
		{"https://169.254.169.254/latest/meta-data/", false, false, "169.254.169.254 is a link-local address"},
	} {
		t.Run(tt.url, func(t *testing.T) {
			u, _ := url.Parse(tt.url)
			err := outbound.Policy{}.CheckURL(u)
			if (err == nil) != tt.wantOK || !strings.Contains(outbound.Message(err), tt.wantMessageContains) {
				t.Fatalf("CheckURL = %v (%q), want ok=%v with %q", err, outbound.Message(err), tt.wantOK, tt.wantMessageContains)
			}
			if err := (outbound.Policy{AllowPrivate: true}).CheckURL(u); (err == nil) != tt.wantOKFlag {
				t.Fatalf("with the flag: %v, want ok=%v", err, tt.wantOKFlag)
			}
		})
	}
}

// fakeResolver answers every name with the same addresses.
type fakeResolver []netip.Addr

func (f fakeResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return f, nil
}

func TestPolicy_CheckHost(t *testing.T) {
	u, _ := url.Parse("https://idp.corp.example/")
	ctx := context.Background()
	err := outbound.Policy{}.CheckHost(ctx, fakeResolver{netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("10.0.0.7")}, u)
	if got, want := outbound.Message(err), "Keygate does not connect to private or internal addresses: idp.corp.example resolves to 10.0.0.7, a private address. An operator can allow private and loopback addresses with --allow-private-destinations."; got != want {
		t.Fatalf("message = %q, want %q", got, want)
	}
	if err := (outbound.Policy{}).CheckHost(ctx, fakeResolver{netip.MustParseAddr("8.8.8.8")}, u); err != nil {
		t.Fatalf("public: %v", err)
	}
	if err := (outbound.Policy{AllowPrivate: true}).CheckHost(ctx, fakeResolver{netip.MustParseAddr("10.0.0.7")}, u); err != nil {
		t.Fatalf("private with the flag: %v", err)
	}
}

func TestPolicy_Client(t *testing.T) {
	var hits int
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/internal", http.StatusFound)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer tlsSrv.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		w.Write([]byte("ok"))
	}))
	defer plain.Close()
	// guarded returns the policy's client trusting the test certificate.
	guarded := func(p outbound.Policy) *http.Client {
		c := p.Client(5 * time.Second)
		cfg := tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
		cfg.ServerName = "example.com" // the test certificate's name, whatever the URL says
		c.Transport = outbound.WithTLSConfig(c.Transport, cfg)
		return c
	}
	port := tlsSrv.Listener.Addr().(interface{ String() string }).String()
	port = port[strings.LastIndex(port, ":"):]

	t.Run("ErrLoopbackAddress", func(t *testing.T) {
		hits = 0
		_, err := guarded(outbound.Policy{}).Get(tlsSrv.URL)
		if outbound.Message(err) == "" || hits != 0 {
			t.Fatalf("err = %v, hits = %d", err, hits)
		}
	})
	t.Run("ErrNameDialledToLoopback", func(t *testing.T) {
		// The URL names no address: the check happens when the resolved
		// address is dialled.
		hits = 0
		_, err := guarded(outbound.Policy{}).Get("https://localhost" + port + "/")
		if !strings.Contains(outbound.Message(err), "is a loopback address") || hits != 0 {
			t.Fatalf("err = %v, hits = %d", err, hits)
		}
	})
	t.Run("ErrPlainHTTP", func(t *testing.T) {
		hits = 0
		_, err := guarded(outbound.Policy{}).Get(plain.URL)
		if outbound.Message(err) == "" || hits != 0 {
			t.Fatalf("err = %v, hits = %d", err, hits)
		}
	})
	t.Run("ErrRedirectNotFollowed", func(t *testing.T) {
		hits = 0
		_, err := guarded(outbound.Policy{AllowPrivate: true}).Get(tlsSrv.URL + "/redirect")
		if !strings.Contains(outbound.Message(err), "does not follow redirects") || hits != 1 {
			t.Fatalf("err = %v, hits = %d", err, hits)
		}
	})
	t.Run("OKWithTheFlag", func(t *testing.T) {
		for _, u := range []string{tlsSrv.URL, plain.URL, "https://localhost" + port + "/"} {
			resp, err := guarded(outbound.Policy{AllowPrivate: true}).Get(u)
			if err != nil {
				t.Fatalf("%s: %v", u, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: status %d", u, resp.StatusCode)
			}
		}
	})
}
