package graphkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/httpx"
)

// TestSettle: of the app's subscriptions (two pages), those for the resource pushing to the URL
// are ours: the first made with the clientState sent is kept, the others deleted; another
// resource's or another URL's are left alone. Graph listing no clientState keeps none.
func TestSettle(t *testing.T) {
	pages := map[string]string{
		"/subscriptions": `{"value":[{"id":"a","resource":"drives/D/root","notificationUrl":"https://t/hook","clientState":null},
			{"id":"b","resource":"drives/OTHER/root","notificationUrl":"https://t/hook","clientState":"cs"}],
			"@odata.nextLink":"https://graph/v1.0/subscriptions?$skiptoken=2"}`,
		"https://graph/v1.0/subscriptions?$skiptoken=2": `{"value":[{"id":"c","resource":"/Drives/D/root","notificationUrl":"https://t/hook","clientState":"cs","expirationDateTime":"2026-12-01T00:00:00Z"},
			{"id":"d","resource":"drives/D/root","notificationUrl":"https://t/hook","clientState":"cs"},
			{"id":"e","resource":"drives/D/root","notificationUrl":"https://elsewhere/hook","clientState":"cs"}]}`,
	}
	get := func(_ context.Context, p string, out any) error {
		b, ok := pages[p]
		if !ok {
			return fmt.Errorf("no page %s", p)
		}
		return json.Unmarshal([]byte(b), out)
	}
	var deleted []string
	del := func(_ context.Context, id string) error { deleted = append(deleted, id); return nil }
	kept, ok, err := Settle(context.Background(), get, del, "drives/D/root", "https://t/hook", "cs")
	if err != nil || !ok || kept.ID != "c" || kept.ExpirationDateTime == "" || !slices.Equal(deleted, []string{"a", "d"}) {
		t.Errorf("kept %+v %v %v, deleted %v; want c kept, a and d deleted", kept, ok, err, deleted)
	}
	deleted = nil
	if _, ok, err := Settle(context.Background(), get, del, "drives/D/root", "https://t/hook", "another"); ok || err != nil || !slices.Equal(deleted, []string{"a", "c", "d"}) {
		t.Errorf("no clientState matches: ok %v %v, deleted %v; want none kept, every one of ours deleted", ok, err, deleted)
	}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&Error{Status: 500}, true},
		{&Error{Status: 504}, true},
		{&Error{Status: 400}, false},
		{fmt.Errorf("x: %w", httpx.Throttled("graph", time.Time{}, "429")), false},
		{fmt.Errorf("%w: refused", connector.ErrPermission), false},
		{errors.New("connection reset by peer"), true},
	} {
		if got := MaybeCreated(c.err); got != c.want {
			t.Errorf("MaybeCreated(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
