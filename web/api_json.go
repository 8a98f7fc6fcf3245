package web

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// maxBodyBytes bounds an API request body.
const maxBodyBytes = 1 << 20

// jsonObject is a decoded request body whose fields are read one by one,
// so each type error lands beside its field.
type jsonObject map[string]json.RawMessage

// fieldErrors collects per-field messages in the API's shape.
type fieldErrors map[string][]string

func (fe fieldErrors) add(field, msg string) { fe[field] = append(fe[field], msg) }

// merge adds a service's messages for the fields that have none yet: a
// field whose JSON could not be read keeps that message, the one its
// client needs.
func (fe fieldErrors) merge(fields map[string]string) {
	for f, m := range fields {
		if _, ok := fe[f]; !ok {
			fe.add(f, m)
		}
	}
}

// write answers 400 with the field map.
func (fe fieldErrors) write(w http.ResponseWriter) {
	body := errorBody(w, "invalid", msgInvalidInput)
	for f, m := range fe {
		body[f] = m
	}
	writeJSON(w, http.StatusBadRequest, body)
}

// writeWithChecks answers 400 with the field map and the domain's
// messages for the fields that could be read (checks), so that one answer
// names every field that is wrong. The domain checks need no database:
// nothing is written.
func (fe fieldErrors) writeWithChecks(w http.ResponseWriter, checks *keygate.ValidationErrors) {
	fe.merge(checks.Fields)
	fe.write(w)
}

// decodeObject reads a JSON object body, answering 415 for a body that is
// not JSON, 413 for one over 1 MiB and 400 for malformed JSON. A request
// with no body at all (curl -X POST without -d) is an empty object, so it
// gets the field map of what is required rather than a 415 about a
// Content-Type it never needed.
func decodeObject(w http.ResponseWriter, r *http.Request) (jsonObject, bool) {
	if r.ContentLength == 0 {
		return jsonObject{}, true
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		ct := r.Header.Get("Content-Type")
		apiError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Unsupported media type \""+ct+"\" in request. Send JSON with Content-Type: application/json.")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			apiError(w, http.StatusRequestEntityTooLarge, "request_too_large", "Request body is too large: at most 1 MiB.")
			return nil, false
		}
		apiError(w, http.StatusBadRequest, "parse_error", "JSON parse error - could not read the request body.")
		return nil, false
	}
	obj, msg := parseObject(body)
	if msg != "" {
		apiError(w, http.StatusBadRequest, "parse_error", "JSON parse error - "+msg)
		return nil, false
	}
	return obj, true
}

// parseObject decodes body as one JSON object; it returns a message saying
// what is wrong otherwise.
func parseObject(body []byte) (jsonObject, string) {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil, "the request body is empty; send a JSON object."
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, jsonErrorText(err)
	}
	if dec.More() {
		return nil, "unexpected data after the JSON value."
	}
	var obj jsonObject
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, "expected a JSON object."
	}
	return obj, ""
}

func jsonErrorText(err error) string {
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return syn.Error() + " (at byte " + itoa(int(syn.Offset)) + ")."
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of JSON input."
	}
	return "invalid JSON."
}

// isNull reports whether a raw value is JSON null.
func isNull(raw json.RawMessage) bool { return strings.TrimSpace(string(raw)) == "null" }

// str reads an optional string field; present reports whether it was sent
// (null counts as sent and empty).
func (o jsonObject) str(name string, fe fieldErrors) (v string, present bool) {
	raw, ok := o[name]
	if !ok || isNull(raw) {
		return "", ok
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		fe.add(name, "Not a valid string.")
	}
	return v, true
}

// timeField reads an optional RFC 3339 time field.
func (o jsonObject) timeField(name string, fe fieldErrors) (*time.Time, bool) {
	raw, ok := o[name]
	if !ok || isNull(raw) {
		return nil, ok
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			t = t.UTC()
			return &t, true
		}
	}
	fe.add(name, "Datetime has wrong format. Use RFC 3339, like 2026-01-31T09:30:00Z.")
	return nil, true
}

// object reads an optional field that must be a JSON object.
func (o jsonObject) object(name string, fe fieldErrors) (json.RawMessage, bool) {
	raw, ok := o[name]
	if !ok || isNull(raw) {
		return nil, ok
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		fe.add(name, "Must be a JSON object.")
		return nil, true
	}
	return raw, true
}

// intField reads an optional integer field.
func (o jsonObject) intField(name string, fe fieldErrors) (int64, bool) {
	raw, ok := o[name]
	if !ok || isNull(raw) {
		return 0, ok
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		fe.add(name, "A valid integer is required.")
	}
	return n, true
}

// decodeField unmarshals a field into v, with msg on failure.
func (o jsonObject) decodeField(name string, v any, msg string, fe fieldErrors) bool {
	raw, ok := o[name]
	if !ok || isNull(raw) {
		return false
	}
	if err := json.Unmarshal(raw, v); err != nil {
		fe.add(name, msg)
		return false
	}
	return true
}
