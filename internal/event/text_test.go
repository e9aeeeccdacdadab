package event

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestCleanText: NUL characters and bytes that are not UTF-8 become U+FFFD in every string of an
// event, byte by byte as encoding/json replaces them, but in the vendor ids (the dedupe key);
// text already clean is left as it is, and so is its memory.
func TestCleanText(t *testing.T) {
	for in, want := range map[string]string{
		"plan.xlsx":            "plan.xlsx",
		"a\x00b":               "a\uFFFDb",
		"caf\xe9":              "caf\uFFFD",
		"\xff\xfe":             "\uFFFD\uFFFD",
		"ok \u00e9 \U0001F600": "ok \u00e9 \U0001F600",
		"\xe2\x82":             "\uFFFD\uFFFD",
	} {
		if got := CleanString(in); got != want {
			t.Errorf("CleanString(%q) = %q, want %q", in, got, want)
		}
		var back string // encoding/json's own replacement, for all but the NUL it keeps
		if json.Unmarshal(must(json.Marshal(in)), &back); in != "a\x00b" && back != want {
			t.Errorf("CleanString(%q) = %q, encoding/json makes %q", in, want, back)
		}
	}
	e := &FileEvent{Timestamp: time.Now(), Event: Meta{Action: ActionModified, Observer: ObserverBox, VendorIDs: []string{"v\x00"}, Feeds: []string{"f\xff"}},
		User: User{Email: "a\x00@corp.example"}, File: File{Name: "n\xe9"}, Email: Email{Recipients: []string{"ok@x.example", "r\x00@x.example"}},
		Sharing: Sharing{Tenants: []DestinationTenant{{To: "t\x00", Tenant: "1"}}}, Risk: Risk{Reasons: []Reason{{Indicator: "i", Why: "w\xff"}}}}
	key := e.DedupeKey()
	e.CleanText()
	if e.User.Email != "a\uFFFD@corp.example" || e.File.Name != "n\uFFFD" || e.Email.Recipients[1] != "r\uFFFD@x.example" || e.Email.Recipients[0] != "ok@x.example" ||
		e.Sharing.Tenants[0].To != "t\uFFFD" || e.Risk.Reasons[0].Why != "w\uFFFD" || e.Event.Feeds[0] != "f\uFFFD" {
		t.Errorf("CleanText left %+v", e)
	}
	if e.Event.VendorIDs[0] != "v\x00" || e.DedupeKey() != key {
		t.Errorf("CleanText changed the vendor ids (%q) and so the dedupe key", e.Event.VendorIDs)
	}
	s := "clean text"
	if got := CleanString(s); got != s || testing.AllocsPerRun(10, func() { CleanString(s) }) != 0 {
		t.Errorf("clean text was copied")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// BenchmarkCleanText is the cost of CleanText on a clean event of the usual size (what every
// stored event pays).
func BenchmarkCleanText(b *testing.B) {
	e := &FileEvent{Timestamp: time.Now(), Event: Meta{Action: ActionShared, Observer: ObserverBox, VendorIDs: []string{"1f24557176b161a6-4530"}},
		User: User{Email: "alice@corp.example", VendorID: "6133076", Name: "Alice"}, File: File{ID: "f1", Name: "plan.xlsx", Directory: "/Finance/2026", Owner: "alice@corp.example"},
		Sharing: Sharing{SharedWith: []string{"x@gmail.com"}}, Source: Source{IP: "10.0.0.1"},
		Risk: Risk{Indicators: []string{"off_hours"}, Reasons: []Reason{{Indicator: "off_hours", Weight: 1, Why: "mon 00:00 in UTC; working hours are 08:00-18:00"}}}}
	for b.Loop() {
		e.CleanText()
	}
}

// TestCleanTextCoversEveryString: every string of an event, found by reflection (so a field added
// later is found too), is cleaned by CleanText, but the vendor ids.
func TestCleanTextCoversEveryString(t *testing.T) {
	e := &FileEvent{}
	var paths []string
	eachString(t, reflect.ValueOf(e).Elem(), "event", true, func(v reflect.Value, path string) {
		v.SetString("x\x00")
		paths = append(paths, path)
	})
	e.CleanText()
	var left []string
	eachString(t, reflect.ValueOf(e).Elem(), "event", false, func(v reflect.Value, path string) {
		if v.String() != "x\uFFFD" {
			left = append(left, path)
		}
	})
	if want := []string{"event.Event.VendorIDs[0]", "event.Event.VendorIDs[1]"}; !slices.Equal(left, want) || len(paths) < 40 {
		t.Errorf("left uncleaned: %v (want only %v) of %d strings", left, want, len(paths))
	}
}

// eachString calls f with every string v holds and its path, through exported fields and slice
// elements; grow first makes each slice two elements long.
func eachString(t *testing.T, v reflect.Value, path string, grow bool, f func(v reflect.Value, path string)) {
	switch v.Kind() {
	case reflect.String:
		f(v, path)
	case reflect.Struct:
		for i := range v.NumField() {
			if fd := v.Type().Field(i); fd.IsExported() {
				eachString(t, v.Field(i), path+"."+fd.Name, grow, f)
			}
		}
	case reflect.Slice:
		if grow {
			v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		}
		for i := range v.Len() {
			eachString(t, v.Index(i), fmt.Sprintf("%s[%d]", path, i), grow, f)
		}
	case reflect.Pointer, reflect.Map, reflect.Interface:
		t.Fatalf("%s is a %s: CleanText and this test walk none", path, v.Kind())
	}
}

// TestClipKey: a key over MaxKeyBytes is cut to fit at a character boundary, the same way every
// time, two that differ only past the cut stay two, and a clipped key clips to itself.
func TestClipKey(t *testing.T) {
	short := strings.Repeat("a", MaxKeyBytes)
	if ClipKey(short) != short {
		t.Errorf("a key of exactly MaxKeyBytes was changed")
	}
	for _, unit := range []string{"a", "é", "€", "😀"} { // 1 to 4 bytes a character
		long := strings.Repeat(unit, 3000)
		got := ClipKey(long)
		if len(got) > MaxKeyBytes || len(got) < MaxKeyBytes-4 || !utf8.ValidString(got) {
			t.Errorf("%q x 3000: clipped to %d bytes, valid UTF-8 %v", unit, len(got), utf8.ValidString(got))
		}
		if !strings.HasPrefix(long, got[:len(got)-19]) || !strings.Contains(got, "\u2026") {
			t.Errorf("%q x 3000: clipped to %q", unit, got[len(got)-40:])
		}
		if ClipKey(got) != got || ClipKey(long) != got {
			t.Errorf("%q x 3000: clipping is not stable", unit)
		}
		if ClipKey(long+"x") == got {
			t.Errorf("%q x 3000: a key differing past the cut clipped to the same", unit)
		}
	}
	e := FileEvent{User: User{Email: strings.Repeat("a", 600) + "@corp.example"}, File: File{Name: strings.Repeat("n", 5000)},
		Email: Email{Recipients: []string{strings.Repeat("r", 700)}}}
	e.CleanText()
	if len(e.User.Email) > MaxKeyBytes || len(e.Email.Recipients[0]) > MaxKeyBytes || len(e.File.Name) != 5000 {
		t.Errorf("CleanText: actor %d bytes, recipient %d, name %d (names are kept whole)", len(e.User.Email), len(e.Email.Recipients[0]), len(e.File.Name))
	}
}
