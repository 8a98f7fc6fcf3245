package keygate

import (
	"fmt"
	"net/netip"
	"strings"
)

// MaxAllowedIPs bounds the networks of one key's allowlist.
const MaxAllowedIPs = 100

// NormalizeAllowedIPs checks a key's allowlist and returns it in canonical
// form: each entry a CIDR with its host bits cleared (a lone address
// becomes a /32 or /128), duplicates dropped, in the order given. The
// message says what is wrong with the first bad entry, "" if none is.
func NormalizeAllowedIPs(in []string) ([]string, string) {
	out := make([]string, 0, len(in))
	seen := map[string]bool{}
	for _, raw := range in {
		s := strings.TrimSpace(raw)
		if s == "" {
			continue
		}
		p, err := ParseAllowedIP(s)
		if err != nil {
			return nil, fmt.Sprintf("%q is not an IP address or CIDR range (like 203.0.113.7 or 203.0.113.0/24).", s)
		}
		if c := p.String(); !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	if len(out) > MaxAllowedIPs {
		return nil, fmt.Sprintf("A key may list at most %d IP ranges.", MaxAllowedIPs)
	}
	return out, ""
}

// ParseAllowedIP reads one allowlist entry: an address or a CIDR.
func ParseAllowedIP(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// SplitAllowedIPs reads an allowlist as stored: comma-separated CIDRs.
func SplitAllowedIPs(stored string) []string {
	if stored == "" {
		return nil
	}
	return strings.Split(stored, ",")
}
