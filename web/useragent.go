package web

import (
	"strconv"
	"strings"
)

// userAgentBrowsers are browsers by a token of their User-Agent, in the
// order to look for them (Edge's carries Chrome's token too, Chrome's
// Safari's).
var userAgentBrowsers = []struct{ token, name string }{
	{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"HeadlessChrome/", "Headless Chrome"},
	{"Chrome/", "Chrome"}, {"Chromium/", "Chromium"}, {"Safari/", "Safari"},
}

// userAgentClients are HTTP clients and libraries by the product token
// their User-Agent starts with, compared without case.
var userAgentClients = []struct{ prefix, name string }{
	{"curl/", "curl"}, {"wget/", "Wget"}, {"httpie/", "HTTPie"},
	{"python-requests/", "Python requests"}, {"python-httpx/", "Python httpx"}, {"python-urllib/", "Python urllib"},
	{"aiohttp/", "Python aiohttp"},
	// Node's fetch (undici) says "node" or "undici"; node-fetch names
	// itself, with its version and URL.
	{"node-fetch", "Node.js"}, {"node/", "Node.js"}, {"undici/", "Node.js"}, {"axios/", "axios (Node.js)"},
	{"go-http-client/", "Go HTTP client"}, {"okhttp/", "OkHttp"}, {"java-http-client/", "Java HTTP client"},
	{"ruby", "Ruby"}, {"guzzlehttp/", "PHP Guzzle"}, {"postmanruntime/", "Postman"}, {"insomnia/", "Insomnia"},
}

// maxAgentProduct bounds the product token named for an unknown client.
const maxAgentProduct = 40

// describeUserAgent turns a User-Agent header into "Chrome on Linux" for a
// browser, "curl" or "Node.js" for an API client, and the product token
// ("my-app/1.2") for a client it does not know.
func describeUserAgent(ua string) string {
	if ua == "" {
		return "Unknown browser"
	}
	if name := describeClient(ua); name != "" {
		return name
	}
	browser := "Unknown browser"
	for _, b := range userAgentBrowsers {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	if browser == "Unknown browser" && !strings.HasPrefix(ua, "Mozilla/") {
		// Not a browser: name what it says it is.
		product, _, _ := strings.Cut(ua, " ")
		if len(product) > maxAgentProduct {
			product = product[:maxAgentProduct] + "…"
		}
		return product
	}
	os := ""
	for _, o := range []struct{ token, name string }{
		{"Windows", "Windows"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"Android", "Android"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			os = o.name
			break
		}
	}
	if os == "" {
		return browser
	}
	return browser + " on " + os
}

// describeClient names the API client a User-Agent starts with, or "".
func describeClient(ua string) string {
	lower := strings.ToLower(ua)
	if lower == "node" || lower == "undici" {
		return "Node.js"
	}
	for _, c := range userAgentClients {
		if strings.HasPrefix(lower, c.prefix) {
			return c.name
		}
	}
	return ""
}

func itoa(n int) string { return strconv.Itoa(n) }
