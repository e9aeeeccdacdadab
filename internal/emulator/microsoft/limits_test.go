package microsoft

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/connector/kit/faults"
)

func TestThrottling(t *testing.T) {
	h := newHarness(t, Options{RateLimitPerMinute: 60, RateBurst: 5})
	tok := h.bearer()
	u := h.licensed()
	for i := 0; i < 5; i++ {
		if a := h.getAs(tok, "/v1.0/users/"+u.ID+"/drive"); a.status != 200 {
			t.Fatalf("request %d: %d", i, a.status)
		}
	}
	a := h.getAs(tok, "/v1.0/drives/"+u.DriveID+"/root/delta")
	if a.status != 429 || a.header.Get("Retry-After") != "1" || a.errCode() != "activityLimitReached" {
		t.Fatalf("over the limit: %d %v %s", a.status, a.header, a.raw)
	}
	if a := h.getAs(tok, "/v1.0/users"); a.status != 429 || a.errCode() != "TooManyRequests" {
		t.Fatalf("directory over the limit: %d %s", a.status, a.raw)
	}
	// The bucket is the app's in the tenant: a new token does not help; time does.
	if a := h.getAs(h.bearer(), "/v1.0/users"); a.status != 429 {
		t.Fatalf("new token: %d", a.status)
	}
	h.clk.Advance(2 * time.Second)
	if a := h.getAs(tok, "/v1.0/users"); a.status != 200 {
		t.Fatalf("after Retry-After: %d", a.status)
	}
	s := h.emu.Stats()
	if s.Throttled != 3 || s.ByUser[u.UPN].Requests != 6 || s.ByUser[u.UPN].Throttled != 1 || s.ByUser[""].Throttled != 2 {
		t.Fatalf("stats %+v", s)
	}
	// A burst past the limit is throttled again.
	h.emu.ResetStats()
	for i := 0; i < 10; i++ {
		h.getAs(tok, "/v1.0/users")
	}
	if s := h.emu.Stats(); s.Throttled == 0 || s.Requests != 10 {
		t.Fatalf("%+v", s)
	}
}

func TestFaults(t *testing.T) {
	h := newHarness(t, Options{})
	tok := h.bearer()
	want := map[faults.Kind]struct {
		status int
		code   string
		retry  bool
	}{
		faults.Status500: {500, "generalException", false},
		faults.Status502: {502, "BadGateway", false},
		faults.Status503: {503, "serviceNotAvailable", true},
		faults.Throttle:  {429, "activityLimitReached", true},
		faults.Hang:      {504, "GatewayTimeout", false},
	}
	for k, w := range want {
		h.emu.SetFaults(Faults{Rate: 1, Kinds: []faults.Kind{k}, HangFor: 10 * time.Millisecond})
		a := h.getAs(tok, "/v1.0/users")
		if a.status != w.status || a.errCode() != w.code || (a.header.Get("Retry-After") != "") != w.retry {
			t.Errorf("%s: %d %v %s", k, a.status, a.header, a.raw)
		}
	}
	for _, k := range []faults.Kind{faults.Truncate, faults.Drop} {
		h.emu.SetFaults(Faults{Rate: 1, Kinds: []faults.Kind{k}})
		req, _ := http.NewRequest("GET", h.srv.URL+"/v1.0/users", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil {
			t.Errorf("%s: a whole answer", k)
		}
	}
	h.emu.SetFaults(Faults{})
	if a := h.getAs(tok, "/v1.0/users"); a.status != 200 {
		t.Fatalf("faults off: %d", a.status)
	}
	// The token endpoint never fails by injection.
	h.emu.SetFaults(Faults{Rate: 1})
	if st, _ := h.token(h.emu.TenantID(), nil); st != 200 {
		t.Fatalf("token endpoint: %d", st)
	}
	h.emu.SetFaults(Faults{})
	if s := h.emu.Stats(); s.Faults != 7 {
		t.Fatalf("Faults %d", s.Faults)
	}
}

// A seeded fault rate fails about that fraction of requests, the same ones each run.
func TestFaultRate(t *testing.T) {
	run := func() []int {
		h := newHarness(t, Options{Seed: 3})
		tok := h.bearer()
		h.emu.SetFaults(Faults{Rate: 0.2, Kinds: []faults.Kind{faults.Status500, faults.Status503, faults.Throttle}})
		var out []int
		for i := 0; i < 200; i++ {
			out = append(out, h.getAs(tok, "/v1.0/users?$top=1").status)
		}
		return out
	}
	a, b := run(), run()
	failed := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("fault draws differ between runs with one seed")
		}
		if a[i] != 200 {
			failed++
		}
	}
	if failed < 20 || failed > 60 {
		t.Fatalf("%d of 200 failed at rate 0.2", failed)
	}
}

// TestEarlyRetries: a request sent again before its 429's Retry-After is counted early; the same
// link read with another Prefer header (the audit resolver's read of a delta page the drive's
// stream reads with the sharing preference) is another request, not a retry; after the wait the
// retry is on time.
func TestEarlyRetries(t *testing.T) {
	h := newHarness(t, Options{RateLimitPerMinute: 60, RateBurst: 1})
	tok := h.bearer()
	u := h.licensed()
	delta := "/v1.0/drives/" + u.DriveID + "/root/delta"
	prefer := []string{"Authorization", "Bearer " + tok, "Prefer", "deltashowsharingchanges"}
	if a := h.get(h.hc, delta, prefer...); a.status != 200 {
		t.Fatalf("first request: %d", a.status)
	}
	if a := h.get(h.hc, delta, prefer...); a.status != 429 {
		t.Fatalf("over the burst: %d", a.status)
	}
	if a := h.getAs(tok, delta); a.status != 429 || h.emu.Stats().EarlyRetries != 0 {
		t.Fatalf("the link without the Prefer header: %d, %d early", a.status, h.emu.Stats().EarlyRetries)
	}
	if a := h.get(h.hc, delta, prefer...); a.status != 429 || h.emu.Stats().EarlyRetries != 1 {
		t.Fatalf("the throttled request again before its Retry-After: %d, %d early (want 1)", a.status, h.emu.Stats().EarlyRetries)
	}
	h.clk.Advance(2 * time.Second)
	if a := h.get(h.hc, delta, prefer...); a.status != 200 || h.emu.Stats().EarlyRetries != 1 {
		t.Fatalf("after the Retry-After: %d, %d early (want 1)", a.status, h.emu.Stats().EarlyRetries)
	}
}
