package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/tlsconf"
)

// runCert prints the certificate the server serves with the same flags:
// its file, SHA-256 fingerprint, names and expiry. It reads only: nothing
// is created, not even the data directory.
func runCert(args []string, stdout, stderr io.Writer) error {
	var c Config
	fs := newFlagSet("cert", "keygate cert [flags]", stderr)
	commonFlags(fs, &c)
	tlsFlags(fs, &c)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("cert takes no arguments, got %q", fs.Args())
	}
	mode, certs, err := tlsconf.Inspect(tlsconf.Options{
		DataDir: c.DataDir, CertFile: c.TLSCert, KeyFile: c.TLSKey, ACMEDomains: splitList(c.ACMEDomain),
	})
	if err != nil {
		return err
	}
	printCerts(stdout, mode, certs, time.Now())
	return nil
}

// printCerts writes one block per certificate, labels aligned.
func printCerts(w io.Writer, mode string, certs []tlsconf.Certificate, now time.Time) {
	line := func(label, value string) { fmt.Fprintf(w, "%-21s%s\n", label+":", value) }
	for i, c := range certs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		line("TLS", mode)
		if c.Domain != "" {
			line("Domain", c.Domain)
		}
		if c.Missing {
			line("Certificate", "not obtained yet: Keygate gets it from the ACME CA at the first HTTPS request for "+c.Domain)
			line("Path", c.Path)
			continue
		}
		line("Path", c.Path)
		line("SHA-256 fingerprint", c.Fingerprint)
		line("Names", strings.Join(c.Names, ", "))
		line("Expires", c.NotAfter.UTC().Format(time.RFC3339)+" ("+untilText(c.NotAfter.Sub(now))+")")
	}
}

// untilText says how far off d is, in whole days: "in 364 days",
// "expired 2 days ago".
func untilText(d time.Duration) string {
	days := int(d.Hours() / 24)
	unit := "days"
	if days == 1 || days == -1 {
		unit = "day"
	}
	switch {
	case d < 0 && days == 0:
		return "expired today"
	case d < 0:
		return fmt.Sprintf("expired %d %s ago", -days, unit)
	}
	return fmt.Sprintf("in %d %s", days, unit)
}
