package graphkit

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/paging"
	"github.com/telltale-dev/telltale/internal/httpx"
)

// Getter GETs a Graph path ("/users?$top=999") or a link Graph gave (@odata.nextLink) into out,
// as the connector's client does it (token, pacing, retries, its error kinds).
type Getter func(ctx context.Context, pathOrLink string, out any) error

// Sub is a change-notification subscription as GET /subscriptions lists it. Graph may list
// clientState as null.
type Sub struct {
	ID                 string  `json:"id"`
	Resource           string  `json:"resource"`
	NotificationURL    string  `json:"notificationUrl"`
	ClientState        *string `json:"clientState"`
	ExpirationDateTime string  `json:"expirationDateTime"`
}

// MaybeCreated reports whether a failed POST /subscriptions may have made the subscription
// anyway: Graph answered 5xx, or nothing came back (the request may have reached Graph before the
// connection failed or timed out). A 4xx, a throttle, a refused token or a missing permission
// made none. A creation must be sent once, without the client's retries, for this to hold: a
// retried POST after a 5xx that had made one makes a second.
func MaybeCreated(err error) bool {
	if err == nil || errors.Is(err, httpx.ErrThrottled) || errors.Is(err, connector.ErrAuth) || errors.Is(err, connector.ErrPermission) {
		return false
	}
	if ge, ok := As(err); ok {
		return ge.Status >= 500
	}
	return true
}

// Settle is what a connector does after a creation that MaybeCreated: it lists the app's
// subscriptions (GET /subscriptions, every page) and, among those for resource pushing to
// notifyURL, keeps the first made with clientState (the failed creation did make it) and deletes
// the others (what this or earlier failed creations left behind), so that the connection never
// holds two live subscriptions for one resource, nor one Graph has and it does not know. ok is
// false when none is kept (none was made, or Graph lists no clientState): the caller creates
// again at its next round. del deletes a subscription by id (404 is done).
func Settle(ctx context.Context, get Getter, del func(ctx context.Context, id string) error, resource, notifyURL, clientState string) (kept Sub, ok bool, err error) {
	want := normResource(resource)
	guard := paging.New("graph subscriptions", 0)
	var ours []Sub
	for next := "/subscriptions"; next != ""; {
		var page struct {
			Value    []Sub  `json:"value"`
			NextLink string `json:"@odata.nextLink"`
		}
		if err := get(ctx, next, &page); err != nil {
			return Sub{}, false, err
		}
		for _, s := range page.Value {
			if s.ID != "" && normResource(s.Resource) == want && s.NotificationURL == notifyURL {
				ours = append(ours, s)
			}
		}
		if next = page.NextLink; next != "" {
			if err := guard.Next(next); err != nil {
				return Sub{}, false, err
			}
		}
	}
	var errs []error
	for _, s := range ours {
		if !ok && s.ClientState != nil && *s.ClientState == clientState && clientState != "" {
			kept, ok = s, true
			continue
		}
		if err := del(ctx, s.ID); err != nil && !IsStatus(err, http.StatusNotFound) {
			errs = append(errs, err)
		}
	}
	return kept, ok, errors.Join(errs...)
}

// normResource compares resources as Graph may write them back: without a leading slash, in any
// case ("users/{id}/mailFolders('sentitems')/messages", "drives/{id}/root").
func normResource(r string) string {
	return strings.ToLower(strings.TrimPrefix(strings.TrimSpace(r), "/"))
}
