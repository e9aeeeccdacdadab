// Package slack emulates the parts of Slack that Telltale's Slack integration uses: the Web API's
// chat.postMessage and auth.test with a bot token, and incoming webhooks. Answers follow Slack's
// Web API spec (../shared/vendor/slack/web-api-openapi-v2.json; the tests validate every answer
// against it and every request's arguments against the operation's declared parameters): ok:false
// with invalid_auth, not_authed, channel_not_found, not_in_channel, is_archived; HTTP 429 with
// Retry-After when rate limiting (https://api.slack.com/docs/rate-limits); incoming webhooks answer
// "ok" or an error code as text (https://api.slack.com/messaging/webhooks#handling_errors).
//
// It records every message and counts the deliveries it saw twice, by the delivery key Telltale
// puts in the message's context block.
package slack

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// IDs of the emulated workspace.
const (
	TeamID = "T0EMULATE1"
	BotID  = "U0BOTUSER1"
)

// Channel is an emulated channel.
type Channel struct {
	ID       string
	Member   bool // the bot is in it
	Archived bool
}

// Message is a message posted.
type Message struct {
	Channel string
	Text    string
	Blocks  []map[string]any
	Key     string // the delivery key of its context block, "" when none
	TS      string
	Via     string // api or webhook
}

// Fault is an injected failure of the next calls.
type Fault struct {
	Garbage    bool          // 200 with an HTML body
	Status     int           // an HTTP status with a text body (500, 503)
	RateLimit  time.Duration // 429 with this Retry-After
	SlackError string        // ok:false with this error
}

// Server is the emulator; its Handler serves /api/* and /services/*.
type Server struct {
	mu       sync.Mutex
	token    string
	hookPath string
	channels map[string]Channel
	msgs     []Message
	keys     map[string]int
	faults   []Fault
	seq      int64
	// Check, when set, sees every request's operation and arguments and every answer (tests
	// validate them against Slack's spec).
	Check func(op string, args map[string]any, status int, body []byte)
}

// New returns an emulator accepting token on the Web API and posting incoming-webhook messages
// to hookChannel at HookPath.
func New(token string, channels ...Channel) *Server {
	s := &Server{token: token, hookPath: "/services/" + TeamID + "/B0HOOK0001/xyzsecretxyz", channels: map[string]Channel{}, keys: map[string]int{}}
	for _, c := range channels {
		s.channels[c.ID] = c
	}
	return s
}

// HookPath is the path of the incoming webhook.
func (s *Server) HookPath() string { return s.hookPath }

// Fail makes the next calls fail, one fault each, in order.
func (s *Server) Fail(fs ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fs...)
}

// SetToken changes the accepted bot token (revokes the old one).
func (s *Server) SetToken(t string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = t
}

// Messages returns the messages posted, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Duplicates counts messages whose delivery key had been seen before.
func (s *Server) Duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.keys {
		n += c - 1
	}
	return n
}

// Keys returns how many times each delivery key was posted.
func (s *Server) Keys() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.keys))
	for k, v := range s.keys {
		out[k] = v
	}
	return out
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch {
	case r.URL.Path == "/api/chat.postMessage":
		s.api(w, r, "chat.postMessage")
	case r.URL.Path == "/api/auth.test":
		s.api(w, r, "auth.test")
	case strings.HasPrefix(r.URL.Path, "/services/"):
		s.hook(w, r)
	default:
		s.reply(w, "", http.StatusNotFound, map[string]any{"ok": false, "error": "unknown_method"})
	}
}

func (s *Server) fault() (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.faults) == 0 {
		return Fault{}, false
	}
	f := s.faults[0]
	s.faults = s.faults[1:]
	return f, true
}

func (s *Server) reply(w http.ResponseWriter, op string, status int, v any) {
	b, _ := json.Marshal(v)
	if s.Check != nil && op != "" {
		s.Check(op, nil, status, b)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

func text(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// args reads a Web API call's arguments: JSON or form-encoded, as Slack accepts both.
func args(r *http.Request) (map[string]any, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/json" {
		if len(b) == 0 {
			return out, nil
		}
		return out, json.Unmarshal(b, &out)
	}
	vs, err := url.ParseQuery(string(b))
	for k := range vs {
		out[k] = vs.Get(k)
	}
	return out, err
}

func (s *Server) applyFault(w http.ResponseWriter, op string) bool {
	f, ok := s.fault()
	if !ok {
		return false
	}
	switch {
	case f.Garbage:
		text(w, 200, "<html><body>upstream hiccup</body></html>")
	case f.Status != 0:
		text(w, f.Status, "internal error")
	case f.RateLimit > 0:
		w.Header().Set("Retry-After", strconv.Itoa(int((f.RateLimit+time.Second-1)/time.Second)))
		if op == "" {
			text(w, http.StatusTooManyRequests, "rate_limited")
		} else {
			s.reply(w, op, http.StatusTooManyRequests, map[string]any{"ok": false, "error": "rate_limited"})
		}
	case f.SlackError != "":
		if op == "" {
			text(w, 400, f.SlackError)
		} else {
			s.reply(w, op, 200, map[string]any{"ok": false, "error": f.SlackError})
		}
	}
	return true
}

func (s *Server) api(w http.ResponseWriter, r *http.Request, op string) {
	a, err := args(r)
	if s.Check != nil {
		s.Check(op, a, 0, nil)
	}
	if err != nil {
		s.reply(w, op, 200, map[string]any{"ok": false, "error": "invalid_form_data"})
		return
	}
	if s.applyFault(w, op) {
		return
	}
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if t, ok := a["token"].(string); ok && tok == "" {
		tok = t
	}
	s.mu.Lock()
	valid := tok != "" && tok == s.token
	s.mu.Unlock()
	switch {
	case tok == "":
		s.reply(w, op, 200, map[string]any{"ok": false, "error": "not_authed"})
		return
	case !valid:
		s.reply(w, op, 200, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	if op == "auth.test" {
		s.reply(w, op, 200, map[string]any{"ok": true, "url": "https://emulated.slack.com/", "team": "Emulated", "user": "telltale",
			"team_id": TeamID, "user_id": BotID})
		return
	}
	ch, _ := a["channel"].(string)
	s.mu.Lock()
	c, known := s.channels[ch]
	s.mu.Unlock()
	switch {
	case !known:
		s.reply(w, op, 200, map[string]any{"ok": false, "error": "channel_not_found"})
		return
	case c.Archived:
		s.reply(w, op, 200, map[string]any{"ok": false, "error": "is_archived"})
		return
	case !c.Member:
		s.reply(w, op, 200, map[string]any{"ok": false, "error": "not_in_channel"})
		return
	}
	m, errCode := message(a)
	if errCode != "" {
		s.reply(w, op, 200, map[string]any{"ok": false, "error": errCode})
		return
	}
	m.Channel, m.Via = ch, "api"
	m = s.record(m)
	msg := map[string]any{"type": "message", "text": m.Text, "ts": m.TS, "user": BotID, "team": TeamID}
	if m.Blocks != nil {
		msg["blocks"] = m.Blocks
	}
	s.reply(w, op, 200, map[string]any{"ok": true, "channel": ch, "ts": m.TS, "message": msg})
}

// message reads text and blocks (a JSON array, or its text in a form); "" or an error code.
func message(a map[string]any) (Message, string) {
	var m Message
	m.Text, _ = a["text"].(string)
	switch b := a["blocks"].(type) {
	case nil:
	case string:
		if err := json.Unmarshal([]byte(b), &m.Blocks); err != nil {
			return m, "invalid_blocks"
		}
	case []any:
		raw, _ := json.Marshal(b)
		if err := json.Unmarshal(raw, &m.Blocks); err != nil {
			return m, "invalid_blocks"
		}
	default:
		return m, "invalid_blocks"
	}
	if m.Text == "" && len(m.Blocks) == 0 {
		return m, "no_text"
	}
	if len(m.Text) > 40000 {
		return m, "msg_too_long"
	}
	for _, b := range m.Blocks {
		if b["type"] != "context" {
			continue
		}
		els, _ := b["elements"].([]any)
		for _, e := range els {
			em, _ := e.(map[string]any)
			if t, _ := em["text"].(string); strings.HasPrefix(t, "Delivery ") {
				m.Key = strings.TrimPrefix(t, "Delivery ")
			}
		}
	}
	return m, ""
}

func (s *Server) record(m Message) Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	m.TS = fmt.Sprintf("%d.%06d", 1700000000+s.seq, s.seq%1000000)
	s.msgs = append(s.msgs, m)
	if m.Key != "" {
		s.keys[m.Key]++
	}
	return m
}

func (s *Server) hook(w http.ResponseWriter, r *http.Request) {
	if s.applyFault(w, "") {
		return
	}
	if r.URL.Path != s.hookPath {
		text(w, http.StatusForbidden, "invalid_token")
		return
	}
	a, err := args(r)
	if err != nil {
		text(w, http.StatusBadRequest, "invalid_payload")
		return
	}
	m, code := message(a)
	if code != "" {
		text(w, http.StatusBadRequest, code)
		return
	}
	m.Via = "webhook"
	s.record(m)
	text(w, 200, "ok")
}
