package api

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/config"
	"github.com/telltale-dev/telltale/internal/device"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/scope"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/textcheck"
)

// Endpoint agents and devices (issue 18, R8.2): deployment secrets that admins manage, the two
// routes agents call (enrol with a secret, then check in signed with the device key), and the
// devices list with its flags, deactivation and reactivation.

// Reasons an agent's message is refused, the label of telltale_agent_refused_total.
const (
	refusedRateLimited = "rate_limited"
	refusedOversized   = "oversized"
	refusedMalformed   = "malformed"
	refusedSignature   = "signature"
	refusedUnknown     = "unknown_device"
	refusedReplay      = "replay"
	refusedInactive    = "deactivated"
	refusedUnknownKey  = "secret_unknown"
	refusedExpired     = "secret_expired"
	refusedRevoked     = "secret_revoked"
	refusedEnrolled    = "enrolled_already"
)

// maxDevicePage bounds a page of devices.
const maxDevicePage = 1000

// DeviceOptions are the agent and device settings (config: agent-version, agent-checkin-interval,
// device-silent-after, enroll-rate).
type DeviceOptions struct {
	CurrentVersion string        // devices reporting an older version are outdated; "" = Deps.Version
	CheckIn        time.Duration // the rhythm agents are told; 0: one minute
	SilentAfter    time.Duration // 0: 24 hours
	EnrollPerMin   int           // per source address; 0: 30
}

func (o *DeviceOptions) defaults(version string) {
	if o.CurrentVersion == "" {
		o.CurrentVersion = version
	}
	if o.CheckIn <= 0 {
		o.CheckIn = time.Minute
	}
	if o.SilentAfter <= 0 {
		o.SilentAfter = 24 * time.Hour
	}
	if o.EnrollPerMin <= 0 {
		o.EnrollPerMin = 30
	}
}

// retryAfter is an error answered with a Retry-After header.
type retryAfter struct {
	*statusError
	after time.Duration
}

func (e retryAfter) Unwrap() error             { return e.statusError }
func (e retryAfter) RetryAfter() time.Duration { return e.after }

// addrLimiter allows n events per minute per source address, remembering a bounded number of them.
type addrLimiter struct {
	mu    sync.Mutex
	perMn int
	m     map[string]*addrEntry
}

type addrEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

const addrLimiterMax = 100000

func (l *addrLimiter) allow(addr string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*addrEntry{}
	}
	e, ok := l.m[addr]
	if !ok {
		if len(l.m) >= addrLimiterMax {
			for k, v := range l.m { // forget addresses quiet for a minute (their bucket is full again)
				if now.Sub(v.seen) > time.Minute {
					delete(l.m, k)
				}
			}
			if len(l.m) >= addrLimiterMax {
				return false, time.Minute
			}
		}
		e = &addrEntry{lim: rate.NewLimiter(rate.Every(time.Minute/time.Duration(l.perMn)), l.perMn)}
		l.m[addr] = e
	}
	e.seen = now
	r := e.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

func (s *Server) deviceRoutes() []Route {
	const tag = "devices"
	return []Route{
		{Method: "GET", Path: "/api/v1/deployment-secrets", Need: auth.RoleAdmin, Tag: tag, Summary: "Deployment secrets endpoint agents enrol with (never the secrets themselves)",
			Out: client.DeploymentSecretList{}, Handle: s.listSecrets},
		{Method: "POST", Path: "/api/v1/deployment-secrets", Need: auth.RoleAdmin, Tag: tag, Audit: "deployment_secret.create",
			Summary: "Create a deployment secret with an expiry; the answer holds the secret, shown this once", In: client.DeploymentSecretInput{}, Out: client.DeploymentSecret{}, Handle: s.createSecret},
		{Method: "POST", Path: "/api/v1/deployment-secrets/{id}/extend", Need: auth.RoleAdmin, Tag: tag, Audit: "deployment_secret.extend",
			Summary: "Set a later expiry", In: client.DeploymentSecretExpiry{}, Out: client.DeploymentSecret{}, Handle: s.extendSecret},
		{Method: "POST", Path: "/api/v1/deployment-secrets/{id}/revoke", Need: auth.RoleAdmin, Tag: tag, Audit: "deployment_secret.revoke",
			Summary: "Revoke: no agent enrols with it, and the devices enrolled with it can no longer check in", Out: client.DeploymentSecret{}, Handle: s.revokeSecret},
		{Method: "POST", Path: "/api/v1/deployment-secrets/{id}/reactivate", Need: auth.RoleAdmin, Tag: tag, Audit: "deployment_secret.reactivate",
			Summary: "Lift a revocation (an expired secret needs a new expiry in the body)", In: client.DeploymentSecretExpiry{}, Out: client.DeploymentSecret{}, Handle: s.reactivateSecret},

		{Method: "GET", Path: "/api/v1/devices", Need: auth.RoleReadOnly, Tag: tag, Summary: "Devices with their outdated and silent flags; filter and sort",
			Out: client.DeviceList{}, Query: []Param{
				{"os", "exact operating system (linux, darwin, windows)"}, {"version", "exact agent version"}, {"person", "the person's address"},
				{"host", "part of the host name"}, {"state", "active or inactive"}, {"flag", "outdated or silent"},
				{"sort", "last_checkin (default), os, version, person or host"}, {"order", "asc (default) or desc"},
				{"offset", "the next value of the previous page"}, {"limit", "1 to 1000, default 100"}},
			Handle: s.listDevices},
		{Method: "GET", Path: "/api/v1/devices/{id}", Need: auth.RoleReadOnly, Tag: tag, Summary: "A device", Out: client.Device{}, Handle: s.getDevice},
		{Method: "POST", Path: "/api/v1/devices/{id}/deactivate", Need: auth.RoleAdmin, Tag: tag, Audit: "device.deactivate",
			Summary: "Deactivate a device: its check-ins are refused (refused while its person is under legal hold or in an open case)", Out: client.Device{}, Handle: s.deactivateDevice},
		{Method: "POST", Path: "/api/v1/devices/{id}/reactivate", Need: auth.RoleAdmin, Tag: tag, Audit: "device.reactivate",
			Summary: "Reactivate a device", Out: client.Device{}, Handle: s.reactivateDevice},

		{Method: "POST", Path: "/api/v1/agent/enroll", Tag: tag, MaxBody: device.MaxMessage,
			Public:  "an endpoint agent enrols with a deployment secret, checked before anything is stored; enrolments are rate limited per source address and audited by the handler",
			Summary: "Enrol an endpoint agent (telltale agent enroll)", In: client.EnrollRequest{}, Out: client.EnrollResponse{}, Handle: s.enroll},
		{Method: "POST", Path: "/api/v1/agent/checkin", Tag: tag, MaxBody: device.MaxMessage,
			Public:  "an enrolled agent signs each check-in with its device key, verified before anything is stored",
			Summary: "An agent's signed check-in (telltale agent run)", In: client.CheckInRequest{}, Out: client.CheckInResponse{}, Handle: s.checkIn},
		{Method: "POST", Path: "/api/v1/agent/events", Tag: tag, MaxBody: device.MaxEvents,
			Public:  "an enrolled agent signs each batch of file events with its device key, verified before anything is stored",
			Summary: "An agent's signed batch of file events from the folders it watches; each sequence number is stored once", In: client.AgentEventsRequest{}, Out: client.AgentEventsResponse{}, Handle: s.agentEvents},
	}
}

func secretWire(d store.DeploymentSecret, now time.Time) client.DeploymentSecret {
	out := client.DeploymentSecret{ID: strconv.FormatInt(d.ID, 10), Name: d.Name, Prefix: d.Prefix, State: device.SecretState(d.ExpiresAt, d.RevokedAt, now),
		CreatedAt: d.CreatedAt, CreatedBy: d.CreatedBy, ExpiresAt: d.ExpiresAt, UpdatedAt: d.UpdatedAt, Devices: d.Devices}
	if !d.RevokedAt.IsZero() {
		t := d.RevokedAt
		out.RevokedAt = &t
	}
	return out
}

func (s *Server) listSecrets(r *http.Request, _ auth.Principal) (any, error) {
	l, err := s.store.ListDeploymentSecrets(r.Context())
	out := client.DeploymentSecretList{Items: []client.DeploymentSecret{}}
	now := s.clock.Now()
	for _, d := range l {
		out.Items = append(out.Items, secretWire(d, now))
	}
	return out, err
}

// maxSecretLife bounds a deployment secret's expiry: a secret that never expires is what R8.2 rules out.
const maxSecretLife = 366 * 24 * time.Hour

// expiryOf reads expires_in or expires_at into a time after now and at most a year ahead.
func (s *Server) expiryOf(in string, at *time.Time, required bool) (time.Time, error) {
	now := s.clock.Now()
	switch {
	case in != "" && at != nil:
		return time.Time{}, invalidField("expires_in", "give expires_in or expires_at, not both")
	case in != "":
		d, err := config.ParseDuration(in)
		if err != nil || d <= 0 {
			return time.Time{}, invalidField("expires_in", "want a duration such as 30d or 12h, got %q", clip(in, 50))
		}
		if d > maxSecretLife {
			return time.Time{}, unprocessableField("expires_in", "is %s; a deployment secret lives at most 366d: create a new one when it ends", clip(in, 50))
		}
		return now.Add(d).UTC(), nil
	case at != nil:
		if !at.After(now) {
			return time.Time{}, unprocessableField("expires_at", "%s is not in the future", at.UTC().Format(time.RFC3339))
		}
		if at.Sub(now) > maxSecretLife {
			return time.Time{}, unprocessableField("expires_at", "%s is more than 366 days ahead: a deployment secret lives at most that long", at.UTC().Format(time.RFC3339))
		}
		return at.UTC(), nil
	case required:
		return time.Time{}, invalidField("expires_in", "a deployment secret needs an expiry: give expires_in (such as 30d) or expires_at")
	}
	return time.Time{}, nil
}

func (s *Server) createSecret(r *http.Request, p auth.Principal) (any, error) {
	var in client.DeploymentSecretInput
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	name := strings.TrimSpace(in.Name)
	if name == "" {
		return nil, invalidField("name", "is required: say what the secret is for (for example \"Finance laptops\")")
	}
	if why := textcheck.Label(name, 200); why != "" {
		return nil, invalidField("name", "%s", why)
	}
	exp, err := s.expiryOf(in.ExpiresIn, in.ExpiresAt, true)
	if err != nil {
		return nil, err
	}
	secret, prefix := device.NewSecret()
	now := s.clock.Now()
	d, err := s.store.CreateDeploymentSecret(r.Context(), store.DeploymentSecret{Name: name, Prefix: prefix, Hash: device.HashSecret(secret),
		CreatedAt: now, CreatedBy: p.Username, ExpiresAt: exp, UpdatedAt: now})
	if err != nil {
		return nil, err
	}
	noteAudit(r, "deployment-secret/"+strconv.FormatInt(d.ID, 10), map[string]any{"name": name, "prefix": prefix, "expires_at": exp.Format(time.RFC3339)})
	out := secretWire(d, now)
	out.Secret = secret
	return created{out}, nil
}

func (s *Server) secretParam(r *http.Request) (store.DeploymentSecret, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return store.DeploymentSecret{}, err
	}
	d, err := s.store.GetDeploymentSecret(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return d, withStatus(http.StatusNotFound, "no deployment secret with id %d", id)
	}
	return d, err
}

// optionalBody decodes a JSON body when there is one.
func optionalBody(r *http.Request, v any) error {
	if r.ContentLength == 0 { // none (an in-process request from the console may have a nil Body)
		return nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	return decodeJSON(body, v)
}

func (s *Server) extendSecret(r *http.Request, _ auth.Principal) (any, error) {
	d, err := s.secretParam(r)
	if err != nil {
		return nil, err
	}
	var in client.DeploymentSecretExpiry
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	exp, err := s.expiryOf(in.ExpiresIn, in.ExpiresAt, true)
	if err != nil {
		return nil, err
	}
	if !exp.After(d.ExpiresAt) {
		return nil, unprocessableField("expires_at", "%s is not after the current expiry %s: extending moves it later", exp.Format(time.RFC3339), d.ExpiresAt.Format(time.RFC3339))
	}
	now := s.clock.Now()
	out, err := s.store.UpdateDeploymentSecret(r.Context(), d.ID, exp, d.RevokedAt, now)
	noteAudit(r, "", map[string]any{"from": d.ExpiresAt.Format(time.RFC3339), "to": exp.Format(time.RFC3339)})
	return secretWire(out, now), err
}

func (s *Server) revokeSecret(r *http.Request, _ auth.Principal) (any, error) {
	d, err := s.secretParam(r)
	if err != nil {
		return nil, err
	}
	if !d.RevokedAt.IsZero() {
		return nil, withStatus(http.StatusConflict, "deployment secret %d (%s) was revoked already, at %s", d.ID, d.Prefix, d.RevokedAt.Format(time.RFC3339))
	}
	now := s.clock.Now()
	out, err := s.store.UpdateDeploymentSecret(r.Context(), d.ID, d.ExpiresAt, now, now)
	noteAudit(r, "", map[string]any{"prefix": d.Prefix, "devices": d.Devices})
	return secretWire(out, now), err
}

func (s *Server) reactivateSecret(r *http.Request, _ auth.Principal) (any, error) {
	d, err := s.secretParam(r)
	if err != nil {
		return nil, err
	}
	var in client.DeploymentSecretExpiry
	if err := optionalBody(r, &in); err != nil {
		return nil, err
	}
	exp, err := s.expiryOf(in.ExpiresIn, in.ExpiresAt, false)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	if exp.IsZero() {
		exp = d.ExpiresAt
		if !now.Before(exp) {
			return nil, unprocessableField("expires_in", "the secret expired at %s: give a new expiry (expires_in such as 30d) to reactivate it", d.ExpiresAt.Format(time.RFC3339))
		}
	}
	if d.RevokedAt.IsZero() && now.Before(d.ExpiresAt) {
		return nil, withStatus(http.StatusConflict, "deployment secret %d (%s) is active: nothing to reactivate (extend changes its expiry)", d.ID, d.Prefix)
	}
	out, err := s.store.UpdateDeploymentSecret(r.Context(), d.ID, exp, time.Time{}, now)
	noteAudit(r, "", map[string]any{"prefix": d.Prefix, "expires_at": exp.Format(time.RFC3339)})
	return secretWire(out, now), err
}

// ---- devices ----

func (s *Server) deviceWire(d store.Device, now time.Time) client.Device {
	o := s.devOpts
	out := client.Device{ID: strconv.FormatInt(d.ID, 10), HostName: d.HostName, OS: d.OS, Arch: d.Arch, AgentVersion: d.AgentVersion, UserName: d.UserName,
		Person: d.Person, SecretID: strconv.FormatInt(d.SecretID, 10), EnrolledAt: d.EnrolledAt, State: "active", DeactivatedBy: d.DeactivatedBy,
		Outdated: device.Older(d.AgentVersion, o.CurrentVersion)}
	tp := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	out.LastCheckInAt, out.LastActivityAt, out.DeactivatedAt = tp(d.LastCheckInAt), tp(d.LastActivityAt), tp(d.DeactivatedAt)
	if !d.Active {
		out.State = "inactive"
	} else {
		last := d.LastCheckInAt
		if last.IsZero() {
			last = d.EnrolledAt
		}
		out.Silent = now.Sub(last) > o.SilentAfter
	}
	return out
}

var deviceSorts = []string{store.DeviceSortCheckIn, store.DeviceSortOS, store.DeviceSortVersion, store.DeviceSortPerson, store.DeviceSortHost}

func (s *Server) listDevices(r *http.Request, _ auth.Principal) (any, error) {
	q := r.URL.Query()
	f := store.DeviceFilter{OS: strings.TrimSpace(q.Get("os")), AgentVersion: strings.TrimSpace(q.Get("version")),
		Person: strings.ToLower(strings.TrimSpace(q.Get("person"))), Host: strings.TrimSpace(q.Get("host")), Sort: q.Get("sort")}
	for name, v := range map[string]string{"os": f.OS, "version": f.AgentVersion, "person": f.Person, "host": f.Host} {
		if why := textcheck.Label(v, device.MaxLabel); why != "" {
			return nil, invalidField(name, "%s", why)
		}
	}
	switch st := q.Get("state"); st {
	case "", "active", "inactive":
		f.State = st
	default:
		return nil, invalidField("state", "want active or inactive, got %q", clip(st, 50))
	}
	if f.Sort != "" && !slices.Contains(deviceSorts, f.Sort) {
		return nil, invalidField("sort", "want one of %s, got %q", strings.Join(deviceSorts, ", "), clip(f.Sort, 50))
	}
	switch o := q.Get("order"); o {
	case "", "asc":
	case "desc":
		f.Desc = true
	default:
		return nil, invalidField("order", "want asc or desc, got %q", clip(o, 20))
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, invalidField("offset", "want the next value of the previous page, got %q", clip(v, 50))
		}
		f.Offset = n
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxDevicePage {
			return nil, invalidField("limit", "want a whole number from 1 to %d, got %q", maxDevicePage, clip(v, 50))
		}
		limit = n
	}
	now := s.clock.Now()
	outdatedOnly := false
	switch fl := q.Get("flag"); fl {
	case "":
	case "silent":
		f.State, f.SilentBefore = "active", now.Add(-s.devOpts.SilentAfter)
	case "outdated":
		outdatedOnly = true
	default:
		return nil, invalidField("flag", "want outdated or silent, got %q", clip(fl, 50))
	}
	out := client.DeviceList{Items: []client.Device{}, CurrentVersion: s.devOpts.CurrentVersion, SilentAfter: config.FormatDuration(s.devOpts.SilentAfter)}
	ctx := r.Context()
	if !outdatedOnly {
		f.Limit = limit
		ds, err := s.store.ListDevices(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			out.Items = append(out.Items, s.deviceWire(d, now))
		}
		if out.Total, err = s.store.CountDevices(ctx, f); err != nil {
			return nil, err
		}
		if int64(f.Offset+len(ds)) < out.Total && len(ds) == limit {
			out.Next = strconv.Itoa(f.Offset + len(ds))
		}
		return out, nil
	}
	// Versions compare as numbers, which SQL does not: read the selection in pages and keep the
	// outdated devices; offset counts outdated devices.
	skip := f.Offset
	g := f
	g.Offset, g.Limit = 0, 1000
	for {
		ds, err := s.store.ListDevices(ctx, g)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			if !device.Older(d.AgentVersion, s.devOpts.CurrentVersion) {
				continue
			}
			out.Total++
			if skip > 0 {
				skip--
				continue
			}
			if len(out.Items) < limit {
				out.Items = append(out.Items, s.deviceWire(d, now))
			}
		}
		if len(ds) < g.Limit {
			break
		}
		g.Offset += len(ds)
	}
	if int64(f.Offset+len(out.Items)) < out.Total {
		out.Next = strconv.Itoa(f.Offset + len(out.Items))
	}
	return out, nil
}

func (s *Server) deviceParam(r *http.Request) (store.Device, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return store.Device{}, err
	}
	d, err := s.store.GetDevice(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return d, withStatus(http.StatusNotFound, "no device with id %d", id)
	}
	return d, err
}

func (s *Server) getDevice(r *http.Request, _ auth.Principal) (any, error) {
	d, err := s.deviceParam(r)
	if err != nil {
		return nil, err
	}
	return s.deviceWire(d, s.clock.Now()), nil
}

// deactivationBlock says why a person's device may not be deactivated now (R6.4), or "".
func (s *Server) deactivationBlock(ctx context.Context, person string) (string, error) {
	if person == "" {
		return "", nil
	}
	cs, err := s.store.ListCases(ctx, store.CaseFilter{Person: person, Limit: 1000})
	if err != nil {
		return "", err
	}
	for _, c := range cs {
		if c.LegalHold {
			return fmt.Sprintf("%s is under legal hold in case %d (%q): a device of a person under legal hold cannot be deactivated; an admin must lift the hold on the case first", person, c.ID, c.Title), nil
		}
	}
	for _, c := range cs {
		if c.State == store.CaseOpen {
			return fmt.Sprintf("%s is in open case %d (%q): a device of a person in an open case cannot be deactivated; close the case first", person, c.ID, c.Title), nil
		}
	}
	return "", nil
}

func (s *Server) deactivateDevice(r *http.Request, p auth.Principal) (any, error) {
	d, err := s.deviceParam(r)
	if err != nil {
		return nil, err
	}
	noteAudit(r, "", map[string]any{"host_name": d.HostName, "person": d.Person})
	if !d.Active {
		return nil, withStatus(http.StatusConflict, "device %d is inactive already (deactivated by %s at %s)", d.ID, d.DeactivatedBy, d.DeactivatedAt.Format(time.RFC3339))
	}
	why, err := s.deactivationBlock(r.Context(), d.Person)
	if err != nil {
		return nil, err
	}
	if why != "" {
		noteAudit(r, "", map[string]any{"refused": why})
		return nil, withStatus(http.StatusConflict, "device %d cannot be deactivated: %s", d.ID, why)
	}
	now := s.clock.Now()
	out, err := s.store.SetDeviceActive(r.Context(), d.ID, false, p.Username, now)
	return s.deviceWire(out, now), err
}

func (s *Server) reactivateDevice(r *http.Request, p auth.Principal) (any, error) {
	d, err := s.deviceParam(r)
	if err != nil {
		return nil, err
	}
	noteAudit(r, "", map[string]any{"host_name": d.HostName, "person": d.Person})
	if d.Active {
		return nil, withStatus(http.StatusConflict, "device %d is active already", d.ID)
	}
	now := s.clock.Now()
	out, err := s.store.SetDeviceActive(r.Context(), d.ID, true, p.Username, now)
	return s.deviceWire(out, now), err
}

// ---- what agents call ----

// agentRefusal is a refused agent message: its problem type names the reason
// (device.RefusalType), so that the agent can tell a revoked secret from a bad request.
type agentRefusal struct {
	error
	reason string
}

func (e agentRefusal) Unwrap() error       { return e.error }
func (e agentRefusal) ProblemType() string { return device.RefusalType + e.reason }

// agentRefuse counts a refused agent message and returns its error.
func (s *Server) agentRefuse(kind, reason string, err error) error {
	s.agentRefused.Inc(kind, reason)
	return agentRefusal{err, reason}
}

// readAgentBody reads a bounded body; too large or unreadable is counted and refused.
func (s *Server) readAgentBody(r *http.Request, kind string) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, s.agentRefuse(kind, refusedOversized, withStatus(http.StatusRequestEntityTooLarge, "the %s is larger than %d bytes: refused", kind, mb.Limit))
		}
		return nil, s.agentRefuse(kind, refusedMalformed, invalid("the %s could not be read: %v", kind, err))
	}
	return body, nil
}

// checkReport validates what an agent says about its machine.
func checkReport(a *client.AgentReport) error {
	a.HostName, a.OS, a.Arch = strings.TrimSpace(a.HostName), strings.ToLower(strings.TrimSpace(a.OS)), strings.TrimSpace(a.Arch)
	a.AgentVersion, a.UserName, a.UserEmail = strings.TrimSpace(a.AgentVersion), strings.TrimSpace(a.UserName), strings.ToLower(strings.TrimSpace(a.UserEmail))
	for _, f := range []struct{ name, v string }{{"host_name", a.HostName}, {"os", a.OS}, {"arch", a.Arch}, {"agent_version", a.AgentVersion}, {"user_name", a.UserName}, {"user_email", a.UserEmail}} {
		if why := textcheck.Label(f.v, device.MaxLabel); why != "" {
			return invalidField(f.name, "%s", why)
		}
	}
	if a.HostName == "" {
		return invalidField("host_name", "is required")
	}
	if a.AgentVersion == "" {
		return invalidField("agent_version", "is required")
	}
	if a.UserEmail != "" {
		if why := scope.CheckEmail(a.UserEmail); why != "" {
			return invalidField("user_email", "%q %s", a.UserEmail, why)
		}
	}
	return nil
}

// personOf is the device's person: the address the deployment gave, or a signed-in user name that
// is an address (a Windows UPN, a macOS managed account).
func personOf(a client.AgentReport) string {
	if a.UserEmail != "" {
		return a.UserEmail
	}
	if u := strings.ToLower(a.UserName); scope.CheckEmail(u) == "" {
		return u
	}
	return ""
}

func (s *Server) enroll(r *http.Request, _ auth.Principal) (any, error) {
	const kind = "enrolment"
	now := s.clock.Now()
	ip := s.clientIP(r)
	if ok, wait := s.enrollLimit.allow(ip, now); !ok {
		secs := int(wait.Round(time.Second) / time.Second)
		if secs < 1 {
			secs = 1
		}
		return nil, s.agentRefuse(kind, refusedRateLimited, retryAfter{&statusError{status: http.StatusTooManyRequests,
			msg: fmt.Sprintf("too many enrolments from %s (at most %d a minute): try again in %d s", ip, s.devOpts.EnrollPerMin, secs)}, time.Duration(secs) * time.Second})
	}
	body, err := s.readAgentBody(r, kind)
	if err != nil {
		return nil, err
	}
	var in client.EnrollRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, s.agentRefuse(kind, refusedMalformed, err)
	}
	if err := checkReport(&in.AgentReport); err != nil {
		return nil, s.agentRefuse(kind, refusedMalformed, err)
	}
	pub, err := device.ParsePublicKey(in.PublicKey)
	if err != nil {
		return nil, s.agentRefuse(kind, refusedMalformed, invalidField("public_key", "%v", err))
	}
	if err := device.Verify(pub, device.ContextEnroll, body, r.Header.Get(device.HeaderSignature)); err != nil {
		return nil, s.agentRefuse(kind, refusedSignature, withStatus(http.StatusUnauthorized, "the enrolment is not signed by the key it enrols: %v", err))
	}
	ctx := context.WithoutCancel(r.Context())
	audit := func(target, outcome string, details map[string]any) error {
		b, _ := json.Marshal(details)
		_, err := s.store.AppendAudit(ctx, store.AuditEntry{At: now, Actor: "agent", Action: "device.enroll", Target: target, Details: b, ClientIP: ip, Outcome: outcome})
		if err != nil {
			s.log.Error("api: audit log append failed", "action", "device.enroll", "err", err)
		}
		return err
	}
	details := map[string]any{"host_name": in.HostName, "os": in.OS, "agent_version": in.AgentVersion}
	secret := strings.TrimSpace(in.Secret)
	if secret == "" {
		return nil, s.agentRefuse(kind, refusedMalformed, invalidField("secret", "is required: pass the deployment secret an admin created (telltale agent enroll --secret)"))
	}
	sec, err := s.store.GetDeploymentSecretByHash(ctx, device.HashSecret(secret))
	var refusal error
	reason := refusedUnknownKey
	switch {
	case errors.Is(err, store.ErrNotFound):
		refusal = withField(http.StatusUnauthorized, "secret", "unknown deployment secret: no secret here matches it; check that it was copied whole (it starts with %s), or ask an admin for a new one", device.SecretPrefix)
	case err != nil:
		return nil, err
	default:
		details["secret"] = sec.Prefix
		switch device.SecretState(sec.ExpiresAt, sec.RevokedAt, now) {
		case device.SecretRevoked:
			reason = refusedRevoked
			refusal = withField(http.StatusForbidden, "secret", "deployment secret %q (%s) was revoked at %s: ask an admin to reactivate it or to create a new one", sec.Name, sec.Prefix, sec.RevokedAt.Format(time.RFC3339))
		case device.SecretExpired:
			reason = refusedExpired
			refusal = withField(http.StatusForbidden, "secret", "deployment secret %q (%s) expired at %s: ask an admin to extend it or to create a new one", sec.Name, sec.Prefix, sec.ExpiresAt.Format(time.RFC3339))
		}
	}
	if refusal != nil {
		pr := problemFor(refusal)
		target := "deployment-secret"
		if sec.ID > 0 {
			target += "/" + strconv.FormatInt(sec.ID, 10)
		}
		if err := audit(target, auditOutcome(pr.Status), details); err != nil {
			return nil, err
		}
		return nil, s.agentRefuse(kind, reason, refusal)
	}
	d, err := s.store.CreateDevice(ctx, store.Device{PublicKey: pub, SecretID: sec.ID, HostName: in.HostName, OS: in.OS, Arch: in.Arch,
		AgentVersion: in.AgentVersion, UserName: in.UserName, Person: personOf(in.AgentReport), EnrolledAt: now})
	if errors.Is(err, store.ErrConflict) {
		return nil, s.agentRefuse(kind, refusedEnrolled, withStatus(http.StatusConflict, "this device key is enrolled already: an agent enrols once (its state directory keeps the identity)"))
	}
	if err != nil {
		return nil, err
	}
	// Audit before acknowledgement: an enrolment not in the audit log is not acknowledged (the
	// device stays, unused, and the agent enrols again with a new key).
	if err := audit("device/"+strconv.FormatInt(d.ID, 10), "ok", details); err != nil {
		return nil, err
	}
	s.deviceKeys.put(d.ID, pub)
	s.log.Info("device enrolled", "device_id", d.ID, "host_name", d.HostName, "secret", sec.Prefix, "client_ip", ip)
	return created{client.EnrollResponse{DeviceID: strconv.FormatInt(d.ID, 10), CheckInSeconds: int(s.devOpts.CheckIn / time.Second)}}, nil
}

// agentDeviceID reads the device id an agent's message names (its X-Telltale-Device header).
func (s *Server) agentDeviceID(r *http.Request, kind string) (int64, error) {
	idText := r.Header.Get(device.HeaderDevice)
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		return 0, s.agentRefuse(kind, refusedUnknown, withStatus(http.StatusUnauthorized, "the %s header must carry the device id the enrolment gave, got %q", device.HeaderDevice, clip(idText, 30)))
	}
	return id, nil
}

// readDevice reads the device an agent's message names; an absent one is refused.
func (s *Server) readDevice(ctx context.Context, kind string, id int64) (store.Device, error) {
	d, err := s.store.GetDevice(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		s.deviceKeys.drop(id)
		return d, s.agentRefuse(kind, refusedUnknown, withStatus(http.StatusUnauthorized, "device %d is not enrolled on this server: enrol the agent again (telltale agent enroll)", id))
	}
	return d, err
}

// standing refuses a device that may no longer speak: deactivated, or its secret revoked.
func (s *Server) standing(ctx context.Context, kind string, d store.Device) error {
	if !d.Active {
		return s.agentRefuse(kind, refusedInactive, withStatus(http.StatusForbidden, "device %d was deactivated by %s at %s: an admin can reactivate it on the devices page", d.ID, d.DeactivatedBy, d.DeactivatedAt.Format(time.RFC3339)))
	}
	if !d.SecretRevokedAt.IsZero() {
		sec, err := s.store.GetDeploymentSecret(ctx, d.SecretID)
		if err != nil {
			return err
		}
		return s.agentRefuse(kind, refusedRevoked, withStatus(http.StatusForbidden, "deployment secret %q (%s), which device %d enrolled with, was revoked at %s: ask an admin to reactivate it, or enrol again with a new secret", sec.Name, sec.Prefix, d.ID, sec.RevokedAt.Format(time.RFC3339)))
	}
	return nil
}

// signatureRefused is the refusal of a message its device's key does not verify.
func (s *Server) signatureRefused(kind string, err error) error {
	return s.agentRefuse(kind, refusedSignature, withStatus(http.StatusUnauthorized, "%s refused: %v", kind, err))
}

// signedDevice reads an agent's signed message: the body (bounded), the device it names, the
// signature, and whether the device may still speak (active, its secret not revoked).
func (s *Server) signedDevice(r *http.Request, kind, sigContext string) (store.Device, []byte, error) {
	body, err := s.readAgentBody(r, kind)
	if err != nil {
		return store.Device{}, nil, err
	}
	id, err := s.agentDeviceID(r, kind)
	if err != nil {
		return store.Device{}, nil, err
	}
	ctx := r.Context()
	d, err := s.readDevice(ctx, kind, id)
	if err != nil {
		return d, nil, err
	}
	if err := device.Verify(d.PublicKey, sigContext, body, r.Header.Get(device.HeaderSignature)); err != nil {
		return d, nil, s.signatureRefused(kind, err)
	}
	if err := s.standing(ctx, kind, d); err != nil {
		return d, nil, err
	}
	return d, body, nil
}

// verifiedKey verifies an agent's signed message with its device's key as this node remembers it
// (deviceKeys) and returns the key; on a miss, or when the remembered key does not verify, it
// reads the device (an absent one is refused) and tries its key. Whether the device may still
// speak is not decided here: the check-in's write checks it (store.RecordCheckIn).
func (s *Server) verifiedKey(ctx context.Context, kind string, id int64, sigContext string, body []byte, sig string) ([]byte, error) {
	if key, ok := s.deviceKeys.get(id); ok && device.Verify(key, sigContext, body, sig) == nil {
		return key, nil
	}
	d, err := s.readDevice(ctx, kind, id)
	if err != nil {
		return nil, err
	}
	s.deviceKeys.put(id, d.PublicKey)
	if err := device.Verify(d.PublicKey, sigContext, body, sig); err != nil {
		return nil, s.signatureRefused(kind, err)
	}
	return d.PublicKey, nil
}

// checkIn stores an agent's signed check-in. An accepted one reads nothing: its device's key is
// remembered (deviceKeys) and whether it may still speak is checked by the write itself; the
// paths that refuse read the device to say why.
func (s *Server) checkIn(r *http.Request, _ auth.Principal) (any, error) {
	const kind = "check-in"
	body, err := s.readAgentBody(r, kind)
	if err != nil {
		return nil, err
	}
	id, err := s.agentDeviceID(r, kind)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	key, err := s.verifiedKey(ctx, kind, id, device.ContextCheckIn, body, r.Header.Get(device.HeaderSignature))
	if err != nil {
		return nil, err
	}
	// A malformed check-in of a device that may no longer speak is refused for that first, as
	// when the device was read before the body.
	malformed := func(why error) error {
		d, err := s.readDevice(ctx, kind, id)
		if err != nil {
			return err
		}
		if err := s.standing(ctx, kind, d); err != nil {
			return err
		}
		return s.agentRefuse(kind, refusedMalformed, why)
	}
	var in client.CheckInRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, malformed(err)
	}
	if in.DeviceID != strconv.FormatInt(id, 10) {
		return nil, malformed(invalidField("device_id", "is %q but the %s header says %d", clip(in.DeviceID, 30), device.HeaderDevice, id))
	}
	if in.Counter <= 0 {
		return nil, malformed(invalidField("counter", "want a positive number that grows with every message"))
	}
	if err := checkReport(&in.AgentReport); err != nil {
		return nil, malformed(err)
	}
	now := s.clock.Now()
	outdated := device.Older(in.AgentVersion, s.devOpts.CurrentVersion)
	c := store.CheckIn{Counter: in.Counter, At: now, HostName: in.HostName, OS: in.OS, Arch: in.Arch, AgentVersion: in.AgentVersion,
		UserName: in.UserName, Person: personOf(in.AgentReport), Outdated: outdated, PublicKey: key}
	if in.LastActivityAt != nil && !in.LastActivityAt.After(now.Add(5*time.Minute)) {
		c.LastActivityAt = *in.LastActivityAt
	}
	d, err := s.checkIns.record(ctx, id, c)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.deviceKeys.drop(id)
		return nil, s.agentRefuse(kind, refusedUnknown, withStatus(http.StatusUnauthorized, "device %d is not enrolled on this server: enrol the agent again (telltale agent enroll)", id))
	case errors.Is(err, store.ErrConflict):
		// Refused by the write: d is the device as it is. In the order of the checks before the
		// write: its key, its standing, then the counter.
		if !bytes.Equal(d.PublicKey, key) {
			s.deviceKeys.drop(id)
			return nil, s.signatureRefused(kind, errors.New("it does not match the device's key"))
		}
		if err := s.standing(ctx, kind, d); err != nil {
			return nil, err
		}
		return nil, s.agentRefuse(kind, refusedReplay, withStatus(http.StatusConflict, "check-in counter %d was used already (a replayed message): refused", in.Counter))
	case err != nil:
		return nil, err
	}
	s.agentCheckIns.Inc()
	return s.checkInAnswer[boolInt(outdated)], nil
}

// checkInAnswers are the two answers to an accepted check-in (up to date, outdated), encoded once:
// what they say changes only with the server's settings.
func (s *Server) checkInAnswers() [2]answer {
	var out [2]answer
	for i, outdated := range []bool{false, true} {
		out[i] = jsonAnswer(http.StatusOK, client.CheckInResponse{CheckInSeconds: int(s.devOpts.CheckIn / time.Second), CurrentVersion: s.devOpts.CurrentVersion, Outdated: outdated})
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// deviceKeys remembers enrolled devices' public keys on this node, so that an accepted check-in
// verifies its signature without reading its device (issue 18: the read was a quarter of the
// check-ins' CPU). Nothing in it can let a refused message through: a device's key never changes
// (enrolling again makes another device), and the write of a check-in checks the key it was
// verified with and the device's standing (store.RecordCheckIn), so a deactivation or a revoked
// secret refuses the next check-in at once, on every node. Bounded: past deviceKeysMax devices an
// eighth of the entries is forgotten (read again on their next message).
type deviceKeys struct {
	mu sync.RWMutex
	m  map[int64][ed25519.PublicKeySize]byte
}

const deviceKeysMax = 1 << 18 // about 15 MiB at most

func (c *deviceKeys) get(id int64) ([]byte, bool) {
	c.mu.RLock()
	k, ok := c.m[id]
	c.mu.RUnlock()
	if !ok {
		return nil, false
	}
	return k[:], true
}

// put remembers a key (an ed25519 public key; anything else is not remembered).
func (c *deviceKeys) put(id int64, key []byte) {
	if len(key) != ed25519.PublicKeySize {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[int64][ed25519.PublicKeySize]byte{}
	}
	if _, ok := c.m[id]; !ok && len(c.m) >= deviceKeysMax {
		n := 0
		for k := range c.m { // map order is random enough to forget any eighth
			delete(c.m, k)
			if n++; n >= deviceKeysMax/8 {
				break
			}
		}
	}
	c.m[id] = [ed25519.PublicKeySize]byte(key)
}

func (c *deviceKeys) drop(id int64) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}

// maxAgentEvents bounds a batch of file events; maxAgentPath a path in one.
const (
	maxAgentEvents = 1000
	maxAgentPath   = 4096
)

var agentActions = []event.Action{event.ActionCreated, event.ActionModified, event.ActionDeleted, event.ActionRenamed, event.ActionMoved}

// splitPath cuts a path an agent reports (slashes or, from Windows, backslashes) into directory and name.
func splitPath(p string) (dir, name string) {
	i := strings.LastIndexAny(p, `/\`)
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// deviceEvent is the stored event of an agent's file event.
func deviceEvent(d store.Device, in client.AgentFileEvent) (*event.FileEvent, error) {
	a := event.Action(in.Action)
	if !slices.Contains(agentActions, a) {
		return nil, fmt.Errorf("action %q is not one of file-created, file-modified, file-deleted, file-renamed, file-moved", clip(in.Action, 30))
	}
	if in.Path == "" || len(in.Path) > maxAgentPath || (in.OriginalPath != "" && len(in.OriginalPath) > maxAgentPath) {
		return nil, fmt.Errorf("path must hold 1 to %d bytes", maxAgentPath)
	}
	if in.At.IsZero() {
		return nil, fmt.Errorf("at is required")
	}
	if in.Size < 0 {
		return nil, fmt.Errorf("size is negative")
	}
	md5, sha := event.HexDigest(in.MD5, 32), event.HexDigest(in.SHA256, 64)
	if (in.MD5 != "" && md5 == "") || (in.SHA256 != "" && sha == "") {
		return nil, fmt.Errorf("md5 and sha256 must be hex digests")
	}
	dev := "device/" + strconv.FormatInt(d.ID, 10)
	dir, name := splitPath(in.Path)
	user := in.UserName
	if user == "" {
		user = d.UserName
	}
	e := &event.FileEvent{Timestamp: in.At.UTC().Truncate(time.Microsecond),
		Event: event.Meta{Action: a, Observer: event.ObserverEndpoint, VendorIDs: []string{dev + "/" + strconv.FormatInt(in.Seq, 10)}},
		User:  event.User{Email: d.Person, Name: user, VendorID: user},
		File: event.File{ID: dev + ":" + in.Path, Name: name, Directory: dir, Path: in.Path, Size: in.Size, Category: event.CategoryOf(name, ""),
			Modified: in.Modified.UTC().Truncate(time.Microsecond), DriveID: dev, Hash: event.Hash{MD5: md5, SHA256: sha}},
		Source: event.Source{UserAgent: "telltale-agent " + d.AgentVersion + " on " + d.HostName}}
	if in.OriginalPath != "" {
		e.File.OriginalDirectory, e.File.OriginalName = splitPath(in.OriginalPath)
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return e, nil
}

func (s *Server) agentEvents(r *http.Request, _ auth.Principal) (any, error) {
	const kind = "events"
	d, body, err := s.signedDevice(r, kind, device.ContextEvents)
	if err != nil {
		return nil, err
	}
	var in client.AgentEventsRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, s.agentRefuse(kind, refusedMalformed, err)
	}
	if in.DeviceID != strconv.FormatInt(d.ID, 10) {
		return nil, s.agentRefuse(kind, refusedMalformed, invalidField("device_id", "is %q but the %s header says %d", clip(in.DeviceID, 30), device.HeaderDevice, d.ID))
	}
	if len(in.Events) == 0 || len(in.Events) > maxAgentEvents {
		return nil, s.agentRefuse(kind, refusedMalformed, invalidField("events", "send 1 to %d events, got %d", maxAgentEvents, len(in.Events)))
	}
	evs := make([]*event.FileEvent, 0, len(in.Events))
	seqs := make([]int64, 0, len(in.Events))
	for i, fe := range in.Events {
		if fe.Seq <= 0 || (i > 0 && fe.Seq <= in.Events[i-1].Seq) {
			return nil, s.agentRefuse(kind, refusedMalformed, invalidField(fmt.Sprintf("events[%d].seq", i), "sequence numbers are positive and ascending, got %d", fe.Seq))
		}
		e, err := deviceEvent(d, fe)
		if err != nil {
			return nil, s.agentRefuse(kind, refusedMalformed, invalidField(fmt.Sprintf("events[%d]", i), "%v", err))
		}
		evs, seqs = append(evs, e), append(seqs, fe.Seq)
	}
	acked, n, err := s.store.AcceptDeviceEvents(r.Context(), d.ID, evs, seqs)
	if err != nil {
		return nil, err
	}
	s.agentEventsIn.Add(int64(n))
	return client.AgentEventsResponse{AckedThrough: acked, Inserted: n}, nil
}

// checkInBatcher commits check-ins in groups (group commit): a group closes checkInQuiet after its
// last check-in arrived, or checkInWindow after its first, or at checkInBatch, and is written in one
// transaction, each check-in still a compare-and-set of its device's counter, and each answered only
// once committed. Thousands of agents checking in every minute otherwise cost one transaction, one
// fsync on SQLite, each (docs/BENCHMARKS.md, agents): at 170 a second a group holds about 30, where
// a lone check-in (a small fleet, a test) waits only checkInQuiet.
type checkInBatcher struct {
	st   store.Store
	in   chan *pendingCheckIn
	once sync.Once
}

type pendingCheckIn struct {
	id   int64
	c    store.CheckIn
	done chan checkInResult
}

// checkInResult is a check-in's outcome: on ErrConflict, the device as it is.
type checkInResult struct {
	d   store.Device
	err error
}

const (
	checkInWindow = 200 * time.Millisecond
	checkInQuiet  = 20 * time.Millisecond
	checkInBatch  = 500
)

func (b *checkInBatcher) record(ctx context.Context, id int64, c store.CheckIn) (store.Device, error) {
	b.once.Do(func() {
		b.in = make(chan *pendingCheckIn, checkInBatch)
		go b.loop()
	})
	p := &pendingCheckIn{id: id, c: c, done: make(chan checkInResult, 1)}
	select {
	case b.in <- p:
	case <-ctx.Done():
		return store.Device{}, ctx.Err()
	}
	select {
	case res := <-p.done:
		return res.d, res.err
	case <-ctx.Done():
		return store.Device{}, ctx.Err()
	}
}

func (b *checkInBatcher) loop() {
	for first := range b.in {
		batch := []*pendingCheckIn{first}
		window, quiet := time.NewTimer(checkInWindow), time.NewTimer(checkInQuiet)
	gather:
		for len(batch) < checkInBatch {
			select {
			case p := <-b.in:
				batch = append(batch, p)
				quiet.Reset(checkInQuiet)
			case <-quiet.C:
				break gather
			case <-window.C:
				break gather
			}
		}
		window.Stop()
		quiet.Stop()
		res := make([]checkInResult, len(batch))
		err := b.st.InTx(context.Background(), func(q store.Queries) error {
			for i, p := range batch {
				r := &res[i]
				r.d, r.err = q.RecordCheckIn(context.Background(), p.id, p.c)
				if r.err != nil && !errors.Is(r.err, store.ErrConflict) && !errors.Is(r.err, store.ErrNotFound) {
					return r.err // a database error: the whole group fails
				}
			}
			return nil
		})
		for i, p := range batch {
			if err != nil {
				p.done <- checkInResult{err: err}
			} else {
				p.done <- res[i]
			}
		}
	}
}
