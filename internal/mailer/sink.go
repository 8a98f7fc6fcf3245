package mailer

import (
	"bufio"
	"net"
	"strings"
	"sync"
)

// Sink is a minimal SMTP server on loopback that keeps what it receives,
// for tests and local development. It speaks just enough SMTP for net/smtp.
type Sink struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []Message
}

// Message is one received email.
type Message struct {
	From, To string
	Data     string
}

// NewSink listens on 127.0.0.1 on a random port.
func NewSink() (*Sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Sink{ln: ln}
	go s.serve()
	return s, nil
}

// URL is the smtp:// URL of the sink.
func (s *Sink) URL() string { return "smtp://" + s.ln.Addr().String() }

// Close stops the sink.
func (s *Sink) Close() error { return s.ln.Close() }

// Messages returns what was received so far.
func (s *Sink) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

func (s *Sink) serve() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.handle(conn)
	}
}

func (s *Sink) handle(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	say := func(line string) { conn.Write([]byte(line + "\r\n")) }
	say("220 keygate-sink ESMTP")
	var msg Message
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250 keygate-sink")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			msg = Message{From: strings.Trim(strings.TrimSpace(line)[len("MAIL FROM:"):], "<> ")}
			say("250 OK")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			msg.To = strings.Trim(strings.TrimSpace(line)[len("RCPT TO:"):], "<> ")
			say("250 OK")
		case cmd == "DATA":
			say("354 End data with <CR><LF>.<CR><LF>")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" || l == ".\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			msg.Data = b.String()
			s.mu.Lock()
			s.msgs = append(s.msgs, msg)
			s.mu.Unlock()
			say("250 OK: queued")
		case cmd == "QUIT":
			say("221 Bye")
			return
		case cmd == "RSET", cmd == "NOOP":
			say("250 OK")
		default:
			say("502 Command not implemented")
		}
	}
}
