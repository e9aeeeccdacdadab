package sqldb

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// Endpoint agents and devices (issue 18, R8.2).

const secretSelect = `SELECT s.id, s.name, s.prefix, s.hash, s.created_at, s.created_by, s.expires_at, s.revoked_at, s.updated_at,
 (SELECT COUNT(*) FROM devices d WHERE d.secret_id = s.id) FROM deployment_secrets s`

func scanSecret(s scanner) (store.DeploymentSecret, error) {
	var d store.DeploymentSecret
	var c, e, r, u int64
	err := s.Scan(&d.ID, &d.Name, &d.Prefix, &d.Hash, &c, &d.CreatedBy, &e, &r, &u, &d.Devices)
	d.CreatedAt, d.ExpiresAt, d.RevokedAt, d.UpdatedAt = fromMicros(c), fromMicros(e), fromMicros(r), fromMicros(u)
	return d, err
}

// CreateDeploymentSecret implements store.DeviceQueries.
func (q *Queries) CreateDeploymentSecret(ctx context.Context, s store.DeploymentSecret) (store.DeploymentSecret, error) {
	if s.CreatedAt.IsZero() {
		s.CreatedAt = nowUTC()
	}
	if s.UpdatedAt.IsZero() {
		s.UpdatedAt = s.CreatedAt
	}
	var id int64
	err := q.w.QueryRowContext(ctx, q.d.q(`INSERT INTO deployment_secrets (name, prefix, hash, created_at, created_by, expires_at, revoked_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`), s.Name, s.Prefix, s.Hash, micros(s.CreatedAt), s.CreatedBy, micros(s.ExpiresAt), micros(s.RevokedAt), micros(s.UpdatedAt)).Scan(&id)
	if err != nil {
		return store.DeploymentSecret{}, q.wrap("create deployment secret", err)
	}
	return q.GetDeploymentSecret(ctx, id)
}

// GetDeploymentSecret implements store.DeviceQueries.
func (q *Queries) GetDeploymentSecret(ctx context.Context, id int64) (store.DeploymentSecret, error) {
	s, err := scanSecret(q.r.QueryRowContext(ctx, q.d.q(secretSelect+` WHERE s.id = ?`), id))
	return s, q.wrap(fmt.Sprintf("get deployment secret %d", id), err)
}

// GetDeploymentSecretByHash implements store.DeviceQueries.
func (q *Queries) GetDeploymentSecretByHash(ctx context.Context, hash []byte) (store.DeploymentSecret, error) {
	s, err := scanSecret(q.r.QueryRowContext(ctx, q.d.q(secretSelect+` WHERE s.hash = ?`), hash))
	return s, q.wrap("get deployment secret by hash", err)
}

// ListDeploymentSecrets implements store.DeviceQueries.
func (q *Queries) ListDeploymentSecrets(ctx context.Context) ([]store.DeploymentSecret, error) {
	rows, err := q.r.QueryContext(ctx, q.d.q(secretSelect+` ORDER BY s.id DESC LIMIT 1000`))
	if err != nil {
		return nil, q.wrap("list deployment secrets", err)
	}
	defer rows.Close()
	var out []store.DeploymentSecret
	for rows.Next() {
		s, err := scanSecret(rows)
		if err != nil {
			return nil, q.wrap("list deployment secrets", err)
		}
		out = append(out, s)
	}
	return out, q.wrap("list deployment secrets", rows.Err())
}

// UpdateDeploymentSecret implements store.DeviceQueries.
func (q *Queries) UpdateDeploymentSecret(ctx context.Context, id int64, expiresAt, revokedAt, at time.Time) (store.DeploymentSecret, error) {
	res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE deployment_secrets SET expires_at = ?, revoked_at = ?, updated_at = ? WHERE id = ?`),
		micros(expiresAt), micros(revokedAt), micros(at), id)
	if err := affected(res, err, fmt.Sprintf("update deployment secret %d", id), q, store.ErrNotFound); err != nil {
		return store.DeploymentSecret{}, err
	}
	return q.GetDeploymentSecret(ctx, id)
}

const deviceCols = `id, public_key, secret_id, host_name, os, arch, agent_version, user_name, person, enrolled_at,
 last_checkin_at, last_activity_at, counter, event_seq, active, deactivated_at, deactivated_by`

func scanDevice(s scanner, more ...any) (store.Device, error) {
	var d store.Device
	var en, ci, la, da, act int64
	err := s.Scan(append([]any{&d.ID, &d.PublicKey, &d.SecretID, &d.HostName, &d.OS, &d.Arch, &d.AgentVersion, &d.UserName, &d.Person, &en,
		&ci, &la, &d.Counter, &d.EventSeq, &act, &da, &d.DeactivatedBy}, more...)...)
	d.EnrolledAt, d.LastCheckInAt, d.LastActivityAt, d.DeactivatedAt, d.Active = fromMicros(en), fromMicros(ci), fromMicros(la), fromMicros(da), act != 0
	return d, err
}

// CreateDevice implements store.DeviceQueries.
func (q *Queries) CreateDevice(ctx context.Context, d store.Device) (store.Device, error) {
	if d.EnrolledAt.IsZero() {
		d.EnrolledAt = nowUTC()
	}
	var out store.Device
	err := q.inTx(ctx, func(q *Queries) error {
		var err error
		out, err = scanDevice(q.w.QueryRowContext(ctx, q.d.q(`INSERT INTO devices (public_key, secret_id, host_name, os, arch, agent_version, user_name, person,
 enrolled_at, last_checkin_at, last_activity_at, counter, event_seq, active) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 1) RETURNING `+deviceCols),
			d.PublicKey, d.SecretID, d.HostName, d.OS, d.Arch, d.AgentVersion, d.UserName, strings.ToLower(d.Person),
			micros(d.EnrolledAt), micros(d.LastCheckInAt), micros(d.LastActivityAt), d.Counter))
		if err != nil {
			return err
		}
		return q.appendDeviceHealth(ctx, out, store.DeviceEnrolled, out.EnrolledAt, false, "")
	})
	return out, q.wrap("create device", err)
}

// appendDeviceHealth writes a health row of kind for d as it is now. A row of another kind than a
// check-in empties the device's health_last, so its next check-in writes a row again
// (RecordCheckIn sets health_last itself).
func (q *Queries) appendDeviceHealth(ctx context.Context, d store.Device, kind string, at time.Time, outdated bool, actor string) error {
	_, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO device_health (device_id, at, kind, host_name, os, agent_version, person, outdated, since, actor)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`), d.ID, micros(at), kind, d.HostName, d.OS, d.AgentVersion, d.Person, boolInt(outdated), actor)
	if err == nil && kind != store.DeviceCheckedIn && kind != store.DeviceOutdated {
		_, err = q.w.ExecContext(ctx, q.d.q(`UPDATE devices SET health_last = '' WHERE id = ? AND health_last <> ''`), d.ID)
	}
	return q.wrap("append device health", err)
}

// healthLastPrefix is devices.health_last for a check-in's details, less the person that ends it
// (as migration 0038 computes it from a device's last health row). The separator is U+001F, a
// control character the API refuses in every one of these fields (textcheck.Label).
func healthLastPrefix(host, os, version string, outdated bool) string {
	return host + "\x1f" + os + "\x1f" + version + "\x1f" + strconv.Itoa(boolInt(outdated)) + "\x1f"
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// GetDevice implements store.DeviceQueries.
func (q *Queries) GetDevice(ctx context.Context, id int64) (store.Device, error) {
	var revoked int64
	d, err := scanDevice(q.r.QueryRowContext(ctx, q.d.q(`SELECT `+deviceCols+`,
 COALESCE((SELECT s.revoked_at FROM deployment_secrets s WHERE s.id = devices.secret_id), 0) FROM devices WHERE id = ?`), id), &revoked)
	d.SecretRevokedAt = fromMicros(revoked)
	return d, q.wrap(fmt.Sprintf("get device %d", id), err)
}

func deviceWhere(f store.DeviceFilter) (string, []any) {
	var conds []string
	var args []any
	if f.OS != "" {
		conds, args = append(conds, `lower(os) = ?`), append(args, strings.ToLower(f.OS))
	}
	if f.AgentVersion != "" {
		conds, args = append(conds, `agent_version = ?`), append(args, f.AgentVersion)
	}
	if f.Person != "" {
		conds, args = append(conds, `person = ?`), append(args, strings.ToLower(f.Person))
	}
	if f.Host != "" {
		// A host name's _ and % are not wildcards.
		pat := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(strings.ToLower(f.Host)) + "%"
		conds, args = append(conds, `lower(host_name) LIKE ? ESCAPE '\'`), append(args, pat)
	}
	switch f.State {
	case "active":
		conds = append(conds, `active = 1`)
	case "inactive":
		conds = append(conds, `active = 0`)
	}
	if !f.SilentBefore.IsZero() {
		conds, args = append(conds, `(CASE WHEN last_checkin_at = 0 THEN enrolled_at ELSE last_checkin_at END) < ?`), append(args, micros(f.SilentBefore))
	}
	if len(conds) == 0 {
		return "", nil
	}
	return ` WHERE ` + strings.Join(conds, ` AND `), args
}

var deviceOrder = map[string]string{
	store.DeviceSortCheckIn: "last_checkin_at",
	store.DeviceSortOS:      "lower(os)",
	store.DeviceSortVersion: "agent_version",
	store.DeviceSortPerson:  "person",
	store.DeviceSortHost:    "lower(host_name)",
}

// ListDevices implements store.DeviceQueries.
func (q *Queries) ListDevices(ctx context.Context, f store.DeviceFilter) ([]store.Device, error) {
	where, args := deviceWhere(f)
	col, ok := deviceOrder[f.Sort]
	if f.Sort == "" {
		col, ok = deviceOrder[store.DeviceSortCheckIn], true
	}
	if !ok {
		return nil, fmt.Errorf("store: list devices: unknown sort %q", f.Sort)
	}
	dir := " ASC"
	if f.Desc {
		dir = " DESC"
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit, max(f.Offset, 0))
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT `+deviceCols+` FROM devices`+where+` ORDER BY `+col+dir+`, id`+dir+` LIMIT ? OFFSET ?`), args...)
	if err != nil {
		return nil, q.wrap("list devices", err)
	}
	defer rows.Close()
	var out []store.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, q.wrap("list devices", err)
		}
		out = append(out, d)
	}
	return out, q.wrap("list devices", rows.Err())
}

// CountDevices implements store.DeviceQueries.
func (q *Queries) CountDevices(ctx context.Context, f store.DeviceFilter) (int64, error) {
	where, args := deviceWhere(f)
	var n int64
	err := q.r.QueryRowContext(ctx, q.d.q(`SELECT COUNT(*) FROM devices`+where), args...).Scan(&n)
	return n, q.wrap("count devices", err)
}

// RecordCheckIn implements store.DeviceQueries. A health row is written when the device's last
// one is not a check-in (the first check-in, one back after silence or reactivation) or reported
// other details or another outdated flag. What the last health row says is kept on the devices
// row (health_last, migration 0038: its kind's check-in details, empty after any other kind), so
// a check-in that changes nothing is one statement: the update compares the details it writes
// with health_last as it was (SET sees the row before the update) and keeps the answer in
// health_moved. The same statement is the device's standing check (active, its secret not
// revoked - a primary-key seek in deployment_secrets -, the key c.PublicKey when given), so the
// caller need not read the device first and a revocation or deactivation committed on any node
// holds for every check-in written after it.
func (q *Queries) RecordCheckIn(ctx context.Context, id int64, c store.CheckIn) (store.Device, error) {
	var d store.Device
	err := q.inTx(ctx, func(q *Queries) error {
		var err error
		var moved int
		person := strings.ToLower(c.Person)
		// The new health_last: the details as the update leaves them (the person stays when the
		// check-in names none).
		fp := healthLastPrefix(c.HostName, c.OS, c.AgentVersion, c.Outdated)
		d, err = scanDevice(q.w.QueryRowContext(ctx, q.d.q(`UPDATE devices SET counter = ?, last_checkin_at = ?, host_name = ?, os = ?, arch = ?,
 agent_version = ?, user_name = ?, person = CASE WHEN ? <> '' THEN ? ELSE person END, last_activity_at = CASE WHEN ? > last_activity_at THEN ? ELSE last_activity_at END,
 health_moved = CASE WHEN health_last = ? || CASE WHEN ? <> '' THEN ? ELSE person END THEN 0 ELSE 1 END,
 health_last = ? || CASE WHEN ? <> '' THEN ? ELSE person END
 WHERE id = ? AND counter < ? AND active = 1 AND (? = 0 OR public_key = ?)
 AND COALESCE((SELECT s.revoked_at FROM deployment_secrets s WHERE s.id = devices.secret_id), 0) = 0
 RETURNING `+deviceCols+`, health_moved`),
			c.Counter, micros(c.At), c.HostName, c.OS, c.Arch, c.AgentVersion, c.UserName, person, person,
			micros(c.LastActivityAt), micros(c.LastActivityAt), fp, person, person, fp, person, person, id, c.Counter,
			len(c.PublicKey), keyArg(c.PublicKey)), &moved)
		if err != nil || moved == 0 {
			return err // nothing new when moved is 0
		}
		kind := store.DeviceCheckedIn
		if c.Outdated {
			kind = store.DeviceOutdated
		}
		return q.appendDeviceHealth(ctx, d, kind, c.At, c.Outdated, "")
	})
	if err == nil || !errors.Is(err, sql.ErrNoRows) {
		return d, q.wrap("record check-in", err)
	}
	// Refused (the rare path): read the device to say why.
	d, err = q.GetDevice(ctx, id)
	if err != nil {
		return store.Device{}, err
	}
	why := fmt.Sprintf("counter %d is not above the last one accepted", c.Counter)
	switch {
	case !d.Active:
		why = "the device is deactivated"
	case !d.SecretRevokedAt.IsZero():
		why = "the deployment secret it enrolled with is revoked"
	case len(c.PublicKey) > 0 && !bytes.Equal(c.PublicKey, d.PublicKey):
		why = "the device's public key is another"
	}
	return d, fmt.Errorf("store: record check-in of device %d: %s: %w", id, why, store.ErrConflict)
}

// keyArg is a public key as a query argument: a key or, when there is none, an empty blob (never
// NULL, which PostgreSQL cannot type in "? = 0 OR public_key = ?").
func keyArg(k []byte) []byte {
	if k == nil {
		return []byte{}
	}
	return k
}

// SetDeviceActive implements store.DeviceQueries.
func (q *Queries) SetDeviceActive(ctx context.Context, id int64, active bool, by string, at time.Time) (store.Device, error) {
	var d store.Device
	err := q.inTx(ctx, func(q *Queries) error {
		var err error
		kind := store.DeviceReactivated
		if active {
			d, err = scanDevice(q.w.QueryRowContext(ctx, q.d.q(`UPDATE devices SET active = 1, deactivated_at = 0, deactivated_by = '' WHERE id = ? RETURNING `+deviceCols), id))
		} else {
			kind = store.DeviceDeactivated
			d, err = scanDevice(q.w.QueryRowContext(ctx, q.d.q(`UPDATE devices SET active = 0, deactivated_at = ?, deactivated_by = ? WHERE id = ? RETURNING `+deviceCols), micros(at), by, id))
		}
		if err != nil {
			return err
		}
		if at.IsZero() {
			at = nowUTC()
		}
		return q.appendDeviceHealth(ctx, d, kind, at, false, by)
	})
	return d, q.wrap(fmt.Sprintf("set device %d active=%v", id, active), err)
}

// MarkSilentDevices implements store.DeviceQueries. The unique index over (device, since) of
// silent rows keeps one silence once when two nodes look at the same time.
func (q *Queries) MarkSilentDevices(ctx context.Context, before, at time.Time) (int64, error) {
	var n int64
	err := q.inTx(ctx, func(q *Queries) error {
		var err error
		n, err = q.markSilentDevices(ctx, before, at)
		return err
	})
	return n, err
}

// markSilentDevices is MarkSilentDevices in a transaction. Every device silent since before has a
// silent row as its last health row then (new or from an earlier look; a deactivated one is not
// looked at), so its health_last is emptied: its next check-in writes a row.
func (q *Queries) markSilentDevices(ctx context.Context, before, at time.Time) (int64, error) {
	res, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO device_health (device_id, at, kind, host_name, os, agent_version, person, outdated, since, actor)
SELECT d.id, ?, 'silent', d.host_name, d.os, d.agent_version, d.person, 0, CASE WHEN d.last_checkin_at = 0 THEN d.enrolled_at ELSE d.last_checkin_at END, ''
FROM devices d WHERE d.active = 1 AND (CASE WHEN d.last_checkin_at = 0 THEN d.enrolled_at ELSE d.last_checkin_at END) < ?
 AND NOT EXISTS (SELECT 1 FROM device_health h WHERE h.device_id = d.id AND h.kind = 'silent'
  AND h.since = (CASE WHEN d.last_checkin_at = 0 THEN d.enrolled_at ELSE d.last_checkin_at END))
ORDER BY d.id
ON CONFLICT DO NOTHING`), micros(at), micros(before))
	if err != nil {
		return 0, q.wrap("mark silent devices", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, q.wrap("mark silent devices", err)
	}
	_, err = q.w.ExecContext(ctx, q.d.q(`UPDATE devices SET health_last = '' WHERE active = 1 AND health_last <> ''
 AND (CASE WHEN last_checkin_at = 0 THEN enrolled_at ELSE last_checkin_at END) < ?`), micros(before))
	return n, q.wrap("mark silent devices", err)
}

// ListDeviceHealth implements store.DeviceQueries.
func (q *Queries) ListDeviceHealth(ctx context.Context, afterID int64, limit int) ([]store.DeviceHealth, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT id, device_id, at, kind, host_name, os, agent_version, person, outdated, since, actor
FROM device_health WHERE id > ? ORDER BY id LIMIT ?`), afterID, limit)
	if err != nil {
		return nil, q.wrap("list device health", err)
	}
	defer rows.Close()
	var out []store.DeviceHealth
	for rows.Next() {
		var h store.DeviceHealth
		var at, since int64
		var outdated int
		if err := rows.Scan(&h.ID, &h.DeviceID, &at, &h.Kind, &h.HostName, &h.OS, &h.AgentVersion, &h.Person, &outdated, &since, &h.Actor); err != nil {
			return nil, q.wrap("list device health", err)
		}
		h.At, h.Since, h.Outdated = fromMicros(at), fromMicros(since), outdated == 1
		out = append(out, h)
	}
	return out, q.wrap("list device health", rows.Err())
}

// AcceptDeviceEvents implements store.DeviceQueries.
func (q *Queries) AcceptDeviceEvents(ctx context.Context, id int64, evs []*event.FileEvent, seqs []int64) (int64, int, error) {
	if len(evs) != len(seqs) {
		return 0, 0, fmt.Errorf("store: accept device events: %d events and %d sequence numbers", len(evs), len(seqs))
	}
	var acked int64
	inserted := 0
	err := q.inTx(ctx, func(q *Queries) error {
		var cur, activity int64
		// The update takes the device row's lock first (PostgreSQL), so two batches of one device
		// are accepted one after the other.
		if err := q.w.QueryRowContext(ctx, q.d.q(`UPDATE devices SET event_seq = event_seq WHERE id = ? RETURNING event_seq, last_activity_at`), id).Scan(&cur, &activity); err != nil {
			return q.wrap(fmt.Sprintf("accept events of device %d", id), err)
		}
		var fresh []*event.FileEvent
		top, newest := cur, activity
		for i, e := range evs {
			if seqs[i] <= top {
				continue
			}
			fresh = append(fresh, e)
			top = seqs[i]
			newest = max(newest, micros(e.Timestamp))
		}
		acked = top
		if len(fresh) == 0 {
			return nil
		}
		n, err := q.InsertEvents(ctx, fresh, false)
		if err != nil {
			return err
		}
		inserted = n
		_, err = q.w.ExecContext(ctx, q.d.q(`UPDATE devices SET event_seq = ?, last_activity_at = ? WHERE id = ?`), top, newest, id)
		return q.wrap("accept device events", err)
	})
	return acked, inserted, err
}
