package mailer_test

import (
	"context"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/mailer"
)

func TestSendToSink(t *testing.T) {
	sink, err := mailer.NewSink()
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	m, err := mailer.New(sink.URL(), "keygate@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(context.Background(), "ada@example.com", "You're invited", "Join us:\nhttps://keygate.test/invitations/abc\n"); err != nil {
		t.Fatal(err)
	}
	msgs := sink.Messages()
	if len(msgs) != 1 || msgs[0].To != "ada@example.com" || msgs[0].From != "keygate@example.com" {
		t.Fatalf("messages = %+v", msgs)
	}
	if !strings.Contains(msgs[0].Data, "Subject: You're invited") || !strings.Contains(msgs[0].Data, "https://keygate.test/invitations/abc") {
		t.Fatalf("data = %q", msgs[0].Data)
	}
	if err := m.Send(context.Background(), "a@example.com\r\nBcc: x@evil.example", "s", "b"); err == nil {
		t.Fatal("header injection accepted")
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"http://host", "smtp://", "::"} {
		if _, err := mailer.New(u, ""); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}
