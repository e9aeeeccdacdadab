package agent_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/agent"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/testutil/syncbuf"
)

func sum(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

// serverEvents lists the endpoint events on the server as "action path sha256 [from]" lines.
func serverEvents(t *testing.T, s *server) []string {
	t.Helper()
	evs, err := s.app.Store.ListEvents(context.Background(), store.EventFilter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		if e.Event.Observer != event.ObserverEndpoint {
			continue
		}
		line := string(e.Event.Action) + " " + e.File.Path + " " + e.File.Hash.SHA256
		if e.File.OriginalName != "" {
			line += " from " + filepath.Join(e.File.OriginalDirectory, e.File.OriginalName)
		}
		out = append(out, line)
	}
	sort.Strings(out)
	return out
}

func waitEvents(t *testing.T, s *server, want []string) {
	t.Helper()
	sort.Strings(want)
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := serverEvents(t, s)
		if strings.Join(got, "\n") == strings.Join(want, "\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFolderWatch: created, modified, renamed, moved and deleted files become one event each with
// service endpoint, the path and the hashes; a touch without a change makes none; changes made
// while the agent was stopped are found when it starts; changes made while the server cannot be
// reached are queued on disk and arrive once it can, each once.
func TestFolderWatch(t *testing.T) {
	s := newServer(t)
	sec := s.secret(t)
	state, root := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(root, "sub"), 0o755)
	var logs syncbuf.Buffer
	o := opts(state, &logs)
	o.Interval = time.Hour
	o.Watch = agent.WatchOptions{Folders: []string{root}, Settle: 50 * time.Millisecond, RescanEvery: time.Hour}
	st, err := agent.Enroll(context.Background(), s.srv.URL, sec.Secret, o)
	if err != nil {
		t.Fatal(err)
	}
	write := func(rel, content string) string {
		t.Helper()
		p := filepath.Join(root, rel)
		// Written beside and renamed in: one change, as editors save.
		tmp := filepath.Join(t.TempDir(), "tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	before := write("before.txt", "made before the agent started")
	start := func() (stop func()) {
		a, err := agent.Open(o)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		}
	}
	stop := start()
	want := []string{"file-created " + before + " " + sum("made before the agent started")}
	waitEvents(t, s, want)

	a := write("a.txt", "alpha")
	want = append(want, "file-created "+a+" "+sum("alpha"))
	waitEvents(t, s, want)
	write("a.txt", "alpha 2")
	want = append(want, "file-modified "+a+" "+sum("alpha 2"))
	waitEvents(t, s, want)
	now := time.Now().Add(time.Minute)
	os.Chtimes(a, now, now) // touched: no event
	b := filepath.Join(root, "b.txt")
	os.Rename(a, b)
	want = append(want, "file-renamed "+b+" "+sum("alpha 2")+" from "+a)
	waitEvents(t, s, want)
	c := filepath.Join(root, "sub", "b.txt")
	os.Rename(b, c)
	want = append(want, "file-moved "+c+" "+sum("alpha 2")+" from "+b)
	waitEvents(t, s, want)
	os.Remove(c)
	want = append(want, "file-deleted "+c+" "+sum("alpha 2"))
	waitEvents(t, s, want)
	newDir := filepath.Join(root, "new")
	os.Mkdir(newDir, 0o755)
	d := write("new/d.txt", "in a new folder")
	want = append(want, "file-created "+d+" "+sum("in a new folder"))
	waitEvents(t, s, want)
	stop()

	// While stopped: a change, a creation and a deletion are found at the next start.
	write("new/d.txt", "changed while stopped")
	e := write("e.txt", "created while stopped")
	os.Remove(before)
	want = append(want, "file-modified "+d+" "+sum("changed while stopped"), "file-created "+e+" "+sum("created while stopped"), "file-deleted "+before+" "+sum("made before the agent started"))
	stop = start()
	waitEvents(t, s, want)
	stop()

	// The server out of reach: changes wait on disk, then arrive once.
	st.Server = "http://127.0.0.1:1"
	setState(t, state, st)
	stop = start()
	var queued []string
	for i := 0; i < 5; i++ {
		p := write(fmt.Sprintf("offline-%d.txt", i), fmt.Sprintf("offline %d", i))
		queued = append(queued, "file-created "+p+" "+sum(fmt.Sprintf("offline %d", i)))
	}
	waitFor(t, "five queued events", func() bool {
		a, _ := agent.Open(o)
		n, _ := a.Queued()
		return n == 5
	})
	stop()
	waitFor(t, "the failure logged", func() bool { return strings.Contains(logs.String(), "sending file events failed") })
	if got := serverEvents(t, s); len(got) != len(want) {
		t.Fatalf("events arrived while the server was out of reach: %v", got)
	}
	st.Server = s.srv.URL
	setState(t, state, st)
	stop = start()
	want = append(want, queued...)
	waitEvents(t, s, want)
	waitFor(t, "an empty queue", func() bool {
		a, _ := agent.Open(o)
		n, _ := a.Queued()
		return n == 0
	})
	stop()
	evs, _ := s.app.Store.ListEvents(context.Background(), store.EventFilter{Limit: 1})
	if ev := evs[0]; ev.User.Email != "ann@corp.example" || ev.File.DriveID != "device/"+st.DeviceID || ev.File.Hash.MD5 == "" || ev.Event.Observer != "endpoint" {
		t.Errorf("stored event %+v", ev)
	}
}

func setState(t *testing.T, dir string, st agent.State) {
	t.Helper()
	b := fmt.Sprintf(`{"server":%q,"device_id":%q,"public_key":%q}`, st.Server, st.DeviceID, st.PublicKey)
	if err := os.WriteFile(filepath.Join(dir, "device.json"), []byte(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestStateDirInsideWatchedFolder: an agent whose state directory lies in a folder it watches
// does not report its own queue and key files.
func TestStateDirInsideWatchedFolder(t *testing.T) {
	s := newServer(t)
	sec := s.secret(t)
	root := t.TempDir()
	var logs syncbuf.Buffer
	o := opts(filepath.Join(root, ".telltale-agent"), &logs)
	o.Interval = time.Hour
	o.Watch = agent.WatchOptions{Folders: []string{root}, Settle: 20 * time.Millisecond, RescanEvery: 100 * time.Millisecond}
	if _, err := agent.Enroll(context.Background(), s.srv.URL, sec.Secret, o); err != nil {
		t.Fatal(err)
	}
	a, err := agent.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	p := filepath.Join(root, "doc.txt")
	os.WriteFile(p, []byte("x"), 0o644)
	waitEvents(t, s, []string{"file-created " + p + " " + sum("x")})
	time.Sleep(300 * time.Millisecond) // rescans and queue writes: still nothing more
	cancel()
	<-done
	waitEvents(t, s, []string{"file-created " + p + " " + sum("x")})
}

// TestRefusedEventSetAside: a queued event the server refuses (here an action it does not know,
// as from a newer agent) and one that cannot be read back from the queue are set aside with their
// reasons, and the events queued before and after them arrive, each once, without a retry's wait.
func TestRefusedEventSetAside(t *testing.T) {
	s := newServer(t)
	sec := s.secret(t)
	state, root := t.TempDir(), t.TempDir()
	var logs syncbuf.Buffer
	o := opts(state, &logs)
	o.Interval = time.Hour
	o.MaxBackoff = time.Hour // a retry would outlast the test
	o.Watch = agent.WatchOptions{Folders: []string{root}, Settle: 20 * time.Millisecond, RescanEvery: time.Hour}
	if _, err := agent.Enroll(context.Background(), s.srv.URL, sec.Secret, o); err != nil {
		t.Fatal(err)
	}
	a, err := agent.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Queued(); err != nil { // creates the queue
		t.Fatal(err)
	}
	q, err := sql.Open("sqlite", filepath.Join(state, "queue.db"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Format(time.RFC3339Nano)
	for _, body := range []string{
		`{"action":"file-created","at":"` + at + `","path":"/x/one.txt","size":3,"sha256":"` + sum("one") + `"}`,
		`{"action":"file-copied","at":"` + at + `","path":"/x/copy.txt"}`,
		`{"action":"file-created","at":`,
		`{"action":"file-created","at":"` + at + `","path":"/x/two.txt","size":3,"sha256":"` + sum("two") + `"}`,
	} {
		if _, err := q.Exec(`INSERT INTO queue (body) VALUES (?)`, body); err != nil {
			t.Fatal(err)
		}
	}
	q.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	p := filepath.Join(root, "three.txt")
	os.WriteFile(p, []byte("three"), 0o644)
	waitEvents(t, s, []string{"file-created /x/one.txt " + sum("one"), "file-created /x/two.txt " + sum("two"), "file-created " + p + " " + sum("three")})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n, err := a.Queued(); err != nil || n != 0 {
		t.Errorf("queued after sending: %d, %v", n, err)
	}
	aside, total, err := a.SetAside(0)
	if err != nil {
		t.Fatal(err)
	}
	if first, n, _ := a.SetAside(1); len(first) != 1 || n != 2 {
		t.Errorf("SetAside(1): %d of %d", len(first), n)
	}
	if len(aside) != 2 || total != 2 || aside[0].Seq != 2 || aside[1].Seq != 3 ||
		!strings.Contains(aside[0].Reason, "refused by the server (400): events[1]") || !strings.Contains(aside[0].Reason, `"file-copied"`) ||
		!strings.Contains(aside[0].Body, "/x/copy.txt") ||
		!strings.HasPrefix(aside[1].Reason, "damaged in the queue: ") || aside[1].Body != `{"action":"file-created","at":` {
		t.Errorf("set aside: %+v", aside)
	}
	if strings.Contains(logs.String(), "sending file events failed") || strings.Count(logs.String(), "a file event was set aside") != 2 {
		t.Errorf("log:\n%s", logs.String())
	}
	waitEvents(t, s, []string{"file-created /x/one.txt " + sum("one"), "file-created /x/two.txt " + sum("two"), "file-created " + p + " " + sum("three")})
}
