package forward

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/telltale-dev/telltale/internal/httpx"
)

// hecCodes are HEC's status codes (Splunk, "Troubleshoot HTTP Event Collector"), with what to do.
var hecCodes = map[int]struct {
	permanent bool
	fix       string
}{
	1:  {true, "the HEC token is disabled: enable it in Splunk (Settings > Data inputs > HTTP Event Collector) or enter another"},
	2:  {true, "no token was sent: enter the HEC token"},
	3:  {true, "the Authorization header was refused: enter the token alone, without the word Splunk"},
	4:  {true, "Splunk does not know this token: enter a valid HEC token"},
	5:  {false, "Splunk received no data"},
	6:  {true, "Splunk refused the data format"},
	7:  {true, "the index is not allowed for this token: change the index or the token's allowed indexes"},
	8:  {false, "Splunk had an internal error"},
	9:  {false, "Splunk is busy (its queues are full); retried with backoff"},
	10: {true, "indexer acknowledgement is on for this token but no channel was sent"},
	11: {true, "Splunk refused the channel id"},
	12: {true, "an event had no event field"},
	13: {true, "an event had a blank event field"},
	14: {true, "indexer acknowledgement is off for this token: turn it on in Splunk, or turn acks off for this destination"},
}

// HECOptions configure a Splunk HEC sink.
type HECOptions struct {
	URL        string // the collector's base, e.g. https://splunk.example.com:8088
	Token      string
	Acks       bool   // use indexer acknowledgement (the token must have it on)
	Index      string // optional index
	Sourcetype string // default "telltale:<class>"
	Host       string // the host field; default "telltale"
	Guard      *httpx.Guard
	Transport  http.RoundTripper // tests; nil: the guard's transport
	// MaxBatchBytes splits a Send into requests of at most this many bytes (default 1 MiB, HEC's
	// default max_content_length is 800 MB but proxies in front of it are smaller).
	MaxBatchBytes int
	// InFlight bounds the requests of one Send that are sent side by side (default 4).
	InFlight int
	// AckTimeout bounds the wait for the acks of one Send (default 2 minutes).
	AckTimeout time.Duration
	// AckPoll is the interval between ack queries (default 50 ms, doubling to 1 s).
	AckPoll time.Duration
	Timeout time.Duration // per request, default 30 s
}

type hecSink struct {
	o       HECOptions
	c       *httpx.Client
	channel string
}

// NewHEC returns a Splunk HEC sink.
func NewHEC(o HECOptions) Sink {
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 1 << 20
	}
	if o.InFlight <= 0 {
		o.InFlight = 4
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = 2 * time.Minute
	}
	if o.AckPoll <= 0 {
		o.AckPoll = 50 * time.Millisecond
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Host == "" {
		o.Host = "telltale"
	}
	o.URL = strings.TrimRight(o.URL, "/")
	// No retries inside the client: the forwarder's are durable and visible.
	c := httpx.New(httpx.Options{Timeout: o.Timeout, MaxRetries: -1, MaxWait: time.Millisecond, Guard: o.Guard, Transport: o.Transport,
		UserAgent: "Telltale-Forwarder/1"})
	return &hecSink{o: o, c: c, channel: newUUID()}
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = crand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (h *hecSink) Close() error { return nil }

// hecAnswer is HEC's answer body.
type hecAnswer struct {
	Text    string `json:"text"`
	Code    *int   `json:"code"`
	AckID   *int64 `json:"ackId"`
	Invalid *int   `json:"invalid-event-number"`
}

func (h *hecSink) post(ctx context.Context, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.o.URL+path, bytes.NewReader(body))
	if err != nil {
		return nil, permanent("splunk_hec: the URL is not valid: %v", err)
	}
	req.Header.Set("Authorization", "Splunk "+h.o.Token)
	req.Header.Set("Content-Type", "application/json")
	if h.o.Acks {
		req.Header.Set("X-Splunk-Request-Channel", h.channel)
	}
	_, ans, err := h.c.Do(ctx, "hec:"+h.o.URL, req, 1<<20)
	if err == nil {
		return ans, nil
	}
	return nil, h.scrub(h.classify(ctx, err))
}

// scrub removes the token from an error's text, should a server echo the request in its answer:
// the text is stored as the destination's last error and logged.
func (h *hecSink) scrub(err error) error {
	var se *SendError
	if h.o.Token != "" && errors.As(err, &se) && strings.Contains(se.Msg, h.o.Token) {
		c := *se
		c.Msg = strings.ReplaceAll(c.Msg, h.o.Token, "[token]")
		return &c
	}
	return err
}

func (h *hecSink) classify(ctx context.Context, err error) error {
	var se *httpx.StatusError
	switch {
	case errors.As(err, &se):
		return hecError(se.Code, se.Body, se.RetryAfter)
	case errors.Is(err, httpx.ErrBlocked):
		return permanent("splunk_hec: %v", err)
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return transient("splunk_hec: %v: retried with backoff", err)
}

// excerpt bounds an answer for display.
func excerpt(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func hecError(status int, body []byte, retryAfter time.Duration) error {
	var a hecAnswer
	if json.Unmarshal(body, &a) == nil && a.Code != nil {
		c, known := hecCodes[*a.Code]
		perm := known && c.permanent
		if status == http.StatusServiceUnavailable || status >= 500 || status == http.StatusTooManyRequests {
			perm = false
		}
		fix := c.fix
		if !known {
			fix = "an answer this version does not know"
		}
		return &SendError{Permanent: perm, RetryAfter: retryAfter,
			Msg: fmt.Sprintf("splunk_hec: HTTP %d, HEC code %d %q: %s (answer: %s)", status, *a.Code, a.Text, fix, excerpt(body))}
	}
	perm := status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests
	return &SendError{Permanent: perm, RetryAfter: retryAfter,
		Msg: fmt.Sprintf("splunk_hec: HTTP %d with an answer that is not HEC's JSON (is the URL the collector's, port 8088?): %s", status, excerpt(body))}
}

// Check queries acks (with acks on) or posts nothing: an empty event batch answers "No data" (code
// 5) once the token is accepted, which proves URL and token without indexing anything.
func (h *hecSink) Check(ctx context.Context) error {
	if h.o.Acks {
		_, err := h.post(ctx, "/services/collector/ack", []byte(`{"acks":[]}`))
		return err
	}
	_, err := h.post(ctx, "/services/collector/event", nil)
	var se *SendError
	if errors.As(err, &se) && strings.Contains(se.Msg, "HEC code 5 ") {
		return nil
	}
	return err
}

// Send posts the records in requests of at most MaxBatchBytes, InFlight at a time, then waits for
// every ackId to turn true.
func (h *hecSink) Send(ctx context.Context, recs []Record) error {
	bodies := h.encode(recs)
	ackIDs := make([]int64, len(bodies))
	errs := make([]error, len(bodies))
	sem := make(chan struct{}, h.o.InFlight)
	var wg sync.WaitGroup
	for i, b := range bodies {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ans, err := h.post(ctx, "/services/collector/event", b)
			if err != nil {
				errs[i] = err
				return
			}
			var a hecAnswer
			if json.Unmarshal(ans, &a) != nil || a.Code == nil {
				errs[i] = transient("splunk_hec: HTTP 200 with an answer that is not HEC's JSON (is the URL the collector's?): %s", excerpt(ans))
				return
			}
			if *a.Code != 0 {
				errs[i] = hecError(http.StatusOK, ans, 0)
				return
			}
			if h.o.Acks {
				if a.AckID == nil {
					errs[i] = permanent("splunk_hec: acks are on for this destination but Splunk sent no ackId: turn indexer acknowledgement on for the token, or off here (answer: %s)", excerpt(ans))
					return
				}
				ackIDs[i] = *a.AckID
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return firstSendError(errs)
	}
	if !h.o.Acks {
		return nil
	}
	return h.waitAcks(ctx, ackIDs)
}

func firstSendError(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func (h *hecSink) waitAcks(ctx context.Context, ids []int64) error {
	pending := map[int64]bool{}
	for _, id := range ids {
		pending[id] = true
	}
	deadline := time.Now().Add(h.o.AckTimeout)
	wait := h.o.AckPoll
	for len(pending) > 0 {
		q := struct {
			Acks []int64 `json:"acks"`
		}{}
		for id := range pending {
			q.Acks = append(q.Acks, id)
		}
		b, _ := json.Marshal(q)
		ans, err := h.post(ctx, "/services/collector/ack", b)
		if err != nil {
			return err
		}
		var a struct {
			Acks map[string]bool `json:"acks"`
		}
		if json.Unmarshal(ans, &a) != nil || a.Acks == nil {
			return transient("splunk_hec: the ack answer is not HEC's JSON: %s", excerpt(ans))
		}
		for k, ok := range a.Acks {
			if id, err := strconv.ParseInt(k, 10, 64); err == nil && ok {
				delete(pending, id)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return transient("splunk_hec: %d of %d requests were not acknowledged by the indexers within %v: sent again", len(pending), len(ids), h.o.AckTimeout)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, time.Second)
	}
	return nil
}

// encode writes each record as an HEC event (time, host, source, sourcetype, index, the payload in
// event, and the event id as the index-time field event_id) into bodies of at most MaxBatchBytes.
func (h *hecSink) encode(recs []Record) [][]byte {
	var bodies [][]byte
	var buf bytes.Buffer
	size := 0
	for _, r := range recs {
		size += len(r.Body) + 160
	}
	buf.Grow(min(size, h.o.MaxBatchBytes+64<<10))
	for _, r := range recs {
		start := buf.Len()
		buf.WriteString(`{"time":`)
		buf.WriteString(strconv.FormatFloat(float64(r.Time.UnixMilli())/1000, 'f', 3, 64))
		buf.WriteString(`,"host":`)
		writeJSONString(&buf, h.o.Host)
		buf.WriteString(`,"source":"telltale","sourcetype":`)
		st := h.o.Sourcetype
		if st == "" {
			st = "telltale:" + r.Class
		}
		writeJSONString(&buf, st)
		if h.o.Index != "" {
			buf.WriteString(`,"index":`)
			writeJSONString(&buf, h.o.Index)
		}
		buf.WriteString(`,"event":`)
		if len(r.Body) > 0 && r.Body[0] == '{' {
			buf.Write(r.Body)
		} else {
			writeJSONString(&buf, string(r.Body))
		}
		buf.WriteString(`,"fields":{"`)
		buf.WriteString(r.idName())
		buf.WriteString(`":"`)
		buf.WriteString(strconv.FormatInt(r.ID, 10))
		if r.Updated {
			buf.WriteString(`","updated":"true`)
		}
		buf.WriteString("\"}}\n")
		if buf.Len() > h.o.MaxBatchBytes && start > 0 {
			b := buf.Bytes()
			bodies = append(bodies, bytes.Clone(b[:start]))
			rest := bytes.Clone(b[start:])
			buf.Reset()
			buf.Write(rest)
		}
	}
	if buf.Len() > 0 {
		bodies = append(bodies, bytes.Clone(buf.Bytes()))
	}
	return bodies
}

func writeJSONString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s)
	buf.Write(b)
}
