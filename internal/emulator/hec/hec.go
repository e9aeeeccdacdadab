// Package hec emulates the Splunk HTTP Event Collector for tests, benchmarks and demo mode:
// POST /services/collector/event (batched JSON events, "Authorization: Splunk <token>") and, with
// indexer acknowledgement on, the X-Splunk-Request-Channel header, ackIds and POST
// /services/collector/ack. Answers carry HEC's real status bodies, following Splunk's
// "Troubleshoot HTTP Event Collector" status-code table and "About HTTP Event Collector Indexer
// Acknowledgment": {"text":"Success","code":0}, 401 {"text":"Token is required","code":2},
// 401 {"text":"Invalid authorization","code":3}, 403 {"text":"Invalid token","code":4},
// 403 {"text":"Token disabled","code":1}, 400 {"text":"No data","code":5},
// 400 {"text":"Invalid data format","code":6,"invalid-event-number":N},
// 400 {"text":"Data channel is missing","code":10}, 400 {"text":"Invalid data channel","code":11},
// 400 {"text":"Event field is required","code":12}, 400 {"text":"Event field cannot be blank","code":13},
// 400 {"text":"ACK is disabled","code":14} and 503 {"text":"Server is busy","code":9}.
//
// Faults: Busy (503 while set), Garbage (200 with a body that is not HEC's JSON), Status (any
// fixed answer), AckDelay and LoseAcks (an ack never turns true: the batch was lost before
// indexing). Received events are counted by their index-time field event_id in a bit set, so
// that a benchmark of millions of events keeps memory small and a test sees each repeat.
package hec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Server is an HEC emulator; mount Handler() on an HTTP server.
type Server struct {
	mu       sync.Mutex
	tokens   map[string]bool // token -> enabled
	acks     bool
	busy     bool
	garbage  bool
	status   int
	body     string
	ackDelay time.Duration
	loseAcks bool

	channels map[string]*channel
	seen     bitset
	events   int64 // events indexed, repeats included
	repeats  int64
	requests int64
	maxBatch int
	keep     int
	kept     []Event
}

type channel struct {
	next    int64
	pending map[int64]pendingAck
}

type pendingAck struct {
	at     time.Time
	events []Event
	ids    []int64
}

// Event is one received HEC event.
type Event struct {
	Time       jsontext.Value `json:"time,omitzero"`
	Host       string         `json:"host,omitempty"`
	Source     string         `json:"source,omitempty"`
	Sourcetype string         `json:"sourcetype,omitempty"`
	Index      string         `json:"index,omitempty"`
	Event      jsontext.Value `json:"event"`
	Fields     Fields         `json:"fields,omitzero"`
}

// Fields are the index-time fields the emulator reads (others are ignored, as Splunk would keep them).
type Fields struct {
	EventID string `json:"event_id,omitempty"`
}

// New returns an emulator accepting token, with indexer acknowledgement on when acks.
func New(token string, acks bool) *Server {
	return &Server{tokens: map[string]bool{token: true}, acks: acks, channels: map[string]*channel{}, keep: 10_000}
}

// SetBusy makes every request answer 503 Server is busy while on.
func (s *Server) SetBusy(on bool) { s.mu.Lock(); s.busy = on; s.mu.Unlock() }

// SetGarbage makes event requests answer 200 with a body that is not HEC's JSON.
func (s *Server) SetGarbage(on bool) { s.mu.Lock(); s.garbage = on; s.mu.Unlock() }

// SetStatus makes every event request answer status with body (0: back to normal).
func (s *Server) SetStatus(status int, body string) {
	s.mu.Lock()
	s.status, s.body = status, body
	s.mu.Unlock()
}

// SetAckDelay delays the indexing (and so the ack) of each batch.
func (s *Server) SetAckDelay(d time.Duration) { s.mu.Lock(); s.ackDelay = d; s.mu.Unlock() }

// SetLoseAcks drops batches before indexing: their acks stay false and their events are not kept.
func (s *Server) SetLoseAcks(on bool) { s.mu.Lock(); s.loseAcks = on; s.mu.Unlock() }

// SetKeep bounds how many events Events keeps (0: none; counting goes on).
func (s *Server) SetKeep(n int) { s.mu.Lock(); s.keep = n; s.mu.Unlock() }

// Stats are what the emulator indexed.
type Stats struct {
	Events   int64 // events indexed, repeats included
	Distinct int64 // distinct event_id values indexed
	Repeats  int64 // events whose event_id was indexed before
	Requests int64
	// MaxRequestEvents is the most events one request carried.
	MaxRequestEvents int
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.indexDue(time.Now())
	return Stats{Events: s.events, Distinct: s.seen.count, Repeats: s.repeats, Requests: s.requests, MaxRequestEvents: s.maxBatch}
}

// Seen reports whether event_id id was indexed.
func (s *Server) Seen(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.indexDue(time.Now())
	return s.seen.has(id)
}

// Events returns the kept events (the first SetKeep of them).
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.indexDue(time.Now())
	return append([]Event(nil), s.kept...)
}

// Handler serves the HEC endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /services/collector/event", s.event)
	mux.HandleFunc("POST /services/collector/event/1.0", s.event)
	mux.HandleFunc("POST /services/collector/ack", s.ack)
	mux.HandleFunc("GET /services/collector/health", func(w http.ResponseWriter, _ *http.Request) {
		answer(w, http.StatusOK, `{"text":"HEC is healthy","code":17}`)
	})
	return mux
}

func answer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

var guidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// authorize checks the token and, with acks on, the channel; it answers and returns false on failure.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		answer(w, http.StatusUnauthorized, `{"text":"Token is required","code":2}`)
		return "", false
	}
	tok, ok := strings.CutPrefix(h, "Splunk ")
	if !ok || tok == "" {
		answer(w, http.StatusUnauthorized, `{"text":"Invalid authorization","code":3}`)
		return "", false
	}
	s.mu.Lock()
	enabled, known := s.tokens[tok]
	s.mu.Unlock()
	if !known {
		answer(w, http.StatusForbidden, `{"text":"Invalid token","code":4}`)
		return "", false
	}
	if !enabled {
		answer(w, http.StatusForbidden, `{"text":"Token disabled","code":1}`)
		return "", false
	}
	ch := r.Header.Get("X-Splunk-Request-Channel")
	if ch == "" {
		ch = r.URL.Query().Get("channel")
	}
	if s.acks {
		if ch == "" {
			answer(w, http.StatusBadRequest, `{"text":"Data channel is missing","code":10}`)
			return "", false
		}
		if !guidRe.MatchString(ch) {
			answer(w, http.StatusBadRequest, `{"text":"Invalid data channel","code":11}`)
			return "", false
		}
	}
	return ch, true
}

func (s *Server) event(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	busy, garbage, status, fixed := s.busy, s.garbage, s.status, s.body
	s.mu.Unlock()
	if busy {
		answer(w, http.StatusServiceUnavailable, `{"text":"Server is busy","code":9}`)
		return
	}
	ch, ok := s.authorize(w, r)
	if !ok {
		return
	}
	if status != 0 {
		answer(w, status, fixed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		answer(w, http.StatusBadRequest, `{"text":"Invalid data format","code":6,"invalid-event-number":0}`)
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		answer(w, http.StatusBadRequest, `{"text":"No data","code":5}`)
		return
	}
	// go-json-experiment decodes the stream in one pass, twice as fast as encoding/json's Decoder
	// (which scans each value twice): the emulator keeps up with a forwarder on the same cores.
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	var evs []Event
	var ids []int64
	for n := 0; ; n++ {
		var e Event
		if err := jsonv2.UnmarshalDecode(dec, &e); err == io.EOF {
			break
		} else if err != nil {
			answer(w, http.StatusBadRequest, fmt.Sprintf(`{"text":"Invalid data format","code":6,"invalid-event-number":%d}`, n))
			return
		}
		if e.Event == nil {
			answer(w, http.StatusBadRequest, fmt.Sprintf(`{"text":"Event field is required","code":12,"invalid-event-number":%d}`, n))
			return
		}
		if t := bytes.TrimSpace(e.Event); string(t) == `""` || string(t) == "null" {
			answer(w, http.StatusBadRequest, fmt.Sprintf(`{"text":"Event field cannot be blank","code":13,"invalid-event-number":%d}`, n))
			return
		}
		id, _ := strconv.ParseInt(e.Fields.EventID, 10, 64)
		ids = append(ids, id)
		evs = append(evs, e)
	}
	if garbage {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "<html><body>Splunk is starting up</body></html>")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxBatch = max(s.maxBatch, len(evs))
	if !s.acks {
		s.index(evs, ids)
		answer(w, http.StatusOK, `{"text":"Success","code":0}`)
		return
	}
	c := s.channels[ch]
	if c == nil {
		c = &channel{pending: map[int64]pendingAck{}}
		s.channels[ch] = c
	}
	id := c.next
	c.next++
	p := pendingAck{at: time.Now().Add(s.ackDelay), events: evs, ids: ids}
	if s.loseAcks {
		p.at = time.Time{} // never indexed
	}
	c.pending[id] = p
	if s.ackDelay == 0 && !s.loseAcks {
		s.indexDue(time.Now())
	}
	answer(w, http.StatusOK, fmt.Sprintf(`{"text":"Success","code":0,"ackId":%d}`, id))
}

// doneAck marks an indexed batch: its ack answers true (once).
var doneAck = pendingAck{}

// indexDue indexes the pending batches whose time has come. The caller holds mu.
func (s *Server) indexDue(now time.Time) {
	for _, c := range s.channels {
		for id, p := range c.pending {
			if p.events == nil || p.at.IsZero() || p.at.After(now) {
				continue
			}
			s.index(p.events, p.ids)
			c.pending[id] = doneAck
		}
	}
}

func (s *Server) index(evs []Event, ids []int64) {
	for i, e := range evs {
		s.events++
		if ids[i] > 0 {
			if s.seen.has(ids[i]) {
				s.repeats++
			} else {
				s.seen.add(ids[i])
			}
		}
		if len(s.kept) < s.keep {
			s.kept = append(s.kept, e)
		}
	}
}

func (s *Server) ack(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	busy := s.busy
	s.mu.Unlock()
	if busy {
		answer(w, http.StatusServiceUnavailable, `{"text":"Server is busy","code":9}`)
		return
	}
	ch, ok := s.authorize(w, r)
	if !ok {
		return
	}
	if !s.acks {
		answer(w, http.StatusBadRequest, `{"text":"ACK is disabled","code":14}`)
		return
	}
	var req struct {
		Acks []int64 `json:"acks"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || req.Acks == nil {
		answer(w, http.StatusBadRequest, `{"text":"Invalid data format","code":6}`)
		return
	}
	s.mu.Lock()
	s.indexDue(time.Now())
	out := map[string]bool{}
	c := s.channels[ch]
	for _, id := range req.Acks {
		st := false
		if c != nil {
			if p, ok := c.pending[id]; ok && p.events == nil {
				st = true
				delete(c.pending, id) // an ack is reported true once, as Splunk does
			}
		}
		out[strconv.FormatInt(id, 10)] = st
	}
	s.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"acks": out})
	answer(w, http.StatusOK, string(b))
}

// bitset is a growable set of non-negative ids.
type bitset struct {
	words []uint64
	count int64
}

func (b *bitset) has(id int64) bool {
	w := id >> 6
	return id >= 0 && w < int64(len(b.words)) && b.words[w]&(1<<(id&63)) != 0
}

func (b *bitset) add(id int64) {
	if id < 0 {
		return
	}
	w := id >> 6
	for w >= int64(len(b.words)) {
		b.words = append(b.words, make([]uint64, len(b.words)+64)...)
	}
	b.words[w] |= 1 << (id & 63)
	b.count++
}
