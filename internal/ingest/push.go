package ingest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/store"
)

// pushRenewMargin is how long before its expiry a subscription is renewed (at most; a short-lived
// one is renewed when half its life is left).
const pushRenewMargin = 24 * time.Hour

// keepPush keeps a connection's push subscriptions (WorkPush): for every followed drive (and the
// tenant's feeds) it renews what expires soon and makes what is missing; subscriptions of drives no
// longer followed are removed at the vendor. It runs after discovery and daily; between rounds the
// renewal unit (renewDue) renews what comes due without walking the drives.
func (s *Service) keepPush(ctx context.Context, w store.Work) (time.Time, error) {
	c, ok, err := s.load(ctx, w.Key)
	if err != nil || !ok {
		return time.Time{}, err
	}
	unit := unitOf(WorkPush, w.Key)
	ss, err := s.session(ctx, c)
	if err != nil {
		return time.Time{}, s.fail(ctx, c, unit, "opening the connection", err)
	}
	p, ok := ss.Session.(connector.Pusher)
	url := s.pushURL(c)
	if !ok || url == "" {
		return time.Time{}, nil // nothing to keep: the unit ends (discovery schedules it again)
	}
	defer s.afterRun(ctx, c, ss, time.Time{})
	defer s.makingSubscriptions(c.ID)()
	now := s.clock.Now()
	next := now.Add(pushEvery)
	failed := 0
	// A round visits at most PushDrivesPerRun drives a run (Box: two vendor calls each), so one
	// connection's round neither holds a worker for hours nor restarts from the first drive after a
	// lost lease: it goes on from where the last run stopped.
	// The cursor is "<last drive row id>:<earliest renewal seen so far, Unix ns>".
	var from int64
	if at, err := s.st.GetCursor(ctx, c.ID, pushResumeCursor); err == nil && at != "" {
		id, due, _ := strings.Cut(at, ":")
		from, _ = strconv.ParseInt(id, 10, 64)
		if ns, err := strconv.ParseInt(due, 10, 64); err == nil && ns > 0 && time.Unix(0, ns).Before(next) {
			next = time.Unix(0, ns).UTC()
		}
	}
	visited := 0
	last, err := s.eachSubscribed(ctx, c.ID, from, func(d store.Drive, have []store.Subscription) error {
		if d.ID != 0 {
			if visited >= s.o.PushDrivesPerRun {
				return errYield
			}
			visited++
		}
		if d.ID != 0 && !followed(d) {
			return s.unsubscribe(ctx, c, p, d, have)
		}
		// Renewals are the renewal unit's (collect.renew): the round itself runs daily.
		err := s.keepDrivePush(ctx, c, ss, p, url, d, have, now)
		if err == nil || errors.Is(err, errStopped) {
			return err
		}
		// Credentials refused or the vendor throttling: the whole round waits. Anything else is
		// this drive's (a folder deleted meanwhile, a per-drive limit): counted, logged, and the
		// round goes on; polling keeps the drive collected, and the next round tries again.
		if _, throttled := throttledFor(err, s.clock.Now()); throttled || errors.Is(err, connector.ErrAuth) {
			return err
		}
		failed++
		s.m.pushFailed.Inc(key(c.ID), c.Service)
		s.log.Warn("keeping a drive's push subscriptions failed; polling covers it, the next round tries again",
			"connection", c.ID, "drive", d.VendorID, "err", err)
		return nil
	})
	if errors.Is(err, errStopped) {
		return time.Time{}, nil // collection stopped during the round: what it made was removed
	}
	if errors.Is(err, errYield) {
		at := strconv.FormatInt(last, 10) + ":" + strconv.FormatInt(next.UnixNano(), 10)
		if err := s.st.SaveCursor(ctx, c.ID, pushResumeCursor, at); err != nil {
			return time.Time{}, err
		}
		return now, nil // the rest of the round, at once
	}
	if err == nil && from != 0 {
		if err := s.st.SaveCursor(ctx, c.ID, pushResumeCursor, ""); err != nil {
			return time.Time{}, err
		}
	}
	if err != nil {
		return time.Time{}, s.fail(ctx, c, unit, "keeping the push subscriptions", err)
	}
	if failed > 0 && next.After(now.Add(time.Hour)) {
		next = now.Add(time.Hour) // the drives that failed are tried again within the hour
	}
	if err := s.succeeded(ctx, c, unit); err != nil {
		return time.Time{}, err
	}
	if soonest := now.Add(time.Minute); next.Before(soonest) {
		next = soonest
	}
	return next, nil
}

// keepDrivePush renews a followed drive's subscriptions that expire soon and lets the connector
// make what is missing.
func (s *Service) keepDrivePush(ctx context.Context, c store.Connection, ss *session, p connector.Pusher, url string, d store.Drive, have []store.Subscription, now time.Time) error {
	var cd connector.Drive
	if d.ID != 0 {
		cd = connectorDrive(d)
	}
	live := make([]connector.Subscription, 0, len(have))
	for _, row := range have {
		sub := subscriptionOf(row, cd)
		if !row.ExpiresAt.IsZero() && !now.Before(renewAt(row)) {
			renewed, err := p.Renew(ctx, sub)
			switch {
			case errors.Is(err, connector.ErrSubscriptionGone):
				continue // made again by Subscribe below
			case err != nil:
				return err
			}
			sub = renewed
		}
		live = append(live, sub)
	}
	subs, subErr := p.Subscribe(ctx, cd, url, live)
	if errors.Is(subErr, connector.ErrInaccessible) {
		return nil // the drive's state says so; its stream stops on its own
	}
	if subErr != nil {
		// What was made before the failure is kept (a row for every subscription that exists
		// at the vendor, so that it is renewed and removed); what Telltale held stays.
		subs = append(subs, live...)
	}
	stopped := false
	err := s.st.InTx(ctx, func(q store.Queries) error {
		// Collection may have stopped while the vendor was called: then nothing is saved, and
		// what this round made is removed below (the unpush unit only sees rows).
		if cur, err := q.GetConnection(ctx, c.ID); err != nil {
			return err
		} else if !collecting(cur.Status) {
			stopped = true
			return nil
		}
		kept := map[string]bool{}
		for _, sub := range subs {
			row := store.Subscription{ConnectionID: c.ID, DriveID: d.ID, VendorID: sub.ID, Stream: s.subscriptionStream(ss, d, cd, sub.Stream),
				Resource: sub.Resource, Detail: sub.Detail, ExpiresAt: sub.Expires, CheckedAt: now}
			if _, err := q.SaveSubscription(ctx, row); err != nil {
				return err
			}
			kept[sub.ID] = true
		}
		for _, row := range have {
			if !kept[row.VendorID] {
				if err := q.DeleteSubscription(ctx, c.ID, row.VendorID); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if stopped {
		for _, sub := range subs {
			if err := p.Unsubscribe(ctx, sub); err != nil {
				s.log.Warn("removing a push subscription made while collection stopped failed", "connection", c.ID, "subscription", sub.ID, "err", err)
			}
		}
		return errStopped
	}
	return subErr
}

// errStopped ends a push round whose connection stopped collecting meanwhile.
var errStopped = errors.New("collection stopped during the push round")

// renewAt is when a subscription is renewed: pushRenewMargin before it expires, or halfway
// through its life when that is shorter.
func renewAt(row store.Subscription) time.Time {
	margin := min(pushRenewMargin, row.ExpiresAt.Sub(row.CheckedAt)/2)
	return row.ExpiresAt.Add(-margin)
}

// subscriptionStream names the stream a subscription's deliveries wake: the drive's own stream of
// that key, or a tenant stream.
func (s *Service) subscriptionStream(ss *session, d store.Drive, cd connector.Drive, k string) string {
	if d.ID != 0 {
		if _, ok := findStream(ss.DriveStreams(cd), k); ok {
			return driveStreamName(d.ID, k)
		}
	}
	return k
}

func subscriptionOf(row store.Subscription, cd connector.Drive) connector.Subscription {
	k := row.Stream[strings.LastIndex(row.Stream, ":")+1:]
	return connector.Subscription{ID: row.VendorID, Drive: cd.VendorID, Stream: k, Resource: row.Resource, Detail: row.Detail, Expires: row.ExpiresAt}
}

// unsubscribe removes a drive's subscriptions at the vendor and forgets them. Every subscription is
// tried; one that fails keeps its row (the next round tries again) and the first error is returned
// after the others were tried.
func (s *Service) unsubscribe(ctx context.Context, c store.Connection, p connector.Pusher, d store.Drive, have []store.Subscription) error {
	var cd connector.Drive
	if d.ID != 0 {
		cd = connectorDrive(d)
	}
	var first error
	for _, row := range have {
		if err := p.Unsubscribe(ctx, subscriptionOf(row, cd)); err != nil {
			s.log.Warn("removing a push subscription failed; tried again later", "connection", c.ID, "subscription", row.VendorID, "err", err)
			if first == nil {
				first = err
			}
			continue
		}
		if err := s.st.DeleteSubscription(ctx, c.ID, row.VendorID); err != nil {
			return err
		}
	}
	return first
}

// removePush removes what a connection registered at its vendor once it stopped collecting
// (WorkUnpush). A connection that collects again keeps its subscriptions instead; one that is gone
// has nothing left to remove with.
func (s *Service) removePush(ctx context.Context, w store.Work) (time.Time, error) {
	c, collects, err := s.load(ctx, w.Key)
	if err != nil {
		return time.Time{}, err
	}
	if collects || c.ID == 0 {
		return time.Time{}, nil
	}
	ss, err := s.session(ctx, c)
	if err != nil {
		return time.Time{}, fmt.Errorf("ingest: removing the push subscriptions of connection %d: %w", c.ID, err)
	}
	defer s.forget(c.ID)
	p, ok := ss.Session.(connector.Pusher)
	if !ok {
		return time.Time{}, nil
	}
	n := 0
	var first error
	_, err = s.eachSubscribed(ctx, c.ID, 0, func(d store.Drive, have []store.Subscription) error {
		n += len(have)
		// Every drive is tried even when one fails: the rows left are tried again with backoff.
		if err := s.unsubscribe(ctx, c, p, d, have); err != nil && first == nil {
			first = err
		}
		return nil
	})
	if err == nil {
		err = first
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("ingest: removing the push subscriptions of connection %d: %w", c.ID, err)
	}
	s.log.Info("push subscriptions removed at the vendor", "connection", c.ID, "subscriptions", n)
	return time.Time{}, nil
}

// eachSubscribed calls fn for the tenant (a zero drive) and then every drive of the connection
// after drive row id from (0: from the start, the tenant first), page by page, with the
// subscriptions each holds. fn returning errYield stops the walk before that drive; last is the
// last drive fn was called for.
func (s *Service) eachSubscribed(ctx context.Context, conn, from int64, fn func(store.Drive, []store.Subscription) error) (last int64, err error) {
	if from == 0 {
		tenant, err := s.st.ListSubscriptions(ctx, conn, []int64{0})
		if err != nil {
			return 0, err
		}
		if err := fn(store.Drive{}, tenant); err != nil {
			return 0, err
		}
	}
	last = from
	for {
		ds, err := s.st.ListDrives(ctx, store.DriveFilter{ConnectionID: conn, AfterID: last, Limit: 500})
		if err != nil || len(ds) == 0 {
			return last, err
		}
		ids := make([]int64, len(ds))
		for i, d := range ds {
			ids[i] = d.ID
		}
		subs, err := s.st.ListSubscriptions(ctx, conn, ids)
		if err != nil {
			return last, err
		}
		byDrive := map[int64][]store.Subscription{}
		for _, sub := range subs {
			byDrive[sub.DriveID] = append(byDrive[sub.DriveID], sub)
		}
		for _, d := range ds {
			if err := fn(d, byDrive[d.ID]); err != nil {
				return last, err
			}
			last = d.ID
		}
	}
}

// errYield ends a push round's run early: the next run goes on from where it stopped.
var errYield = errors.New("push round yields")

// pushResumeCursor keeps where a connection's push round stopped (a drive row id).
const pushResumeCursor = "push:resume"

// makingSubscriptions marks a push round of the connection under way on this node until the
// returned function is called.
func (s *Service) makingSubscriptions(conn int64) (done func()) {
	s.mu.Lock()
	if s.making == nil {
		s.making = map[int64]int{}
	}
	s.making[conn]++
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		if s.making[conn]--; s.making[conn] <= 0 {
			delete(s.making, conn)
		}
		s.mu.Unlock()
	}
}

// subscribing reports whether a push round of the connection is under way on this node.
func (s *Service) subscribing(conn int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.making[conn] > 0
}

// renewWindow is how far ahead the renewal unit looks: a subscription is renewed at most
// pushRenewMargin before it expires, so none due is further away.
const renewWindow = pushRenewMargin + time.Hour

// renewDue renews a connection's subscriptions that are due (WorkRenew), reading only those that
// expire within renewWindow, soonest first, in batches: O(due) per run, not O(drives). It runs
// again when the next one comes due, and at least hourly (subscriptions made meanwhile).
func (s *Service) renewDue(ctx context.Context, w store.Work) (time.Time, error) {
	c, ok, err := s.load(ctx, w.Key)
	if err != nil || !ok {
		return time.Time{}, err
	}
	unit := unitOf(WorkRenew, w.Key)
	ss, err := s.session(ctx, c)
	if err != nil {
		return time.Time{}, s.fail(ctx, c, unit, "opening the connection", err)
	}
	p, ok := ss.Session.(connector.Pusher)
	if !ok || s.pushURL(c) == "" {
		return time.Time{}, nil
	}
	defer s.afterRun(ctx, c, ss, time.Time{})
	now := s.clock.Now()
	next := now.Add(time.Hour)
	gone := false
	for {
		rows, err := s.st.ListExpiringSubscriptions(ctx, c.ID, now.Add(renewWindow), 500)
		if err != nil {
			return time.Time{}, err
		}
		renewed := 0
		for _, row := range rows {
			at := renewAt(row)
			if at.After(now) {
				if at.Before(next) {
					next = at
				}
				continue
			}
			var cd connector.Drive
			if row.DriveID != 0 {
				d, err := s.st.GetDrive(ctx, row.DriveID)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return time.Time{}, err
				}
				cd = connectorDrive(d)
			}
			sub, err := p.Renew(ctx, subscriptionOf(row, cd))
			switch {
			case errors.Is(err, connector.ErrSubscriptionGone):
				if err := s.st.DeleteSubscription(ctx, c.ID, row.VendorID); err != nil {
					return time.Time{}, err
				}
				gone = true
				continue
			case err != nil:
				if _, throttled := throttledFor(err, s.clock.Now()); throttled || errors.Is(err, connector.ErrAuth) {
					return time.Time{}, s.fail(ctx, c, unit, "renewing push subscriptions", err)
				}
				s.m.pushFailed.Inc(key(c.ID), c.Service)
				s.log.Warn("renewing a push subscription failed; tried again in the next run", "connection", c.ID, "subscription", row.VendorID, "err", err)
				if soon := now.Add(5 * time.Minute); soon.Before(next) {
					next = soon
				}
				continue
			}
			row.ExpiresAt, row.CheckedAt = sub.Expires, now
			if sub.ID != "" && sub.ID != row.VendorID {
				// Replaced, not extended (Drive channels): the new subscription takes the row's place.
				old := row.VendorID
				row.VendorID, row.Resource, row.Detail = sub.ID, sub.Resource, sub.Detail
				err := s.st.InTx(ctx, func(q store.Queries) error {
					if _, err := q.SaveSubscription(ctx, row); err != nil {
						return err
					}
					return q.DeleteSubscription(ctx, c.ID, old)
				})
				if err != nil {
					return time.Time{}, err
				}
			} else if _, err := s.st.SaveSubscription(ctx, row); err != nil {
				return time.Time{}, err
			}
			renewed++
			if at := renewAt(row); !row.ExpiresAt.IsZero() && at.Before(next) {
				next = at
			}
		}
		if len(rows) < 500 || renewed == 0 {
			break
		}
	}
	if gone {
		// The vendor dropped some: the round makes them again, now.
		if _, err := s.st.ScheduleWork(ctx, store.Work{Kind: WorkPush, Key: key(c.ID), ConnectionID: c.ID, NextRunAt: now}); err != nil {
			return time.Time{}, err
		}
	}
	if err := s.succeeded(ctx, c, unit); err != nil {
		return time.Time{}, err
	}
	if soonest := now.Add(time.Minute); next.Before(soonest) {
		next = soonest
	}
	return next, nil
}
