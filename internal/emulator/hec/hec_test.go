package hec_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/internal/emulator/hec"
)

const channel = "0e7f8a7c-3b9a-4c1e-9d2f-1a2b3c4d5e6f"

func post(t *testing.T, url, auth, ch, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if ch != "" {
		req.Header.Set("X-Splunk-Request-Channel", ch)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAnswers: HEC's status answers, with their HTTP status and body, as Splunk documents them.
func TestAnswers(t *testing.T) {
	s := hec.New("tok", true)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	ev := srv.URL + "/services/collector/event"
	good := `{"event":{"a":1},"fields":{"event_id":"7"}}`
	cases := []struct {
		name, url, auth, ch, body string
		status                    int
		want                      string
	}{
		{"no token", ev, "", channel, good, 401, `{"text":"Token is required","code":2}`},
		{"bearer", ev, "Bearer tok", channel, good, 401, `{"text":"Invalid authorization","code":3}`},
		{"wrong token", ev, "Splunk nope", channel, good, 403, `{"text":"Invalid token","code":4}`},
		{"no channel", ev, "Splunk tok", "", good, 400, `{"text":"Data channel is missing","code":10}`},
		{"bad channel", ev, "Splunk tok", "abc", good, 400, `{"text":"Invalid data channel","code":11}`},
		{"no data", ev, "Splunk tok", channel, "", 400, `{"text":"No data","code":5}`},
		{"bad json", ev, "Splunk tok", channel, good + `{"event":`, 400, `{"text":"Invalid data format","code":6,"invalid-event-number":1}`},
		{"no event", ev, "Splunk tok", channel, `{"time":1}`, 400, `{"text":"Event field is required","code":12,"invalid-event-number":0}`},
		{"blank event", ev, "Splunk tok", channel, `{"event":""}`, 400, `{"text":"Event field cannot be blank","code":13,"invalid-event-number":0}`},
		{"success", ev, "Splunk tok", channel, good + "\n" + good, 200, `{"text":"Success","code":0,"ackId":0}`},
		{"ack", srv.URL + "/services/collector/ack", "Splunk tok", channel, `{"acks":[0,5]}`, 200, `{"acks":{"0":true,"5":false}}`},
		{"ack once", srv.URL + "/services/collector/ack", "Splunk tok", channel, `{"acks":[0]}`, 200, `{"acks":{"0":false}}`},
	}
	for _, c := range cases {
		status, body := post(t, c.url, c.auth, c.ch, c.body)
		if status != c.status || body != c.want {
			t.Errorf("%s: %d %s, want %d %s", c.name, status, body, c.status, c.want)
		}
	}
	if st := s.Stats(); st.Events != 2 || st.Distinct != 1 || st.Repeats != 1 {
		t.Errorf("stats %+v", st)
	}
	s.SetBusy(true)
	if status, body := post(t, ev, "Splunk tok", channel, good); status != 503 || body != `{"text":"Server is busy","code":9}` {
		t.Errorf("busy: %d %s", status, body)
	}
	noAcks := hec.New("tok", false)
	srv2 := httptest.NewServer(noAcks.Handler())
	defer srv2.Close()
	if status, body := post(t, srv2.URL+"/services/collector/ack", "Splunk tok", "", `{"acks":[0]}`); status != 400 || body != `{"text":"ACK is disabled","code":14}` {
		t.Errorf("acks off: %d %s", status, body)
	}
	if status, body := post(t, srv2.URL+"/services/collector/event", "Splunk tok", "", good); status != 200 || body != `{"text":"Success","code":0}` {
		t.Errorf("without acks: %d %s", status, body)
	}
}
