package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/store"
)

// keepPush runs a connection's push keeper over its in-scope drives (WorkPush).
func (s *Service) keepPush(ctx context.Context, w store.Work) (time.Time, error) {
	c, ok, err := s.load(ctx, w.Key)
	if err != nil || !ok {
		return time.Time{}, err
	}
	ss, err := s.session(ctx, c)
	if err != nil {
		return time.Time{}, s.fail(ctx, c, unitOf(WorkPush, w.Key), "opening the connection", err)
	}
	pk, ok := ss.Session.(connector.PushKeeper)
	if !ok {
		return time.Time{}, nil // the vendor has nothing to keep: the unit ends
	}
	defer s.afterRun(ctx, c, ss, time.Time{})
	err = s.eachDrive(ctx, c.ID, true, func(ds []connector.Drive) error { return pk.EnsurePush(ctx, ds) })
	if err != nil {
		return time.Time{}, fmt.Errorf("ingest: keeping the push subscriptions of connection %d: %w", c.ID, err)
	}
	return s.clock.Now().Add(pushEvery), nil
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
	pk, ok := ss.Session.(connector.PushKeeper)
	if !ok {
		return time.Time{}, nil
	}
	if err := s.eachDrive(ctx, c.ID, false, func(ds []connector.Drive) error { return pk.RemovePush(ctx, ds) }); err != nil {
		return time.Time{}, fmt.Errorf("ingest: removing the push subscriptions of connection %d: %w", c.ID, err)
	}
	s.log.Info("push subscriptions removed at the vendor", "connection", c.ID)
	return time.Time{}, nil
}

// eachDrive calls fn with the connection's drives page by page (only in-scope ones when
// inScopeOnly; all of them to remove what any may have had).
func (s *Service) eachDrive(ctx context.Context, conn int64, inScopeOnly bool, fn func([]connector.Drive) error) error {
	var after int64
	for {
		ds, err := s.st.ListDrives(ctx, store.DriveFilter{ConnectionID: conn, Kinds: []string{"user", "shared"}, AfterID: after, Limit: 500})
		if err != nil {
			return err
		}
		if len(ds) == 0 {
			return nil
		}
		page := make([]connector.Drive, 0, len(ds))
		for _, d := range ds {
			after = d.ID
			if inScopeOnly && (!d.InScope || d.State == store.DriveInaccessible) {
				continue
			}
			page = append(page, connector.Drive{VendorID: d.VendorID, Kind: d.Kind, Owner: d.Owner, Name: d.Name})
		}
		if len(page) > 0 {
			if err := fn(page); err != nil {
				return err
			}
		}
	}
}
