package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// contract is the served OpenAPI document with a router over it. It
// validates responses and remembers which documented statuses of which
// operations were seen.
type contract struct {
	doc    *openapi3.T
	router routers.Router
	seen   map[string]map[int]bool
}

// mustContract fetches the document from the API, loads it with the 3.1
// loader, validates it and builds a router.
func mustContract(tb testing.TB, app *App) *contract {
	tb.Helper()
	r := app.API(tb, "GET", "/api/v1/openapi.json", "", "")
	if r.StatusCode != http.StatusOK || r.Header.Get("Content-Type") != "application/json" {
		tb.Fatalf("openapi.json: status %d, Content-Type %q", r.StatusCode, r.Header.Get("Content-Type"))
	}
	doc, err := openapi3.NewLoader().LoadFromData([]byte(r.Raw))
	if err != nil {
		tb.Fatalf("load document: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		tb.Fatalf("invalid document: %v", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return &contract{doc: doc, router: router, seen: map[string]map[int]bool{}}
}

// validate checks a response against the document and returns the
// operations it was checked against ("METHOD /path"), or why it does not
// match. A 405 is documented on every operation of its path, for the
// methods the path lacks, so it is checked against each of them.
func (c *contract) validate(req *http.Request, status int, header http.Header, body []byte) ([]string, error) {
	route, params, err := c.router.FindRoute(req)
	if errors.Is(err, routers.ErrMethodNotAllowed) && status == http.StatusMethodNotAllowed {
		if header.Get("Allow") == "" {
			return nil, fmt.Errorf("405 for %s %s without an Allow header", req.Method, req.URL.Path)
		}
		var keys []string
		for _, m := range strings.Split(header.Get("Allow"), ", ") {
			other := req.Clone(req.Context())
			other.Method = m
			k, err := c.validate(other, status, header, body)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k...)
		}
		return keys, nil
	}
	if err != nil {
		return nil, fmt.Errorf("no operation for %s %s: %w", req.Method, req.URL.Path, err)
	}
	key := route.Method + " " + route.Path
	resp := route.Operation.Responses.Status(status)
	if resp == nil {
		return nil, fmt.Errorf("status %d is not documented for %s", status, key)
	}
	if len(resp.Value.Content) == 0 && len(body) > 0 {
		return nil, fmt.Errorf("status %d has no documented body but got %q", status, body)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return []string{key}, nil
}

// validateRequest checks that a request the test sends as valid input
// matches the document's parameters and request body.
func (c *contract) validateRequest(req *http.Request) error {
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		return err
	}
	return openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
	})
}

// apiCall is one request of a contract scenario.
type apiCall struct {
	name         string
	method, path string
	auth         string // the Authorization header, "" for none
	body         string
	contentType  string // application/json when there is a body and this is ""
	header       map[string]string
	wantStatus   int
	wantCode     string
	validRequest bool // the request itself must match the document
}

func (call apiCall) request(tb testing.TB, base string) *http.Request {
	tb.Helper()
	var body io.Reader
	if call.body != "" {
		body = strings.NewReader(call.body)
	}
	req, err := http.NewRequest(call.method, base+call.path, body)
	if err != nil {
		tb.Fatal(err)
	}
	if call.auth != "" {
		req.Header.Set("Authorization", call.auth)
	}
	if ct := call.contentType; ct != "" || call.body != "" {
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	for k, v := range call.header {
		req.Header.Set(k, v)
	}
	return req
}

// do sends call to base (the app's URL unless given) and fails unless the
// status and code are the wanted ones and the response matches the
// document.
func (c *contract) do(t *testing.T, app *App, call apiCall, base ...string) *APIResponse {
	t.Helper()
	url := app.URL
	if len(base) > 0 {
		url = base[0]
	}
	if call.validRequest {
		if err := c.validateRequest(call.request(t, url)); err != nil {
			t.Errorf("%s %s: request does not match the document: %v", call.method, call.path, err)
		}
	}
	r := app.Do(t, call.request(t, url))
	wantAPI(t, r, call.wantStatus, "", call.wantCode)
	keys, err := c.validate(call.request(t, url), r.StatusCode, r.Header, []byte(r.Raw))
	if err != nil {
		t.Fatalf("%s %s: %d response does not match the document: %v\nbody: %.500s", call.method, call.path, r.StatusCode, err, r.Raw)
	}
	for _, key := range keys {
		if c.seen[key] == nil {
			c.seen[key] = map[int]bool{}
		}
		c.seen[key][r.StatusCode] = true
	}
	return r
}

// run runs calls as subtests.
func (c *contract) run(t *testing.T, app *App, calls []apiCall, base ...string) {
	t.Helper()
	for _, call := range calls {
		t.Run(call.name, func(t *testing.T) { c.do(t, app, call, base...) })
	}
}

// operations returns the document's operations as "METHOD /path".
func (c *contract) operations() map[string]*openapi3.Operation {
	out := map[string]*openapi3.Operation{}
	for path, item := range c.doc.Paths.Map() {
		for method, op := range item.Operations() {
			out[method+" "+path] = op
		}
	}
	return out
}
