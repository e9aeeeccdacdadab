package event

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestJSONFieldNames(t *testing.T) {
	e := FileEvent{
		Timestamp: time.Date(2026, 11, 21, 10, 4, 5, 0, time.UTC),
		Event: Meta{ID: 42, Action: ActionShared, Observer: ObserverBox, ConnectionID: 7,
			ConnectionName: "Box prod", Count: 2, VendorIDs: []string{"v1", "v2"},
			Inserted: time.Date(2026, 11, 21, 10, 4, 6, 0, time.UTC)},
		User: User{Email: "alice@corp.com", VendorID: "11446498", Name: "Alice"},
		File: File{ID: "12345", Name: "plan.xlsx", Directory: "/Finance", Path: "/Finance/plan.xlsx",
			Size: 2048, MimeType: "application/vnd.ms-excel", Category: CategorySpreadsheet,
			Owner: "alice@corp.com", Hash: Hash{SHA1: "85136c79cbf9fe36bb9d05d0639c70c265c18d37"}},
		Sharing: Sharing{LinkScope: LinkAnyone, Exposure: []Exposure{ExposurePublicLink}},
		Source:  Source{IP: "10.0.0.1"},
	}
	b, err := json.Marshal(&e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"@timestamp":"2026-11-21T10:04:05Z","event":{"id":"42","action":"file-shared","observer":"box","connection_id":"7","connection_name":"Box prod","inserted":"2026-11-21T10:04:06Z","count":2,"vendor_ids":["v1","v2"]},"user":{"email":"alice@corp.com","vendor_id":"11446498","name":"Alice"},"file":{"id":"12345","name":"plan.xlsx","directory":"/Finance","path":"/Finance/plan.xlsx","size":2048,"mime_type":"application/vnd.ms-excel","category":"spreadsheet","owner":"alice@corp.com","hash":{"sha1":"85136c79cbf9fe36bb9d05d0639c70c265c18d37"}},"sharing":{"link_scope":"anyone","exposure":["public_link"]},"source":{"ip":"10.0.0.1"}}`
	if string(b) != want {
		t.Errorf("JSON mismatch:\n got %s\nwant %s", b, want)
	}
	var back FileEvent
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(e, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestEmptyFieldsOmitted(t *testing.T) {
	e := FileEvent{Timestamp: time.Unix(0, 0).UTC(), Event: Meta{Action: ActionCreated, Observer: ObserverGmail}}
	b, _ := json.Marshal(&e)
	if got, want := string(b), `{"@timestamp":"1970-01-01T00:00:00Z","event":{"action":"file-created","observer":"gmail"}}`; got != want {
		t.Errorf("got %s want %s", got, want)
	}
}

func TestValidate(t *testing.T) {
	ok := FileEvent{Timestamp: time.Now(), Event: Meta{Action: ActionCreated, Observer: ObserverBox}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid event refused: %v", err)
	}
	for name, tc := range map[string]struct {
		mut  func(*FileEvent)
		want string
	}{
		"no time":      {func(e *FileEvent) { e.Timestamp = time.Time{} }, "@timestamp"},
		"bad action":   {func(e *FileEvent) { e.Event.Action = "file-eaten" }, "event.action"},
		"bad observer": {func(e *FileEvent) { e.Event.Observer = "dropbox" }, "event.observer"},
		"bad link":     {func(e *FileEvent) { e.Sharing.LinkScope = "world" }, "link_scope"},
		"bad exposure": {func(e *FileEvent) { e.Sharing.Exposure = []Exposure{"moon"} }, "exposure"},
		"bad severity": {func(e *FileEvent) { e.Risk.Severity = "urgent" }, "severity"},
		"upper md5":    {func(e *FileEvent) { e.File.Hash.MD5 = "D41D8CD98F00B204E9800998ECF8427E" }, "file.hash.md5"},
		"short sha256": {func(e *FileEvent) { e.File.Hash.SHA256 = "abc" }, "file.hash.sha256"},
	} {
		t.Run(name, func(t *testing.T) {
			e := ok
			tc.mut(&e)
			err := e.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func TestDedupeKey(t *testing.T) {
	a := FileEvent{Timestamp: time.Unix(1, 0), Event: Meta{Action: ActionCreated, Observer: ObserverBox, ConnectionID: 1, VendorIDs: []string{"x"}}}
	b := a
	b.Event.ID, b.Event.Inserted, b.User.Name = 9, time.Now(), "differs"
	if a.DedupeKey() != b.DedupeKey() {
		t.Error("same vendor id must give the same key")
	}
	c := a
	c.Event.ConnectionID = 2
	if a.DedupeKey() == c.DedupeKey() {
		t.Error("same vendor id on another connection must give another key")
	}
	d := a
	d.Event.VendorIDs = nil
	e := d
	e.Event.ID, e.Event.Inserted = 5, time.Now()
	if d.DedupeKey() != e.DedupeKey() {
		t.Error("content key must ignore store-assigned fields")
	}
	f := d
	f.File.Name = "other"
	if d.DedupeKey() == f.DedupeKey() {
		t.Error("content key must change with content")
	}
}

func TestCategoryOf(t *testing.T) {
	for _, tc := range []struct {
		name, mime string
		want       Category
	}{
		{"Q4 plan.XLSX", "", CategorySpreadsheet},
		{"deck.pptx", "application/octet-stream", CategoryPresentation},
		{"notes", "text/plain; charset=utf-8", CategoryDocument},
		{"scan", "application/pdf", CategoryPDF},
		{"photo", "image/heic", CategoryImage},
		{"main.go", "", CategorySourceCode},
		{"run.ps1", "", CategoryScript},
		{"disk.vmdk", "", CategoryVirtualDisk},
		{"setup.exe", "", CategoryExecutable},
		{"backup.tar.gz", "", CategoryArchive},
		{"mail.eml", "", CategoryEmail},
		{"x.unknownext", "application/x-thing", CategoryOther},
		{"", "", CategoryOther},
		{"sheet", "application/vnd.google-apps.spreadsheet", CategorySpreadsheet},
		// disk images by extension and MIME type (issue 16)
		{"usb.img", "", CategoryVirtualDisk},
		{"floppy.dsk", "", CategoryVirtualDisk},
		{"vm.hdd", "", CategoryVirtualDisk},
		{"disk", "application/x-virtualbox-vdi", CategoryVirtualDisk},
		{"disk", "application/x-vhd", CategoryVirtualDisk},
		{"disk", "application/x-qemu-disk", CategoryVirtualDisk},
		// scripts by MIME type before the generic source code of text/x-
		{"deploy", "text/x-shellscript", CategoryScript},
		{"setup", "application/x-powershell", CategoryScript},
		{"tool", "text/x-python", CategorySourceCode},
	} {
		if got := CategoryOf(tc.name, tc.mime); got != tc.want {
			t.Errorf("CategoryOf(%q, %q) = %q, want %q", tc.name, tc.mime, got, tc.want)
		}
	}
	for _, c := range Categories() {
		if !c.Valid() {
			t.Errorf("%q not valid", c)
		}
	}
}

func TestExposureBits(t *testing.T) {
	xs := []Exposure{ExposureOutsideTrustedDomain, ExposurePublicLink}
	got := ExposuresFromBits(ExposureBits(xs))
	if diff := cmp.Diff([]Exposure{ExposurePublicLink, ExposureOutsideTrustedDomain}, got); diff != "" {
		t.Error(diff)
	}
}

// TestHexDigest: a vendor's checksum is kept as lowercase hex of the right length, or dropped.
func TestHexDigest(t *testing.T) {
	for in, want := range map[string]string{
		"ABCDEF0123456789ABCDEF0123456789ABCDEF01": "abcdef0123456789abcdef0123456789abcdef01",
		"abc": "", "zzcdef0123456789abcdef0123456789abcdef01": "", "": "",
	} {
		if got := HexDigest(in, 40); got != want {
			t.Errorf("HexDigest(%q, 40) = %q, want %q", in, got, want)
		}
	}
}
