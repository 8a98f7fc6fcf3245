package web

import (
	"context"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// ownAPIService is the value the Service filters give Keygate's own API,
// whose calls name no service: it cannot be a service's name, which
// starts with a letter or digit.
const ownAPIService = "_keygate"

// ownAPILabel names Keygate's own API among services.
const ownAPILabel = "Keygate API"

// serviceFilter reads a Service filter's value: nil for every call, ""
// for Keygate's own API, else a service's name. An unreadable value
// filters nothing.
func serviceFilter(v string) *string {
	switch {
	case v == ownAPIService:
		own := ""
		return &own
	case validService(v):
		return &v
	}
	return nil
}

// serviceLabel names a service as pages show it.
func serviceLabel(service string) string {
	if service == "" {
		return ownAPILabel
	}
	return service
}

// serviceValue is a service as the Service filters' value.
func serviceValue(service string) string {
	if service == "" {
		return ownAPIService
	}
	return service
}

// serviceOptions lists the services of the organization's last 30 days
// for a Service filter, the selected one included. It returns none when
// every call was of Keygate's own API: the filter would have nothing to
// choose.
func (s *Server) serviceOptions(ctx context.Context, orgID string, selected *string) ([]views.Option, error) {
	used, err := s.monitoring.Services(ctx, orgID, "")
	if err != nil {
		return nil, err
	}
	var opts []views.Option
	seen, others := map[string]bool{}, false
	add := func(service string) {
		if !seen[service] {
			seen[service] = true
			others = others || service != ""
			opts = append(opts, views.Option{Value: serviceValue(service), Label: serviceLabel(service)})
		}
	}
	for _, u := range used {
		add(u.Service)
	}
	if selected != nil {
		add(*selected)
	}
	if !others {
		return nil, nil
	}
	return opts, nil
}

// serviceCounts are calls by service as a page's table rows.
func serviceCounts(used []keygate.ServiceUsage) []views.CountRow {
	rows := make([]views.CountRow, len(used))
	for i, u := range used {
		rows[i] = views.CountRow{Label: serviceLabel(u.Service), N: u.Requests}
	}
	return rows
}
