package box

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestEpochs: a later epoch builds the same organization, then its activity, ids and stream
// positions never collide with an earlier epoch's, and a position from the earlier epoch (what a
// client stored before the restart) continues with the new epoch's activity.
func TestEpochs(t *testing.T) {
	type run struct {
		gen, acts []Activity // generation, then activity
		streamed  []string   // event ids read from the stream after the generation
		lastPos   string     // the last next_stream_position read
	}
	var runs []run
	prevPos := ""
	for epoch := 0; epoch < 3; epoch++ {
		h := newHarness(t, Options{Seed: 3, Epoch: epoch})
		gen := h.emu.Activities()
		from := prevPos // a client restarted with the emulator reads on from its stored position
		if epoch == 0 {
			_, from = readStream(t, h, "0", 500)
		}
		if ids, _ := readStream(t, h, from, 500); epoch > 0 && len(ids) != 0 {
			t.Fatalf("epoch %d: read %d events before any activity from the earlier epoch's position; want none", epoch, len(ids))
		}
		acts := h.emu.Step(300)
		ids, last := readStream(t, h, from, 500)
		runs = append(runs, run{gen: gen, acts: acts, streamed: ids, lastPos: last})
		prevPos = last
		if s := h.emu.Stats(); s.ExpiredPositions != 0 {
			t.Errorf("epoch %d: %d expired positions", epoch, s.ExpiredPositions)
		}
	}

	sig := func(as []Activity) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.EventID+" "+a.EventType+" "+a.ItemID+" "+a.ActorID)
		}
		return out
	}
	seenEvents, seenItems, seenVersions, seenCollabs := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	var lastPos int64
	for epoch, r := range runs {
		if diff := cmp.Diff(sig(runs[0].gen), sig(r.gen)); diff != "" {
			t.Fatalf("epoch %d built another organization:\n%s", epoch, diff)
		}
		var want []string
		for _, a := range r.acts {
			want = append(want, a.EventID)
		}
		if diff := cmp.Diff(want, r.streamed); diff != "" {
			t.Errorf("epoch %d: stream read on from the stored position (-activity +read):\n%s", epoch, diff)
		}
		known := map[string]bool{} // items of the organization as generated or created earlier in this epoch
		for _, a := range r.gen {
			known[a.ItemID] = true
		}
		var created []string
		for _, a := range r.acts {
			if e, ok := seenEvents[a.EventID]; ok {
				t.Errorf("epoch %d: event id %s also in epoch %d", epoch, a.EventID, e)
			}
			if (a.EventType == "UPLOAD" || a.EventType == "COPY") && !known[a.ItemID] { // not a new version
				known[a.ItemID] = true
				created = append(created, a.ItemID)
				if e, ok := seenItems[a.ItemID]; ok {
					t.Errorf("epoch %d: new file id %s also created in epoch %d", epoch, a.ItemID, e)
				}
			}
			if v := a.Detail["version_id"]; v != "" && (a.EventType == "UPLOAD" || a.EventType == "EDIT") {
				if e, ok := seenVersions[v]; ok {
					t.Errorf("epoch %d: version id %s also created in epoch %d", epoch, v, e)
				}
			}
			if c := a.Detail["collaboration_id"]; c != "" && a.EventType == "COLLABORATION_INVITE" {
				if e, ok := seenCollabs[c]; ok {
					t.Errorf("epoch %d: collaboration id %s also created in epoch %d", epoch, c, e)
				}
			}
		}
		if len(created) == 0 {
			t.Errorf("epoch %d created no file in 300 steps", epoch)
		}
		for _, id := range created {
			seenItems[id] = epoch
		}
		for _, a := range r.acts {
			seenEvents[a.EventID] = epoch
			if v := a.Detail["version_id"]; v != "" {
				seenVersions[v] = epoch
			}
			if c := a.Detail["collaboration_id"]; c != "" {
				seenCollabs[c] = epoch
			}
		}
		p, err := strconv.ParseInt(r.lastPos, 10, 64)
		if err != nil || p <= lastPos {
			t.Errorf("epoch %d: last position %s is not above the earlier epoch's %d", epoch, r.lastPos, lastPos)
		}
		lastPos = p
	}
}
