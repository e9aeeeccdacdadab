package google

import (
	"slices"
	"testing"
	"time"
)

func TestRateLimitAnswers(t *testing.T) {
	for _, c := range []struct {
		answer string
		code   int
		reason string
	}{{"", 403, "userRateLimitExceeded"}, {AnswerRateLimit, 403, "rateLimitExceeded"}, {Answer429, 429, "rateLimitExceeded"}} {
		t.Run(c.reason+"/"+c.answer, func(t *testing.T) {
			h := newHarness(t, Options{Users: 5, RateLimitPerMinute: 60, RateBurst: 2, RateLimitAnswer: c.answer})
			a, b := h.active()[0], h.active()[1]
			s := h.drive(a.Email)
			for i := 0; i < 2; i++ {
				if _, err := s.Files.List().Do(); err != nil {
					t.Fatal(err)
				}
			}
			_, err := s.Files.List().Do()
			apiErr(t, err, c.code, c.reason)
			if _, err := h.drive(b.Email).Files.List().Do(); err != nil {
				t.Errorf("the limit is not per user: %v", err)
			}
			h.clk.Advance(time.Second)
			if _, err := s.Files.List().Do(); err != nil {
				t.Errorf("the bucket does not refill on the emulator's clock: %v", err)
			}
			st := h.emu.Stats()
			if st.Throttled != 1 || st.ByUser[a.Email].Throttled != 1 || st.ByUser[a.Email].Requests != 4 || st.ByUser[b.Email].Throttled != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestProjectRateLimit: the project's limit counts every user's requests together (Drive's
// per-project quota): a user under its own limit is refused 403 rateLimitExceeded (not the
// per-user userRateLimitExceeded) once the project's bucket is empty, on every API; it refills on
// the emulator's clock; off by default.
func TestProjectRateLimit(t *testing.T) {
	h := newHarness(t, Options{Users: 5, RateLimitPerMinute: 600, RateBurst: 2, ProjectRateLimitPerMinute: 60})
	a, b := h.active()[0], h.active()[1]
	for i := 0; i < 2; i++ {
		if _, err := h.drive(a.Email).Files.List().Do(); err != nil {
			t.Fatal(err)
		}
	}
	_, err := h.drive(b.Email).Files.List().Do()
	apiErr(t, err, 403, "rateLimitExceeded")
	_, err = h.admin(h.adminEmail()).Users.List().Customer("my_customer").Do()
	apiErr(t, err, 403, "rateLimitExceeded")
	st := h.emu.Stats()
	if st.Throttled != 2 || st.ProjectThrottled != 2 || st.ByUser[b.Email].Throttled != 1 {
		t.Errorf("stats %+v, want 2 throttles, both the project's, one of them %s's", st, b.Email)
	}
	h.clk.Advance(time.Second)
	if _, err := h.drive(b.Email).Files.List().Do(); err != nil {
		t.Errorf("the project's bucket does not refill on the emulator's clock: %v", err)
	}
	// Off by default: only the per-user limits apply.
	h = newHarness(t, Options{Users: 5, RateLimitPerMinute: 600, RateBurst: 2})
	for _, u := range h.active()[:3] {
		for i := 0; i < 2; i++ {
			if _, err := h.drive(u.Email).Files.List().Do(); err != nil {
				t.Fatalf("without a project limit, %s's request %d: %v", u.Email, i, err)
			}
		}
	}
}

func TestFaults(t *testing.T) {
	h := newHarness(t, Options{Users: 5})
	s := h.drive(h.active()[0].Email)
	ad := h.admin(h.adminEmail())
	for _, c := range []struct {
		kind   string
		code   int
		reason string
	}{{"500", 500, "internalError"}, {"502", 502, "backendError"}, {"503", 503, "backendError"}, {"429", 429, "rateLimitExceeded"}, {"timeout", 504, "deadlineExceeded"}} {
		h.emu.SetFaults(Faults{Rate: 1, Kinds: []string{c.kind}, HangFor: time.Millisecond})
		_, err := s.Files.List().Do()
		ge := apiErr(t, err, c.code, c.reason)
		if c.kind == "429" && ge.Header.Get("Retry-After") == "" {
			t.Error("an injected 429 without Retry-After")
		}
		_, err = ad.Users.List().Customer("my_customer").Do()
		apiErr(t, err, c.code, c.reason)
	}
	for _, kind := range []string{"truncate", "drop"} {
		h.emu.SetFaults(Faults{Rate: 1, Kinds: []string{kind}})
		_, err := s.Files.List().Do()
		if err == nil {
			t.Errorf("%s: no error", kind)
		}
	}
	h.emu.SetFaults(Faults{})
	if _, err := s.Files.List().Do(); err != nil {
		t.Errorf("faults off, still failing: %v", err)
	}
	if st := h.emu.Stats(); st.Faults != 12 {
		t.Errorf("%d faults counted, want 12", st.Faults)
	}
	// The recorder drops truncated and dropped answers (they never completed), so the walk's
	// validation sees only whole answers.
}

func TestStepIsDeterministicAndFeedsTheGroundTruth(t *testing.T) {
	run := func() []string {
		e := New(Options{Seed: 7, Users: 10, Clock: clockAt()})
		defer e.Close()
		e.Step(300)
		var out []string
		for _, a := range e.Activities() {
			out = append(out, a.Name+" "+a.Actor+" "+a.FileID)
		}
		return out
	}
	one, two := run(), run()
	if !slices.Equal(one, two) {
		t.Fatal("Step is not deterministic by seed")
	}
	names := map[string]int{}
	for _, a := range one {
		names[a[:len(a)-len(a[indexSpace(a):])]]++
	}
	for _, want := range []string{"upload", "create", "edit", "rename", "move", "trash", "delete", "change_user_access", "change_document_visibility", "copy", "download", "view"} {
		if names[want] == 0 {
			t.Errorf("300 steps made no %s: %v", want, names)
		}
	}
}

func indexSpace(s string) int {
	for i, c := range s {
		if c == ' ' {
			return i
		}
	}
	return len(s)
}
