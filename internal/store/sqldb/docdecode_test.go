package sqldb

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/eventgen"
)

// sameAsEncodingJSON fails unless unmarshalDoc and json.Unmarshal agree on js: both refuse it, or
// both accept it with equal documents.
func sameAsEncodingJSON(t *testing.T, js []byte) {
	t.Helper()
	var fast, slow doc
	errFast, errSlow := unmarshalDoc(js, &fast), json.Unmarshal(js, &slow)
	if (errFast == nil) != (errSlow == nil) {
		t.Fatalf("%q: unmarshalDoc error %v, encoding/json error %v", js, errFast, errSlow)
	}
	if errSlow == nil && !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%q:\nunmarshalDoc  %+v\nencoding/json %+v", js, fast, slow)
	}
}

// docCases are documents of every shape: what Telltale writes, and what only encoding/json can
// read (each must fall back to it, or be refused as it refuses them).
var docCases = []string{
	`{}`,
	`{"e":{"c":3,"v":["a","b"]},"u":{"v":"u1","n":"Ann Lee"}}`,
	`{"f":{"p":"/a/b.txt","m":"text/plain","c":1700000000000000,"d":-5,"u":"https://x/y?z=1","r":"d1","o":"old.txt","q":"/old","s":"da39","x":"qx"}}`,
	`{"f":{"p":""}}`,
	`{"s":{"w":[]},"m":{"s":"a@x","f":"b@y","r":["c@z"],"j":"Subject","i":"<id@x>"},"o":{"i":"10.0.0.1","a":"UA/1.0"},"r":{"r":"domain","i":["x","y"]}}`,
	`{"r":{"i":["off_hours"],"s":7,"w":[{"i":"off_hours","w":1,"y":"02:00 Tue"},{"i":"public_link","w":6}]}}`,
	`{"r":{"s":0,"w":[]}}`, `{"r":{"w":[{}]}}`, `{"r":{"w":[{"i":"x","w":1.5}]}}`, `{"r":{"w":[{"i":"x","z":1}]}}`,
	`{"r":{"w":null,"s":null}}`, `{"r":{"w":[{"i":"x"},]}}`, `{"r":{"w":{"i":"x"}}}`,
	` { "e" : { "c" : 1 } , "u" : { "n" : "Zoë 東京" } } `,
	"{\"u\":{\"n\":\"tab\there\"}}",            // a raw control character: invalid JSON
	`{"u":{"n":"quote \" and \\ backslash"}}`,  // escapes: the slow path
	`{"u":{"n":"\u00e9t\u00e9 \ud83d\ude00"}}`, // unicode escapes and a surrogate pair
	`{"u":{"n":"a \u003c b \u0026 c"}}`,        // what json.Marshal writes for < and &
	"{\"u\":{\"n\":\"bad \xff utf-8\"}}",       // encoding/json replaces invalid UTF-8
	`{"U":{"N":"case-insensitive keys"}}`,      // encoding/json matches keys without case
	`{"e":{"c":null,"v":null},"f":{"p":null}}`, // nulls
	`{"e":{"c":01}}`, `{"e":{"c":1.5}}`, `{"e":{"c":1e3}}`, `{"e":{"c":-}}`, `{"e":{"c":"1"}}`,
	`{"e":{"c":99999999999999999999}}`,
	`{"z":{"future":"field"},"u":{"n":"kept"}}`, // an unknown key from a newer version
	`{"u":{"n":"first"},"u":{"v":"second"}}`,    // a repeated key merges
	`{"e":{"v":["a"]},"e":{"v":["b","c"]}}`,
	`{"u":{"n":"x",}}`, `{"u":{"n":"x"}`, `{"u":{"n":"x"}}x`, `[]`, ``, `null`, `{"e":[]}`, `{"s":{"w":["a",1]}}`,
}

func TestUnmarshalDocMatchesEncodingJSON(t *testing.T) {
	for _, js := range docCases {
		sameAsEncodingJSON(t, []byte(js))
	}
	// And what the store writes, for realistic events with every part filled.
	g := eventgen.New(eventgen.Options{Seed: 7, People: 50})
	for i := range 2000 {
		e := g.Next()
		e.Event.Count, e.Event.VendorIDs = i%4, []string{fmt.Sprint("v", i)}
		e.User.VendorID, e.User.Name = fmt.Sprint("u", i), []string{"Ann", "Zoë <Ops>", `Bob "B"`, ""}[i%4]
		e.File.Path, e.File.URL, e.File.OriginalName = "/x/"+e.File.Name, "https://files.example/"+fmt.Sprint(i), []string{"", "old & new.txt"}[i%2]
		e.Sharing.SharedWith = []string{"a@gmail.com", "b@partner.example"}[:i%3]
		e.Email = event.Email{Sender: "s@x", Recipients: []string{"r@y"}, Subject: []string{"Q3", "Über\tplan"}[i%2]}
		e.Source = event.Source{IP: "192.0.2.1", UserAgent: "agent/1"}
		e.Risk.TrustReason, e.Risk.Indicators = "trusted-domain", []string{"a", "b"}[:i%3]
		e.Risk.Score, e.Risk.Reasons = i%12, []event.Reason{{Indicator: "a", Weight: 3, Why: "x@gmail.com"}, {Indicator: "b", Weight: 0}}[:i%3]
		js, err := encodeDoc(&e)
		if err != nil {
			t.Fatal(err)
		}
		sameAsEncodingJSON(t, js)
	}
}

func FuzzUnmarshalDoc(f *testing.F) {
	for _, js := range docCases {
		f.Add([]byte(js))
	}
	f.Fuzz(func(t *testing.T, js []byte) { sameAsEncodingJSON(t, js) })
}

func BenchmarkUnmarshalDoc(b *testing.B) {
	g := eventgen.New(eventgen.Options{Seed: 7, People: 50})
	var docs [][]byte
	for range 1000 {
		e := g.Next()
		e.User.Name, e.Sharing.SharedWith, e.Source.IP = "Ann Lee", []string{"a@gmail.com"}, "192.0.2.1"
		js, _ := encodeDoc(&e)
		docs = append(docs, js)
	}
	for _, dec := range []struct {
		name string
		fn   func([]byte, *doc) error
	}{{"fast", unmarshalDoc}, {"encoding_json", func(js []byte, d *doc) error { return json.Unmarshal(js, d) }}} {
		b.Run(dec.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				var d doc
				if err := dec.fn(docs[i%len(docs)], &d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
