package search

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
)

// people is an alias table: every address of a person, keyed by each of them in lower case.
func people(groups ...[]string) func(string) ([]string, error) {
	by := map[string][]string{}
	for _, g := range groups {
		for _, a := range g {
			by[strings.ToLower(a)] = g
		}
	}
	return func(a string) ([]string, error) { return by[strings.ToLower(a)], nil }
}

func TestExpandActors(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	lookup := people([]string{"bob@corp.com", "robert@corp.example", "BOB.SMITH@corp.onmicrosoft.com"})
	evs := map[string]*event.FileEvent{}
	for _, a := range []string{"bob@corp.com", "Robert@Corp.example", "bob.smith@corp.onmicrosoft.com", "alice@corp.com", "bob@corp.comx"} {
		evs[a] = &event.FileEvent{User: event.User{Email: a}, Event: event.Meta{Action: event.ActionShared}}
	}
	for _, tc := range []struct {
		q, canon string
		want     []string // addresses of the matching events
	}{
		// By the primary address or by any alias: every address of the person.
		{"actor:bob@corp.com", "actor:bob@corp.com OR actor:robert@corp.example OR actor:BOB.SMITH@corp.onmicrosoft.com",
			[]string{"bob@corp.com", "Robert@Corp.example", "bob.smith@corp.onmicrosoft.com"}},
		{"user:ROBERT@corp.example", "actor:ROBERT@corp.example OR actor:bob@corp.com OR actor:BOB.SMITH@corp.onmicrosoft.com",
			[]string{"bob@corp.com", "Robert@Corp.example", "bob.smith@corp.onmicrosoft.com"}},
		// Negation excludes the person under every address.
		{"NOT actor:bob@corp.com", "", []string{"alice@corp.com", "bob@corp.comx"}},
		// Inside an OR the alternatives stay one flat OR; inside an AND the other terms still hold.
		{"actor:alice@corp.com OR actor:robert@corp.example", "actor:alice@corp.com OR actor:robert@corp.example OR actor:bob@corp.com OR actor:BOB.SMITH@corp.onmicrosoft.com",
			[]string{"alice@corp.com", "bob@corp.com", "Robert@Corp.example", "bob.smith@corp.onmicrosoft.com"}},
		{"actor:bob@corp.com action:emailed", "", nil},
		// Patterns name addresses, not people; people without aliases are left alone.
		{"actor:bob@corp.com*", "actor:bob@corp.com*", []string{"bob@corp.com", "bob@corp.comx"}},
		{"actor:alice@corp.com", "actor:alice@corp.com", []string{"alice@corp.com"}},
		{"owner:bob@corp.com", "owner:bob@corp.com", nil},
	} {
		q, err := Parse(tc.q, now)
		if err != nil {
			t.Fatalf("%s: %v", tc.q, err)
		}
		x, err := ExpandActors(q, lookup)
		if err != nil {
			t.Fatalf("%s: %v", tc.q, err)
		}
		if tc.canon != "" && x.String() != tc.canon {
			t.Errorf("%s expands to %q, want %q", tc.q, x.String(), tc.canon)
		}
		// The expansion prints as a query that parses back to itself.
		if back, err := Parse(x.String(), now); err != nil || back.String() != x.String() {
			t.Errorf("%s: the expansion %q does not parse back (%v)", tc.q, x.String(), err)
		}
		var got []string
		for _, a := range []string{"bob@corp.com", "Robert@Corp.example", "bob.smith@corp.onmicrosoft.com", "alice@corp.com", "bob@corp.comx"} {
			if Match(x, evs[a]) {
				got = append(got, a)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(sortLike(tc.want)) {
			t.Errorf("%s matches %v, want %v", tc.q, got, tc.want)
		}
	}
}

// sortLike orders addresses as TestExpandActors walks them.
func sortLike(want []string) []string {
	var out []string
	for _, a := range []string{"bob@corp.com", "Robert@Corp.example", "bob.smith@corp.onmicrosoft.com", "alice@corp.com", "bob@corp.comx"} {
		for _, w := range want {
			if w == a {
				out = append(out, a)
			}
		}
	}
	return out
}

func TestExpandActorsBounded(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	many := func(a string) ([]string, error) {
		out := []string{a}
		for i := range 60 {
			out = append(out, fmt.Sprintf("alias%d.%s", i, a))
		}
		return out, nil
	}
	var terms []string
	for i := range 30 {
		terms = append(terms, fmt.Sprintf("actor:p%d@corp.com", i))
	}
	q, err := Parse(strings.Join(terms, " OR "), now)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ExpandActors(q, many)
	var se *Error
	if !errors.As(err, &se) || !strings.Contains(se.Msg, "the most is 1024") {
		t.Fatalf("30 people of 61 addresses each: %v, want a refusal naming the limit", err)
	}
	// One person's 61 addresses stay within MaxActorAddresses.
	q, _ = Parse("actor:p@corp.com", now)
	x, err := ExpandActors(q, many)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(x.Root.(*Or).Nodes); n != 61 {
		t.Errorf("%d addresses, want 61", n)
	}
	// A lookup that fails fails the expansion.
	boom := errors.New("store down")
	if _, err := ExpandActors(q, func(string) ([]string, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("a failing lookup gave %v", err)
	}
}
