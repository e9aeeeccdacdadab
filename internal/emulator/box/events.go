package box

import (
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/connector/kit/faults"
)

// Enterprise event records.
//
// Shape (GET /events, stream_type admin_logs / admin_logs_streaming):
//   - type, event_id, created_at, recorded_at, created_by (User--Mini), event_type, session_id,
//     source, additional_details: the spec's Event schema (testdata/openapi.json).
//   - source of item events: the spec's EventSource {item_type, item_id, item_name, parent
//     (Folder--Mini), owned_by (User--Mini)}; of user events: a User (spec: "for user events the
//     User object"); of group events: {group_id, group_name, user_id, user_name} (GenericSource;
//     field names as in Elastic's box_events integration samples).
//   - ip_address: not in the spec, present in real enterprise events (support.box.com community
//     post 360049134154; elastic/integrations packages/box_events test-invite.log).
//   - accessible_by and additional_details {collab_id, invitation_message, is_performed_by_admin,
//     role, type: "box://event/additional_details/collaboration"} on collaboration events: the
//     real COLLABORATION_INVITE record in elastic/integrations packages/box_events
//     (_dev/test/pipeline/test-invite.log).
//   - additional_details of SHARE/ITEM_SHARED_UPDATE/UNSHARE: {shared_link_id, version_id,
//     service_id, service_name} (support.box.com community post 360049134154).
//   - additional_details {size, version_id} of UPLOAD/EDIT/COPY/DOWNLOAD/PREVIEW: unverified
//     (the emulator's choice); RENAME, MOVE, DELETE, UNDELETE carry none (unverified).
//   - created_at in a -08:00 offset as Box's examples show.

// streamBase is where stream positions start: above 2^53 so that a client parsing them as float64
// loses precision (a bug the emulator must expose), near 2^60 as real Box positions.
const streamBase = int64(1) << 60

var boxZone = time.FixedZone("PST", -8*3600)

func boxTime(t time.Time) string { return t.In(boxZone).Format(time.RFC3339) }

// emit appends an event to the log and queues its webhook deliveries. Called with e.mu held.
func (e *Emulator) emit(actor *user, typ string, it *item, src, extra map[string]any, a Activity) Activity {
	a.EventID = e.uuid()
	a.EventType = typ
	a.At = e.now()
	e.lastAt = a.At
	a.ActorID, a.ActorLogin = actor.id, actor.login
	r := &record{act: a, ip: e.ipFor(actor.id), sess: e.sessionFor(actor.id, a.At), extra: extra, src: src}
	e.records = append(e.records, r)
	if it != nil {
		e.fireWebhooks(r, it)
	}
	e.log.Debug("box emulator event", "event_type", typ, "actor", actor.login, "item_id", a.ItemID)
	out := r.act
	out.Detail = cloneMap(out.Detail)
	return out
}

func (e *Emulator) emitItem(u *user, typ string, it *item, extra map[string]any, detail map[string]string) Activity {
	owner := e.byID[it.owner]
	a := Activity{ItemType: it.typ, ItemID: it.id, ItemName: it.name, OwnerID: owner.id, OwnerLogin: owner.login, FileActivity: true, Detail: detail}
	return e.emit(u, typ, it, e.eventSource(it), extra, a)
}

func (e *Emulator) emitCollab(u *user, typ string, it *item, c *collab, email string) Activity {
	owner := e.byID[it.owner]
	a := Activity{ItemType: it.typ, ItemID: it.id, ItemName: it.name, OwnerID: owner.id, OwnerLogin: owner.login, FileActivity: true,
		Detail: map[string]string{"invitee": email, "role": c.role, "collaboration_id": c.id}}
	extra := map[string]any{"collab_id": c.id, "invitation_message": "", "is_performed_by_admin": false,
		"role": strings.ToUpper(c.role[:1]) + c.role[1:], "type": "box://event/additional_details/collaboration"}
	var acc map[string]any
	if c.groupID != "" {
		g := e.groupsBy[c.groupID]
		acc = map[string]any{"type": "group", "id": g.id, "name": g.name}
	} else {
		acc = userMini(e.byID[c.userID])
		if e.byID[c.userID].external {
			a.Detail["external"] = "true"
		}
	}
	n := len(e.records)
	out := e.emit(u, typ, it, e.eventSource(it), extra, a)
	e.records[n].acc = acc
	return out
}

// eventSource is the enterprise EventSource of an item, as Box freezes it at event time.
func (e *Emulator) eventSource(it *item) map[string]any {
	p := e.items[it.parent]
	owner := e.byID[it.owner]
	return map[string]any{
		"item_type": it.typ, "item_id": it.id, "item_name": it.name,
		"parent":   map[string]any{"type": "folder", "id": p.id, "name": p.name, "sequence_id": seqOf(p), "etag": seqOf(p)},
		"owned_by": userMini(owner),
	}
}

func userSource(u *user) map[string]any { return userMini(u) }

func userMini(u *user) map[string]any {
	return map[string]any{"type": "user", "id": u.id, "name": u.name, "login": u.login}
}

func seqOf(it *item) any {
	if it.root {
		return nil
	}
	return strconv.Itoa(it.seq)
}

func (e *Emulator) uuid() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(e.rng.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (e *Emulator) ipFor(uid string) string {
	h := hash64(e.o.Seed, "ip"+uid)
	return fmt.Sprintf("203.0.%d.%d", (h>>8)%256, 1+h%250)
}

func (e *Emulator) sessionFor(uid string, t time.Time) string {
	return strconv.FormatUint(hash64(e.o.Seed, uid+t.Format("2006-01-02")), 36)
}

// eventJSON renders a record as Box's Event.
func (e *Emulator) eventJSON(r *record) map[string]any {
	actor := e.byID[r.act.ActorID]
	m := map[string]any{
		"type": "event", "event_id": r.act.EventID, "event_type": r.act.EventType,
		"created_at": boxTime(r.act.At), "recorded_at": boxTime(r.act.At.Add(time.Second)),
		"created_by": userMini(actor), "ip_address": r.ip, "session_id": r.sess,
		"source": r.src,
	}
	if r.extra != nil { // the spec's additional_details is a non-nullable object: absent when empty
		m["additional_details"] = r.extra
	}
	if r.acc != nil {
		m["accessible_by"] = r.acc
	}
	return m
}

// materialize appends the records not yet in the admin_logs_streaming order, mangled by the kit's
// stream faults (Faults.DuplicateRate and Faults.Reorder): with Reorder a new batch is shuffled and
// about a fifth of it is held back to the next batch (released on the next read even when nothing
// new happened, so an empty page still means the end); with DuplicateRate records are queued again
// for the next batch. Called with e.mu held.
func (e *Emulator) materialize() {
	fresh := make([]int, 0, len(e.records)-e.streamed)
	for i := e.streamed; i < len(e.records); i++ {
		fresh = append(fresh, i)
	}
	e.streamed = len(e.records)
	e.stream = append(e.stream, faults.Mangle(e.streamFaults, &e.pending, fresh)...)
}

type eventsQuery struct {
	streamType, position string
	limit                int
	types                map[string]bool
	after, before        time.Time
}

func (e *Emulator) parseEvents(q url.Values) (eventsQuery, *apiError) {
	ev := eventsQuery{streamType: q.Get("stream_type"), position: q.Get("stream_position"), limit: 100}
	if ev.streamType == "" {
		ev.streamType = "all"
	}
	switch ev.streamType {
	case "admin_logs", "admin_logs_streaming":
	case "all", "changes", "sync":
		return ev, badParam("stream_type", ev.streamType, "the emulator serves only the enterprise streams admin_logs and admin_logs_streaming")
	default:
		return ev, badParam("stream_type", ev.streamType, "must be one of all, changes, sync, admin_logs, admin_logs_streaming")
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return ev, badParam("limit", s, "must be a positive integer")
		}
		if n > 500 {
			return ev, badParam("limit", s, "must be less than or equal to 500")
		}
		ev.limit = n
	}
	if s := q.Get("event_type"); s != "" {
		ev.types = map[string]bool{}
		for _, t := range strings.Split(s, ",") {
			ev.types[strings.TrimSpace(t)] = true
		}
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"created_after", &ev.after}, {"created_before", &ev.before}} {
		if s := q.Get(p.name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return ev, badParam(p.name, s, "must be an RFC 3339 date-time such as 2024-01-02T15:04:05-08:00")
			}
			*p.dst = t
		}
	}
	return ev, nil
}

// parsePos parses a decimal stream position (which may exceed int64 only when invalid).
func parsePos(s string) (int64, bool) {
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || n.Sign() < 0 || !n.IsInt64() {
		return 0, false
	}
	return n.Int64(), true
}

// events serves GET /2.0/events for the enterprise streams.
func (e *Emulator) events(q url.Values) (int, any, *apiError) {
	ev, aerr := e.parseEvents(q)
	if aerr != nil {
		return 0, nil, aerr
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clk.Now()
	var seq []int // record indexes in this stream's order
	var oldest int
	streaming := ev.streamType == "admin_logs_streaming"
	if streaming {
		e.materialize()
		seq = e.stream
		cut := now.Add(-e.o.StreamRetention)
		for oldest < len(seq) && e.records[seq[oldest]].act.At.Before(cut) {
			oldest++
		}
	} else {
		cut := now.AddDate(-1, 0, 0)
		oldest = sort.Search(len(e.records), func(i int) bool { return !e.records[i].act.At.Before(cut) })
	}
	n := len(e.records)
	if streaming {
		n = len(seq)
	}
	at := func(i int) *record {
		if streaming {
			return e.records[seq[i]]
		}
		return e.records[i]
	}
	var start int
	switch ev.position {
	case "now":
		return http.StatusOK, e.eventsPage(int64(n), nil), nil
	case "", "0":
		start = oldest
		if ev.streamType == "admin_logs" && !ev.after.IsZero() {
			start = max(oldest, sort.Search(len(e.records), func(i int) bool { return !e.records[i].act.At.Before(ev.after.Truncate(time.Second)) }))
		}
	default:
		p, ok := parsePos(ev.position)
		if !ok {
			return 0, nil, badParam("stream_position", ev.position, "must be \"now\", \"0\" or a next_stream_position from an earlier answer")
		}
		idx := p - e.posBase
		switch {
		case idx < 0 && e.o.Epoch > 0 && p >= streamBase:
			// A position from an earlier epoch of this organization: what happened after it is gone
			// with that epoch; continue from the start of this epoch's activity.
			e.log.Info("box emulator: stream position from an earlier start of the simulated organization; continuing from this start's activity", "stream_position", ev.position, "epoch", e.o.Epoch)
			start = oldest
		case idx < int64(oldest) || (streaming && e.streamFaults.Expired()):
			// Box keeps admin_logs_streaming two weeks and reads from an older position as from the
			// oldest event it still has; a test expires the next position with ExpireNextPosition.
			if streaming {
				e.stats.ExpiredPositions++
				e.log.Warn("box emulator: admin_logs_streaming read from an expired position; continuing from the oldest retained event", "stream_position", ev.position)
			}
			start = oldest
		case idx > int64(n):
			start = n
		default:
			start = int(idx)
		}
	}
	var entries []any
	i := start
	for ; i < n && len(entries) < ev.limit; i++ {
		r := at(i)
		if ev.streamType == "admin_logs" {
			if !ev.before.IsZero() && r.act.At.Truncate(time.Second).After(ev.before) {
				i = n
				break
			}
			if !ev.after.IsZero() && r.act.At.Truncate(time.Second).Before(ev.after) {
				continue
			}
		}
		if ev.types != nil && !ev.types[r.act.EventType] {
			continue
		}
		entries = append(entries, e.eventJSON(r))
	}
	return http.StatusOK, e.eventsPage(int64(i), entries), nil
}

func (e *Emulator) eventsPage(idx int64, entries []any) map[string]any {
	if entries == nil {
		entries = []any{}
	}
	var pos any = strconv.FormatInt(e.posBase+idx, 10)
	if e.o.NumericStreamPositions {
		pos = e.posBase + idx
	}
	return map[string]any{"chunk_size": len(entries), "next_stream_position": pos, "entries": entries}
}
