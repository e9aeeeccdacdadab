package forward_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/emulator/hec"
	"github.com/telltale-dev/telltale/internal/emulator/syslog"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/forward"
	"github.com/telltale-dev/telltale/internal/httpx"
	"github.com/telltale-dev/telltale/internal/secret"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
)

var ctx = context.Background()

type env struct {
	t     *testing.T
	st    store.Store
	kr    *secret.Keyring
	clk   *clock.Fake
	conn  int64
	seq   int
	guard *httpx.Guard
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kr, err := secret.LoadKeyring(secret.KeyConfig{Key: base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))})
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.CreateConnection(ctx, store.Connection{Name: "box", Service: "box", ServiceType: "cloud", Status: "Monitoring", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, st: st, kr: kr, clk: clock.NewFake(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)), conn: c.ID, guard: &httpx.Guard{AllowLoopback: true}}
}

// insert stores n events with awkward names (CEF and JSON escaping).
func (e *env) insert(n int) {
	e.t.Helper()
	evs := make([]*event.FileEvent, n)
	for i := range evs {
		e.seq++
		evs[i] = &event.FileEvent{Timestamp: e.clk.Now(), Event: event.Meta{Action: event.ActionShared, Observer: event.ObserverBox, ConnectionID: e.conn,
			VendorIDs: []string{"v" + strconv.Itoa(e.seq)}},
			User:    event.User{Email: "alice@corp.example"},
			File:    event.File{ID: "f" + strconv.Itoa(e.seq), Name: fmt.Sprintf(`plan=%d|a\b "q".xlsx`, e.seq), Size: int64(e.seq)},
			Sharing: event.Sharing{LinkScope: event.LinkAnyone, SharedWith: []string{"rival@other.example"}},
			Risk:    event.Risk{Severity: event.SeverityHigh, Score: 5}}
	}
	if _, err := e.st.InsertEvents(ctx, evs, false); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) service(o forward.Options) *forward.Service {
	o.Store, o.Keyring, o.Clock, o.Guard, o.Version = e.st, e.kr, e.clk, e.guard, "test"
	if o.Linger == 0 {
		o.Linger = -1
	}
	return forward.New(o)
}

// drain runs the destination's unit until it reports caught up (or fails) at most rounds times.
func drain(t *testing.T, s *forward.Service, id int64, rounds int) {
	t.Helper()
	for range rounds {
		if _, err := s.Run(ctx, store.Work{Kind: forward.WorkForward, Key: strconv.FormatInt(id, 10)}); err != nil {
			t.Fatal(err)
		}
	}
}

func get(t *testing.T, s *forward.Service, id int64) forward.View {
	t.Helper()
	v, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func hecServer(t *testing.T, acks bool) (*hec.Server, string) {
	t.Helper()
	h := hec.New("tok-1", acks)
	srv := httptest.NewServer(h.Handler())
	t.Cleanup(srv.Close)
	return h, srv.URL
}

// TestHECRestartIsDeduplicable: the process dies after Splunk acknowledged a batch and before the
// position moved. The next process sends that batch again; every record carries its event id, so
// the repeats are recognisable, and nothing is lost.
func TestHECRestartIsDeduplicable(t *testing.T) {
	e := newEnv(t)
	h, url := hecServer(t, true)
	first := e.service(forward.Options{Batch: 100})
	v, err := first.Create(ctx, forward.Input{Name: "splunk", Kind: forward.KindHEC, Format: forward.FormatOCSF,
		Settings: forward.Settings{URL: url, Acks: true}, Secrets: &forward.Secrets{Token: "tok-1"}, FromStart: true}, "ann")
	if err != nil {
		t.Fatal(err)
	}
	e.insert(1000)
	crash := errors.New("killed")
	batches := 0
	dying := e.service(forward.Options{Batch: 100, BeforeAdvance: func(int64) error {
		if batches++; batches == 4 {
			return crash
		}
		return nil
	}})
	if _, err := dying.Run(ctx, store.Work{Key: strconv.FormatInt(v.ID, 10)}); !errors.Is(err, crash) {
		t.Fatalf("the crash: %v", err)
	}
	if got := get(t, first, v.ID); got.Position == 0 || got.Sent != 300 {
		t.Fatalf("before the restart: position %d, sent %d; want 3 batches committed", got.Position, got.Sent)
	}
	restarted := e.service(forward.Options{Batch: 100})
	drain(t, restarted, v.ID, 3)
	stats := h.Stats()
	if stats.Distinct != 1000 || stats.Repeats != 100 || stats.Events != 1100 {
		t.Errorf("emulator: %+v; want 1000 distinct, the crashed batch of 100 repeated", stats)
	}
	for id := int64(1); id <= 1000; id++ {
		if !h.Seen(id) {
			t.Fatalf("event %d never arrived", id)
		}
	}
	got := get(t, restarted, v.ID)
	if got.Position != 1000 || got.Lag != 0 || got.State != store.ForwardOK || got.Sent != 1000 {
		t.Errorf("after: %+v", got)
	}
	ev := h.Events()[0]
	if ev.Fields.EventID == "" || ev.Sourcetype != "telltale:file_hosting_activity" || !strings.Contains(string(ev.Event), `"uid":"`+ev.Fields.EventID+`"`) {
		t.Errorf("an HEC event carries its id in fields and in the OCSF metadata: %+v %s", ev, ev.Event)
	}
}

// TestHECDownThenBack: Splunk answers 503 Server is busy for a long time with a large backlog.
// The destination shows retrying and then failed with Splunk's answer, no request carries more
// than one batch, and when Splunk is back every event arrives once.
func TestHECDownThenBack(t *testing.T) {
	e := newEnv(t)
	h, url := hecServer(t, true)
	s := e.service(forward.Options{Batch: 50})
	v, err := s.Create(ctx, forward.Input{Name: "splunk", Kind: forward.KindHEC, Format: forward.FormatJSON,
		Settings: forward.Settings{URL: url, Acks: true}, Secrets: &forward.Secrets{Token: "tok-1"}}, "ann")
	if err != nil {
		t.Fatal(err)
	}
	e.insert(2000)
	h.SetBusy(true)
	var last time.Time
	for i := 1; i <= forward.MaxFailures; i++ {
		next, err := s.Run(ctx, store.Work{Key: strconv.FormatInt(v.ID, 10)})
		if err != nil {
			t.Fatal(err)
		}
		if wait := next.Sub(e.clk.Now()); i > 1 && wait <= next.Sub(last)/4 {
			t.Errorf("attempt %d: retry in %v: the backoff should grow", i, wait)
		}
		last = e.clk.Now()
		got := get(t, s, v.ID)
		want := store.ForwardRetrying
		if i == forward.MaxFailures {
			want = store.ForwardFailed
		}
		if got.State != want || got.Failures != i || !strings.Contains(got.LastError, `HEC code 9 "Server is busy"`) || got.Position != v.Position {
			t.Fatalf("attempt %d: %+v", i, got)
		}
		if got.Lag != 2000 || got.LagAge < 0 {
			t.Errorf("lag %d (%v), want 2000", got.Lag, got.LagAge)
		}
	}
	if st := h.Stats(); st.Events != 0 {
		t.Fatalf("indexed while busy: %+v", st)
	}
	h.SetBusy(false)
	drain(t, s, v.ID, 2)
	st := h.Stats()
	if st.Distinct != 2000 || st.Repeats != 0 {
		t.Errorf("after Splunk came back: %+v", st)
	}
	if st.MaxRequestEvents > 50 {
		t.Errorf("a request carried %d events: memory is bounded by the batch (50)", st.MaxRequestEvents)
	}
	got := get(t, s, v.ID)
	if got.State != store.ForwardOK || got.LastError != "" || got.Failures != 0 || got.Lag != 0 {
		t.Errorf("after: %+v", got)
	}
}

// TestHECBadAnswers: garbage answers are retried with the answer shown; a refused token fails the
// destination at once with Splunk's words; acks that never come are retried, then sent again.
func TestHECBadAnswers(t *testing.T) {
	e := newEnv(t)
	h, url := hecServer(t, true)
	s := e.service(forward.Options{Batch: 100})
	mk := func(name, token string) int64 {
		v, err := s.Create(ctx, forward.Input{Name: name, Kind: forward.KindHEC, Format: forward.FormatCEF,
			Settings: forward.Settings{URL: url, Acks: true}, Secrets: &forward.Secrets{Token: token}, FromStart: true}, "ann")
		if err != nil {
			t.Fatal(err)
		}
		return v.ID
	}
	e.insert(10)
	good, bad := mk("good", "tok-1"), mk("bad", "tok-wrong")

	drain(t, s, bad, 1)
	got := get(t, s, bad)
	if got.State != store.ForwardFailed || got.Failures != 1 || !strings.Contains(got.LastError, `HTTP 403, HEC code 4 "Invalid token"`) ||
		!strings.Contains(got.LastError, "enter a valid HEC token") {
		t.Errorf("bad token: %+v", got)
	}
	if strings.Contains(got.LastError, "tok-wrong") {
		t.Errorf("the token leaked into the error: %s", got.LastError)
	}

	h.SetGarbage(true)
	drain(t, s, good, 1)
	got = get(t, s, good)
	if got.State != store.ForwardRetrying || !strings.Contains(got.LastError, "Splunk is starting up") || got.Sent != 0 {
		t.Errorf("garbage: %+v", got)
	}
	h.SetGarbage(false)
	h.SetStatus(500, "upstream exploded")
	drain(t, s, good, 1)
	if got = get(t, s, good); got.State != store.ForwardRetrying || got.Failures != 2 || !strings.Contains(got.LastError, "HTTP 500") ||
		!strings.Contains(got.LastError, "upstream exploded") {
		t.Errorf("500: %+v", got)
	}
	h.SetStatus(400, "proxy says: bad request with header Authorization: Splunk tok-1")
	drain(t, s, good, 1)
	if got = get(t, s, good); got.State != store.ForwardFailed || strings.Contains(got.LastError, "tok-1") || !strings.Contains(got.LastError, "[token]") {
		t.Errorf("an answer echoing the token: %+v", got)
	}
	h.SetStatus(0, "")
	drain(t, s, good, 1)
	if got = get(t, s, good); got.State != store.ForwardOK || got.Sent != 10 {
		t.Errorf("recovered: %+v", got)
	}
	if err := s.Test(ctx, good); err != nil {
		t.Errorf("test of a good destination: %v", err)
	}
	if err := s.Test(ctx, bad); err == nil || !strings.Contains(err.Error(), "Invalid token") {
		t.Errorf("test of a bad token: %v", err)
	}
}

// TestHECLostAcks: Splunk accepts a batch but never indexes it (its ack stays false). The batch is
// not counted as delivered: after the ack timeout it is sent again.
func TestHECLostAcks(t *testing.T) {
	e := newEnv(t)
	h, url := hecServer(t, true)
	s := e.service(forward.Options{Batch: 100})
	v, err := s.Create(ctx, forward.Input{Name: "splunk", Kind: forward.KindHEC, Format: forward.FormatJSON,
		Settings: forward.Settings{URL: url, Acks: true}, Secrets: &forward.Secrets{Token: "tok-1"}, FromStart: true}, "ann")
	if err != nil {
		t.Fatal(err)
	}
	e.insert(10)
	h.SetLoseAcks(true)
	ctx2, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := s.Run(ctx2, store.Work{Key: strconv.FormatInt(v.ID, 10)}); err == nil {
		t.Fatal("a batch without its ack was counted")
	}
	if got := get(t, s, v.ID); got.Position != 0 || got.Sent != 0 {
		t.Fatalf("position moved without an ack: %+v", got)
	}
	h.SetLoseAcks(false)
	drain(t, s, v.ID, 1)
	if st := h.Stats(); st.Distinct != 10 {
		t.Errorf("resent: %+v", st)
	}
}

// TestSyslogTCPCEF: CEF over TCP with octet counting: every message parses as RFC 5424 and CEF,
// extension values survive escaping, and a dropped connection loses nothing.
func TestSyslogTCPCEF(t *testing.T) {
	e := newEnv(t)
	r, err := syslog.Listen(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := e.service(forward.Options{Batch: 20})
	v, err := s.Create(ctx, forward.Input{Name: "siem", Kind: forward.KindSyslog, Format: forward.FormatCEF,
		Settings: forward.Settings{Address: r.TCPAddr(), Transport: forward.SyslogTCP}, FromStart: true}, "ann")
	if err != nil {
		t.Fatal(err)
	}
	e.insert(50)
	drain(t, s, v.ID, 1)
	waitFor(t, func() bool { return r.Stats().Distinct == 50 })
	r.DropConnections()
	e.insert(50)
	drain(t, s, v.ID, 3) // the first write after the drop may fail: the batch goes again
	waitFor(t, func() bool { return r.Stats().Distinct == 100 })
	if st := r.Stats(); st.Bad != 0 {
		t.Fatalf("unparsable: %+v %v", st, r.Errors())
	}
	msgs := r.Messages()
	m := msgs[0]
	if m.Version != 1 || m.Facility != 13 || m.Severity != 5 || m.AppName != "telltale" || m.MsgID != "file_event" || m.SD[forward.SDID]["event_id"] != "1" {
		t.Errorf("message: %+v", m)
	}
	c, err := syslog.ParseCEF(m.Msg)
	if err != nil {
		t.Fatalf("CEF: %v in %q", err, m.Msg)
	}
	if c.Vendor != "Telltale" || c.ClassID != "file-shared" || c.Severity != "8" || c.Ext["fname"] != `plan=1|a\b "q".xlsx` || c.Ext["externalId"] != "1" ||
		c.Ext["duser"] != "rival@other.example" || c.Ext["suser"] != "alice@corp.example" || c.Ext["cs1Label"] != "linkScope" || c.Ext["cs1"] != "anyone" {
		t.Errorf("CEF fields: %+v", c)
	}
	if !m.Timestamp.Equal(e.clk.Now()) {
		t.Errorf("timestamp %v", m.Timestamp)
	}
}

// TestSyslogUDPAndTLS: JSON over UDP and OCSF over TLS with a private CA.
func TestSyslogUDPAndTLS(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	cert := srv.TLS.Certificates[0]
	pem := certPEM(srv)
	srv.Close()
	r, err := syslog.Listen(&tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ru, err := syslog.Listen(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ru.Close()
	s := e.service(forward.Options{Batch: 20})
	tlsDest, err := s.Create(ctx, forward.Input{Name: "tls", Kind: forward.KindSyslog, Format: forward.FormatOCSF,
		Settings: forward.Settings{Address: r.TCPAddr(), Transport: forward.SyslogTLS, ServerName: "example.com", CAPEM: pem}, FromStart: true}, "ann")
	if err != nil {
		t.Fatal(err)
	}
	untrusted, err := s.Create(ctx, forward.Input{Name: "tls-untrusted", Kind: forward.KindSyslog, Format: forward.FormatOCSF,
		Settings: forward.Settings{Address: r.TCPAddr(), Transport: forward.SyslogTLS, ServerName: "example.com"}, FromStart: true}, "ann")
	if err != nil {
		t.Fatal(err)
	}
	udp, err := s.Create(ctx, forward.Input{Name: "udp", Kind: forward.KindSyslog, Format: forward.FormatJSON,
		Settings: forward.Settings{Address: ru.UDPAddr(), Transport: forward.SyslogUDP}, FromStart: true}, "ann")
	if err != nil {
		t.Fatal(err)
	}
	e.insert(30)
	drain(t, s, tlsDest.ID, 1)
	drain(t, s, udp.ID, 1)
	drain(t, s, untrusted.ID, 1)
	waitFor(t, func() bool { return r.Stats().Distinct == 30 && ru.Stats().Distinct == 30 })
	if got := get(t, s, untrusted.ID); got.State != store.ForwardFailed || !strings.Contains(got.LastError, "not trusted") {
		t.Errorf("untrusted certificate: %+v", got)
	}
	if m := ru.Messages()[0]; !strings.HasPrefix(m.Msg, `{"@timestamp":`) {
		t.Errorf("JSON over UDP: %q", m.Msg)
	}
	if m := r.Messages()[0]; !strings.Contains(m.Msg, `"class_uid":6006`) || m.MsgID != "file_hosting_activity" {
		t.Errorf("OCSF over TLS: %+v", m)
	}
}

// TestInputRefused: what an admin enters wrong is refused with what to fix, and nothing is stored.
func TestInputRefused(t *testing.T) {
	e := newEnv(t)
	s := e.service(forward.Options{})
	strict := forward.New(forward.Options{Store: e.st, Keyring: e.kr, Clock: e.clk})
	cases := map[string]struct {
		s    *forward.Service
		in   forward.Input
		want string
	}{
		"no name":        {s, forward.Input{Kind: forward.KindHEC, Format: "json"}, "name is required"},
		"format":         {s, forward.Input{Name: "x", Kind: forward.KindHEC, Format: "xml"}, "format must be"},
		"kind":           {s, forward.Input{Name: "x", Kind: "kafka", Format: "json"}, "kind must be"},
		"hec url":        {s, forward.Input{Name: "x", Kind: forward.KindHEC, Format: "json", Secrets: &forward.Secrets{Token: "t"}}, "url is required"},
		"hec path":       {s, forward.Input{Name: "x", Kind: forward.KindHEC, Format: "json", Settings: forward.Settings{URL: "https://h:8088/services/collector/event"}, Secrets: &forward.Secrets{Token: "t"}}, "without /services/collector"},
		"hec token":      {s, forward.Input{Name: "x", Kind: forward.KindHEC, Format: "json", Settings: forward.Settings{URL: "https://127.0.0.1:8088"}}, "token is required"},
		"ssrf hec":       {strict, forward.Input{Name: "x", Kind: forward.KindHEC, Format: "json", Settings: forward.Settings{URL: "https://127.0.0.1:8088"}, Secrets: &forward.Secrets{Token: "t"}}, "loopback"},
		"ssrf syslog":    {strict, forward.Input{Name: "x", Kind: forward.KindSyslog, Format: "json", Settings: forward.Settings{Address: "169.254.169.254:514", Transport: "udp"}}, "link-local"},
		"syslog address": {s, forward.Input{Name: "x", Kind: forward.KindSyslog, Format: "cef", Settings: forward.Settings{Address: "siem.example.com"}}, "host:port"},
		"transport":      {s, forward.Input{Name: "x", Kind: forward.KindSyslog, Format: "cef", Settings: forward.Settings{Address: "127.0.0.1:514", Transport: "http"}}, "transport must be"},
		"query":          {s, forward.Input{Name: "x", Kind: forward.KindSyslog, Format: "cef", Settings: forward.Settings{Address: "127.0.0.1:514", Transport: "tcp", Query: "action:("}}, "query"},
		"ca":             {s, forward.Input{Name: "x", Kind: forward.KindSyslog, Format: "cef", Settings: forward.Settings{Address: "127.0.0.1:514", Transport: "tls", CAPEM: "hello"}}, "ca_pem"},
	}
	for name, c := range cases {
		_, err := c.s.Create(ctx, c.in, "ann")
		if !errors.Is(err, forward.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an invalid error saying %q", name, err, c.want)
		}
	}
	if ds, _ := e.st.ListForwardDestinations(ctx); len(ds) != 0 {
		t.Errorf("stored after refusals: %+v", ds)
	}
	v, err := s.Create(ctx, forward.Input{Name: "ok", Kind: forward.KindHEC, Format: "json", Settings: forward.Settings{URL: "https://127.0.0.1:8088"}, Secrets: &forward.Secrets{Token: "secret-token"}}, "ann")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Secrets) != 0 || strings.Join(v.SecretsSet, ",") != "token" {
		t.Errorf("secrets shown: %+v", v)
	}
	d, _ := e.st.GetForwardDestination(ctx, v.ID)
	if strings.Contains(string(d.Secrets), "secret-token") || strings.Contains(string(d.Settings), "secret-token") {
		t.Error("the token is stored in clear")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTwoNodesRace: two nodes run the same destination's unit at once (a lease lost while one was
// paused), with different batch sizes: every event arrives and the position ends at the newest
// event. (That the position moves only by compare-and-set is storetest's Forward.)
func TestTwoNodesRace(t *testing.T) {
	e := newEnv(t)
	h, url := hecServer(t, true)
	a, b := e.service(forward.Options{Batch: 37}), e.service(forward.Options{Batch: 53})
	v, err := a.Create(ctx, forward.Input{Name: "splunk", Kind: forward.KindHEC, Format: forward.FormatJSON,
		Settings: forward.Settings{URL: url, Acks: true}, Secrets: &forward.Secrets{Token: "tok-1"}, FromStart: true}, "ann")
	if err != nil {
		t.Fatal(err)
	}
	e.insert(3000)
	done := make(chan error, 2)
	for _, s := range []*forward.Service{a, b} {
		go func() {
			for range 200 {
				if _, err := s.Run(ctx, store.Work{Key: strconv.FormatInt(v.ID, 10)}); err != nil {
					done <- err
					return
				}
				if got, _ := s.Get(ctx, v.ID); got.Position == 3000 {
					break
				}
			}
			done <- nil
		}()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	got := get(t, a, v.ID)
	if st := h.Stats(); got.Position != 3000 || st.Distinct != 3000 {
		t.Errorf("position %d, emulator %+v", got.Position, st)
	}
}

// TestQueryActorMeansThePerson (R8.3): a destination's query on actor:one address takes the
// person's events under every address (an alias), as a search does, and no one else's.
func TestQueryActorMeansThePerson(t *testing.T) {
	e := newEnv(t)
	r, err := syslog.Listen(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := e.st.AddPersonAlias(ctx, "bob@corp.example", "robert@corp.example", "ann"); err != nil {
		t.Fatal(err)
	}
	s := e.service(forward.Options{Batch: 20})
	v, err := s.Create(ctx, forward.Input{Name: "siem", Kind: forward.KindSyslog, Format: forward.FormatJSON,
		Settings: forward.Settings{Address: r.TCPAddr(), Transport: forward.SyslogTCP, Query: "actor:bob@corp.example"}, FromStart: true}, "ann")
	if err != nil {
		t.Fatal(err)
	}
	var evs []*event.FileEvent
	for i, who := range []string{"bob@corp.example", "Robert@corp.example", "alice@corp.example"} {
		evs = append(evs, &event.FileEvent{Timestamp: e.clk.Now(), Event: event.Meta{Action: event.ActionShared, Observer: event.ObserverBox,
			ConnectionID: e.conn, VendorIDs: []string{fmt.Sprint("p", i)}}, User: event.User{Email: who}, File: event.File{ID: fmt.Sprint("pf", i), Name: "x.txt"}})
	}
	if _, err := e.st.InsertEvents(ctx, evs, false); err != nil {
		t.Fatal(err)
	}
	drain(t, s, v.ID, 2)
	waitFor(t, func() bool { return r.Stats().Distinct == 2 })
	time.Sleep(100 * time.Millisecond)
	var who []string
	for _, m := range r.Messages() {
		for _, a := range []string{"bob@corp.example", "Robert@corp.example", "alice@corp.example"} {
			if strings.Contains(m.Msg, `"`+a+`"`) {
				who = append(who, a)
			}
		}
	}
	if strings.Join(who, ",") != "bob@corp.example,Robert@corp.example" {
		t.Errorf("forwarded the events of %v, want bob's under both addresses", who)
	}
}
