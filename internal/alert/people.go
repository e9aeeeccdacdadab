package alert

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// resolver maps addresses to their person (store.ResolvePeople), remembering what it learned for
// the current minute only: an alias added or removed applies within a minute, as the rules'
// actor: expansion does (Evaluator.rules compiles them again each minute).
type resolver struct {
	mu     sync.Mutex
	minute time.Time
	known  map[string]string // address (lower case) -> person; itself when it is no alias
}

// people returns the person of each address (lower case keys and values), from the store for
// those not resolved yet this minute (now; zero: never forget).
func (r *resolver) people(ctx context.Context, ar store.AliasReader, now time.Time, addrs []string) (map[string]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := now.Truncate(time.Minute); r.known == nil || !m.Equal(r.minute) {
		r.known, r.minute = map[string]string{}, m
	}
	out := make(map[string]string, len(addrs))
	var todo []string
	for _, a := range addrs {
		a = strings.ToLower(a)
		if p, ok := r.known[a]; ok {
			out[a] = p
		} else if _, ok := out[a]; !ok {
			out[a] = a
			todo = append(todo, a)
		}
	}
	for len(todo) > 0 {
		n := min(len(todo), store.MaxResolve)
		got, err := ar.ResolvePeople(ctx, todo[:n])
		if err != nil {
			return nil, err
		}
		for _, a := range todo[:n] {
			p := a
			if x, ok := got[strings.ToLower(strings.TrimSpace(a))]; ok {
				p = x
			}
			r.known[a], out[a] = p, p
		}
		todo = todo[n:]
	}
	return out, nil
}

// actors lists the events' actors.
func actors(evs []event.FileEvent) []string {
	out := make([]string, 0, len(evs))
	for i := range evs {
		out = append(out, evs[i].User.Email)
	}
	return out
}

// withPeople returns copies of the rules that know these people.
func withPeople(rules []*Compiled, people map[string]string) []*Compiled {
	out := make([]*Compiled, len(rules))
	for i, r := range rules {
		c := *r
		c.people = people
		out[i] = &c
	}
	return out
}
