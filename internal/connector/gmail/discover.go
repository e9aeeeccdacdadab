package gmail

import (
	"context"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/googlekit"
)

// Verify mints the admin's token with every scope (a scope not delegated fails here), lists one
// user as the admin (the admin is one), reads the admin's Gmail profile (the Gmail API is enabled
// and gmail.readonly delegated), and returns the customer id.
func (s *session) Verify(ctx context.Context) (string, error) {
	s.g.Source(s.admin).Invalidate("") // check the delegation as it is now
	ctx, svc := s.as(ctx, s.admin)
	users, err := s.dir.UsersCall(svc.dir).MaxResults(1).Fields("users(id,primaryEmail,customerId)").Context(ctx).Do()
	if err != nil {
		return "", s.dir.AdminErr(err, "listing users")
	}
	if _, err := svc.gmail.Users.GetProfile("me").Context(ctx).Do(); err != nil && !mailOff(googlekit.Plain(err)) {
		// An administrator without Gmail cannot tell whether Gmail answers; every mailbox will.
		return "", s.g.Classify(err, "reading the Gmail profile of %s", s.admin)
	}
	if len(users.Users) > 0 && users.Users[0].CustomerId != "" {
		return users.Users[0].CustomerId, nil
	}
	return s.customer, nil
}

// Discover pages the domain's users and emits the active in-scope ones' mailboxes, by primary
// email (Gmail impersonates by email); suspended and archived users are counted, not monitored.
func (s *session) Discover(ctx context.Context, scope connector.Scope, emit func([]connector.Drive) error) (connector.Discovery, error) {
	ctx, svc := s.as(ctx, s.admin)
	return s.dir.Users(ctx, svc.dir, scope, func(us []googlekit.User) error {
		ds := make([]connector.Drive, len(us))
		for i, u := range us {
			ds[i] = connector.Drive{VendorID: u.Email, Kind: "mailbox", Owner: u.Email, Name: u.Name}
		}
		return emit(ds)
	})
}
