package agent

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	_ "modernc.org/sqlite" // the agent's queue and file index

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/device"
)

// Folder watch (issue 18): the agent watches folders (fsnotify) and turns each change of a file
// into a file event. Never lost, never doubled:
//
//   - The agent keeps an index of the files it has seen (size, modification time, hashes) and a
//     queue of events not yet acknowledged, both in one SQLite database in the state directory.
//     A change updates the index and appends its event in one transaction, so an event is queued
//     exactly when the index moves past the state it reports.
//   - At start (and every RescanEvery) it compares the folders with the index, so changes made
//     while it was stopped, or that the operating system's notifications dropped, are found; a file
//     whose size, time and content match the index makes no event.
//   - Each queued event has a sequence number (the queue's AUTOINCREMENT key, never reused) that
//     the server stores once: a batch sent again after a crash or a lost answer is acknowledged
//     without a second copy, and the agent forgets events only once acknowledged.
//   - An event the server refuses (a 400 or 422 naming it, events[i]; a 413 of a batch of one) or
//     that cannot be read back from the queue is set aside, not retried: it moves to the queue's
//     set_aside table with the reason, in one transaction, and the events behind it go on. Retried,
//     it would stall the device's every later change (the server refuses the batch whole). A
//     refusal that names no event (the batch, the device, the signature) stays a failure retried
//     with backoff. "telltale agent queue" lists what was set aside.

const queueFile = "queue.db"

// WatchOptions configure the folder watch.
type WatchOptions struct {
	Folders     []string
	RescanEvery time.Duration // 0: 10 minutes
	Settle      time.Duration // changes are gathered this long before they are read (0: 200 ms)
	MaxHashSize int64         // larger files are not hashed (0: 256 MiB)
}

type indexEntry struct {
	size, mtime int64
	md5, sha256 string
}

type watcher struct {
	a      *Agent
	o      WatchOptions
	db     *sql.DB
	roots  []string
	fsw    *fsnotify.Watcher
	queued chan struct{} // something was queued: send now
}

func openQueue(dir string) (*sql.DB, error) {
	v := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)"} {
		v.Add("_pragma", p)
	}
	v.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, queueFile)+"?"+v.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	for _, stmt := range []string{
		`CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime INTEGER NOT NULL, md5 TEXT NOT NULL, sha256 TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS set_aside (seq INTEGER PRIMARY KEY, body TEXT NOT NULL, reason TEXT NOT NULL, at INTEGER NOT NULL)`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			db.Close()
			return nil, fmt.Errorf("agent: queue database %s: %w", filepath.Join(dir, queueFile), err)
		}
	}
	return db, nil
}

// Queued returns how many events wait to be acknowledged.
func (a *Agent) Queued() (int64, error) {
	db, err := openQueue(a.o.StateDir)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int64
	return n, db.QueryRow(`SELECT COUNT(*) FROM queue`).Scan(&n)
}

// SetAsideEvent is a queued file event the agent gave up sending: the server refused it, or it
// could not be read back from the queue.
type SetAsideEvent struct {
	Seq    int64
	At     time.Time // when it was set aside
	Reason string
	Body   string // the event as queued (JSON)
}

// SetAside lists the events set aside, oldest first, at most limit (0: all), and how many there
// are in all.
func (a *Agent) SetAside(limit int) ([]SetAsideEvent, int, error) {
	db, err := openQueue(a.o.StateDir)
	if err != nil {
		return nil, 0, err
	}
	defer db.Close()
	var total int
	if err := db.QueryRow(`SELECT COUNT(*) FROM set_aside`).Scan(&total); err != nil {
		return nil, 0, err
	}
	if limit <= 0 {
		limit = -1
	}
	rows, err := db.Query(`SELECT seq, at, reason, body FROM set_aside ORDER BY seq LIMIT ?`, limit)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []SetAsideEvent
	for rows.Next() {
		var e SetAsideEvent
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Reason, &e.Body); err != nil {
			return nil, 0, err
		}
		e.At = time.UnixMilli(at).UTC()
		out = append(out, e)
	}
	return out, total, rows.Err()
}

// Watch watches the folders and sends their file events until ctx ends.
func (a *Agent) Watch(ctx context.Context, o WatchOptions) error {
	if o.RescanEvery <= 0 {
		o.RescanEvery = 10 * time.Minute
	}
	if o.Settle <= 0 {
		o.Settle = 200 * time.Millisecond
	}
	if o.MaxHashSize <= 0 {
		o.MaxHashSize = 256 << 20
	}
	w := &watcher{a: a, o: o, queued: make(chan struct{}, 1)}
	for _, f := range o.Folders {
		abs, err := filepath.Abs(f)
		if err != nil {
			return fmt.Errorf("agent: --watch %s: %w", f, err)
		}
		fi, err := os.Stat(abs)
		if err != nil || !fi.IsDir() {
			return fmt.Errorf("agent: --watch %s: not a folder this agent can read (%v)", f, err)
		}
		w.roots = append(w.roots, filepath.Clean(abs))
	}
	var err error
	if w.db, err = openQueue(a.o.StateDir); err != nil {
		return err
	}
	defer w.db.Close()
	if w.fsw, err = fsnotify.NewWatcher(); err != nil {
		return fmt.Errorf("agent: folder watch: %w", err)
	}
	defer w.fsw.Close()
	for _, r := range w.roots {
		w.addTree(r)
	}
	sendDone := make(chan struct{})
	go func() { defer close(sendDone); w.sendLoop(ctx) }()
	defer func() { <-sendDone }()
	if err := w.scan(ctx); err != nil && ctx.Err() == nil {
		a.log.Error("agent: folder scan failed", "err", err)
	}
	a.log.Info("agent watching folders", "folders", strings.Join(w.roots, ", "))
	dirty := map[string]bool{}
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	rescan := time.NewTicker(o.RescanEvery)
	defer rescan.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return nil
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			if len(dirty) == 0 {
				settle.Reset(o.Settle)
			}
			dirty[filepath.Clean(ev.Name)] = true
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return nil
			}
			// An overflow drops notifications: compare everything with the index instead.
			a.log.Warn("agent: folder notifications lost; rescanning", "err", err)
			if err := w.scan(ctx); err != nil && ctx.Err() == nil {
				a.log.Error("agent: folder scan failed", "err", err)
			}
		case <-settle.C:
			paths := make([]string, 0, len(dirty))
			for p := range dirty {
				paths = append(paths, p)
			}
			clear(dirty)
			if err := w.reconcile(ctx, paths); err != nil && ctx.Err() == nil {
				a.log.Error("agent: reading changed files failed; the next scan retries", "err", err)
			}
		case <-rescan.C:
			if err := w.scan(ctx); err != nil && ctx.Err() == nil {
				a.log.Error("agent: folder scan failed", "err", err)
			}
		}
	}
}

// addTree watches a folder and every folder below it.
func (w *watcher) addTree(root string) {
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if p == w.a.o.StateDir {
				return filepath.SkipDir
			}
			if err := w.fsw.Add(p); err != nil {
				w.a.log.Warn("agent: cannot watch a folder", "folder", p, "err", err)
			}
		}
		return nil
	})
}

// scan compares every watched file and every indexed path with the index.
func (w *watcher) scan(ctx context.Context) error {
	paths := map[string]bool{}
	for _, r := range w.roots {
		filepath.WalkDir(r, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() && p == w.a.o.StateDir {
				return filepath.SkipDir
			}
			if err == nil && d.Type().IsRegular() {
				paths[p] = true
			}
			return nil
		})
	}
	rows, err := w.db.QueryContext(ctx, `SELECT path FROM files`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var p string
		if rows.Scan(&p) == nil {
			paths[p] = true
		}
	}
	rows.Close()
	list := make([]string, 0, len(paths))
	for p := range paths {
		list = append(list, p)
	}
	sort.Strings(list)
	for len(list) > 0 { // in chunks: one transaction each
		n := min(len(list), 500)
		if err := w.reconcile(ctx, list[:n]); err != nil {
			return err
		}
		list = list[n:]
	}
	return nil
}

func (w *watcher) under(p string) bool {
	for _, r := range w.roots {
		if p == r || strings.HasPrefix(p, r+string(filepath.Separator)) {
			return !strings.HasPrefix(p, w.a.o.StateDir+string(filepath.Separator)) && p != w.a.o.StateDir
		}
	}
	return false
}

type change struct {
	path  string
	entry indexEntry
	gone  bool
	ev    client.AgentFileEvent
}

// reconcile reads the given paths (files, folders, or paths gone) and queues the events of what
// changed against the index, in one transaction.
func (w *watcher) reconcile(ctx context.Context, paths []string) error {
	files := map[string]bool{}
	for _, p := range paths {
		if !w.under(p) {
			continue
		}
		fi, err := os.Lstat(p)
		switch {
		case err == nil && fi.IsDir():
			w.addTree(p) // a new folder (or one moved in): watch it and read what it holds
			filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					files[q] = true
				}
				return nil
			})
		case err == nil && fi.Mode().IsRegular():
			files[p] = true
		case errors.Is(err, fs.ErrNotExist):
			files[p] = true
			// A folder gone takes the files the index knows under it.
			rows, err := w.db.QueryContext(ctx, `SELECT path FROM files WHERE path > ? AND path < ?`, p+string(filepath.Separator), p+string(filepath.Separator)+"\xff")
			if err != nil {
				return err
			}
			for rows.Next() {
				var q string
				if rows.Scan(&q) == nil {
					files[q] = true
				}
			}
			rows.Close()
		}
	}
	if len(files) == 0 {
		return nil
	}
	list := make([]string, 0, len(files))
	for p := range files {
		list = append(list, p)
	}
	sort.Strings(list)
	user := w.a.o.report().UserName
	var changes []*change
	for _, p := range list {
		c, err := w.observe(ctx, p, user)
		if err != nil {
			return err
		}
		if c != nil {
			changes = append(changes, c)
		}
	}
	if len(changes) == 0 {
		return nil
	}
	pairRenames(changes)
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	newest := time.Time{}
	for _, c := range changes {
		if c.gone {
			if _, err := tx.ExecContext(ctx, `DELETE FROM files WHERE path = ?`, c.path); err != nil {
				return err
			}
		} else if _, err := tx.ExecContext(ctx, `INSERT INTO files (path, size, mtime, md5, sha256) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime = excluded.mtime, md5 = excluded.md5, sha256 = excluded.sha256`,
			c.path, c.entry.size, c.entry.mtime, c.entry.md5, c.entry.sha256); err != nil {
			return err
		}
		if c.ev.Action == "" {
			continue // an index update only (a time that moved, the old side of a rename)
		}
		b, _ := json.Marshal(c.ev)
		if _, err := tx.ExecContext(ctx, `INSERT INTO queue (body) VALUES (?)`, string(b)); err != nil {
			return err
		}
		if c.ev.At.After(newest) {
			newest = c.ev.At
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if !newest.IsZero() {
		w.a.SawActivity(newest)
	}
	select {
	case w.queued <- struct{}{}:
	default:
	}
	return nil
}

// observe compares one path with the index: nil when nothing changed.
func (w *watcher) observe(ctx context.Context, p, user string) (*change, error) {
	var old indexEntry
	err := w.db.QueryRowContext(ctx, `SELECT size, mtime, md5, sha256 FROM files WHERE path = ?`, p).Scan(&old.size, &old.mtime, &old.md5, &old.sha256)
	known := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	fi, err := os.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() {
		if !known {
			return nil, nil
		}
		return &change{path: p, gone: true, ev: client.AgentFileEvent{Action: "file-deleted", At: time.Now().UTC(), Path: p, Size: old.size,
			MD5: old.md5, SHA256: old.sha256, UserName: user}}, nil
	}
	cur := indexEntry{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if known && cur.size == old.size && cur.mtime == old.mtime {
		return nil, nil
	}
	if cur.size <= w.o.MaxHashSize {
		if cur.md5, cur.sha256, err = hashFile(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) { // gone meanwhile: its removal is on its way
				return nil, nil
			}
			w.a.log.Warn("agent: cannot read a file to hash it", "path", p, "err", err)
		}
	}
	c := &change{path: p, entry: cur}
	if known && cur.size == old.size && cur.sha256 != "" && cur.sha256 == old.sha256 {
		return c, nil // touched, not changed: the index takes the new time, no event
	}
	action := "file-modified"
	if !known {
		action = "file-created"
	}
	c.ev = client.AgentFileEvent{Action: action, At: fi.ModTime().UTC(), Path: p, Size: cur.size, Modified: fi.ModTime().UTC(), MD5: cur.md5, SHA256: cur.sha256, UserName: user}
	return c, nil
}

// pairRenames turns a file gone and a file created with the same content, in one batch, into one
// renamed (same folder) or moved event.
func pairRenames(cs []*change) {
	gone := map[string]*change{}
	for _, c := range cs {
		if c.gone && c.ev.SHA256 != "" {
			gone[c.ev.SHA256] = c
		}
	}
	for _, c := range cs {
		if c.gone || c.ev.Action != "file-created" || c.ev.SHA256 == "" {
			continue
		}
		g, ok := gone[c.ev.SHA256]
		if !ok || g.ev.Size != c.ev.Size {
			continue
		}
		delete(gone, c.ev.SHA256)
		c.ev.Action = "file-renamed"
		if filepath.Dir(g.path) != filepath.Dir(c.path) {
			c.ev.Action = "file-moved"
		}
		c.ev.OriginalPath = g.path
		c.ev.At = time.Now().UTC()
		g.ev = client.AgentFileEvent{} // the index forgets the old path; the one event is the new side's
	}
}

func hashFile(p string) (string, string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	m, s := md5.New(), sha256.New()
	if _, err := io.Copy(io.MultiWriter(m, s), f); err != nil {
		return "", "", err
	}
	return hex.EncodeToString(m.Sum(nil)), hex.EncodeToString(s.Sum(nil)), nil
}

// maxBatchBytes bounds a batch of events (the server takes up to device.MaxEvents).
const maxBatchBytes = device.MaxEvents / 2

// sendLoop sends queued events in order and forgets those acknowledged.
func (w *watcher) sendLoop(ctx context.Context) {
	failures := 0
	for {
		sent, err := w.sendOnce(ctx)
		var wait time.Duration
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			failures++
			wait = w.a.backoff(failures)
			w.a.log.Warn("agent: sending file events failed; they stay queued", "reason", Reason(err), "why", Explain(err), "failures", failures, "retry_in", wait.String())
		case sent > 0:
			failures = 0
			continue // more may wait
		default:
			failures = 0
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-w.queued:
		case <-time.After(wait):
		}
	}
}

// refusedEvent reports which event of a batch of n the server refused, and why: a 400 or 422 whose
// field errors name events[i] (or a field of it), or a 413 of a batch of one event.
func refusedEvent(err error, n int) (int, string, bool) {
	var se *ServerError
	if !errors.As(err, &se) {
		return 0, "", false
	}
	switch se.Status {
	case 400, 422:
		for _, fe := range se.Problem.Errors {
			rest, ok := strings.CutPrefix(fe.Field, "events[")
			if !ok {
				continue
			}
			num, _, ok := strings.Cut(rest, "]")
			i, err := strconv.Atoi(num)
			if !ok || err != nil || strconv.Itoa(i) != num || i < 0 || i >= n {
				continue
			}
			return i, fmt.Sprintf("refused by the server (%d): %s: %s", se.Status, fe.Field, fe.Message), true
		}
	case 413:
		if n == 1 {
			return 0, fmt.Sprintf("refused by the server (%d): %s", se.Status, se.Error()), true
		}
	}
	return 0, "", false
}

// setAside moves a queued event to set_aside with the reason; it counts as one sent, so the
// events behind it go on at once.
func (w *watcher) setAside(ctx context.Context, seq int64, reason string) (int, error) {
	tx, err := w.db.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`INSERT INTO set_aside (seq, body, reason, at) SELECT seq, body, ?, ? FROM queue WHERE seq = ?`,
		reason, time.Now().UnixMilli(), seq); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(`DELETE FROM queue WHERE seq = ?`, seq); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	w.a.log.Warn("agent: a file event was set aside, not sent; the events behind it go on (telltale agent queue lists it)", "seq", seq, "reason", reason)
	return 1, nil
}

// sendOnce sends one batch from the head of the queue; it returns how many were acknowledged.
func (w *watcher) sendOnce(ctx context.Context) (int, error) {
	rows, err := w.db.QueryContext(ctx, `SELECT seq, body FROM queue ORDER BY seq LIMIT 1000`)
	if err != nil {
		return 0, err
	}
	in := client.AgentEventsRequest{DeviceID: w.a.st.DeviceID}
	size := 0
	for rows.Next() {
		var seq int64
		var body string
		if err := rows.Scan(&seq, &body); err != nil {
			rows.Close()
			return 0, err
		}
		if size+len(body) > maxBatchBytes && len(in.Events) > 0 {
			break
		}
		var e client.AgentFileEvent
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			rows.Close()
			return w.setAside(ctx, seq, "damaged in the queue: "+err.Error())
		}
		e.Seq = seq
		in.Events = append(in.Events, e)
		size += len(body) + 20
	}
	rows.Close()
	if len(in.Events) == 0 {
		return 0, nil
	}
	body, _ := json.Marshal(in)
	var out client.AgentEventsResponse
	if err := post(ctx, w.a.http, w.a.st.Server+"/api/v1/agent/events", body, map[string]string{
		device.HeaderDevice: w.a.st.DeviceID, device.HeaderSignature: device.Sign(w.a.key, device.ContextEvents, body)}, &out); err != nil {
		if i, reason, ok := refusedEvent(err, len(in.Events)); ok {
			return w.setAside(ctx, in.Events[i].Seq, reason)
		}
		return 0, err
	}
	res, err := w.db.ExecContext(context.WithoutCancel(ctx), `DELETE FROM queue WHERE seq <= ?`, out.AckedThrough)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	w.a.log.Debug("agent: file events sent", "events", len(in.Events), "acked_through", out.AckedThrough, "stored", out.Inserted)
	return int(n), nil
}
