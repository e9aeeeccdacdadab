package api

import (
	"strconv"
	"time"

	"github.com/telltale-dev/telltale/internal/csvsafe"
	"github.com/telltale-dev/telltale/internal/event"
)

// appendCSVRow appends e as one CSV record of CSVHeader's columns, byte for byte what a
// csvsafe.Writer writes for the same fields (text cells that a spreadsheet would run as a formula get
// a quote in front; a field is quoted only when it needs to be), without making a string of every
// field first: the export writes 100,000 events a second and the allocations were a tenth of its
// CPU. Lists are joined with ";". Numbers, times and booleans are Telltale's own (never negative) and
// are appended as they are.
func appendCSVRow(b []byte, e *event.FileEvent) []byte {
	b = strconv.AppendInt(b, e.Event.ID, 10)
	b = appendCSVTime(append(b, ','), e.Timestamp)
	b = appendCSVTime(append(b, ','), e.Event.Inserted)
	b = appendCSVField(append(b, ','), string(e.Event.Action))
	b = appendCSVField(append(b, ','), string(e.Event.Observer))
	b = strconv.AppendInt(append(b, ','), e.Event.ConnectionID, 10)
	b = appendCSVField(append(b, ','), e.Event.ConnectionName)
	b = appendCSVField(append(b, ','), e.User.Email)
	b = appendCSVField(append(b, ','), e.File.ID)
	b = appendCSVField(append(b, ','), e.File.Name)
	b = appendCSVField(append(b, ','), e.File.Path)
	b = strconv.AppendInt(append(b, ','), e.File.Size, 10)
	b = appendCSVField(append(b, ','), e.File.Owner)
	b = appendCSVField(append(b, ','), string(e.File.Category))
	b = appendCSVField(append(b, ','), e.File.Hash.MD5)
	b = appendCSVField(append(b, ','), e.File.Hash.SHA256)
	b = appendCSVField(append(b, ','), e.File.Hash.SHA1)
	b = appendCSVField(append(b, ','), string(e.Sharing.LinkScope))
	b = appendCSVList(append(b, ','), e.Sharing.SharedWith)
	b = appendCSVList(append(b, ','), e.Sharing.Exposure)
	b = appendCSVList(append(b, ','), e.Email.Recipients)
	b = appendCSVField(append(b, ','), e.Email.Sender)
	b = appendCSVField(append(b, ','), e.Email.Subject)
	b = strconv.AppendBool(append(b, ','), e.Risk.Trusted)
	b = appendCSVField(append(b, ','), string(e.Risk.Severity))
	b = appendCSVField(append(b, ','), e.Source.IP)
	b = strconv.AppendInt(append(b, ','), int64(e.Event.Count), 10)
	b = appendCSVList(append(b, ','), e.Event.VendorIDs)
	return append(b, '\n')
}

// appendCSVTime appends t in RFC 3339 (UTC, nanoseconds as needed), or nothing for the zero time.
func appendCSVTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	return t.UTC().AppendFormat(b, time.RFC3339Nano)
}

// appendCSVList appends the items joined with ";" as one field.
func appendCSVList[S ~string](b []byte, items []S) []byte {
	switch len(items) {
	case 0:
		return b
	case 1:
		return appendCSVField(b, string(items[0]))
	}
	n := len(items) - 1
	for _, s := range items {
		n += len(s)
	}
	joined := make([]byte, 0, n)
	for i, s := range items {
		if i > 0 {
			joined = append(joined, ';')
		}
		joined = append(joined, s...)
	}
	return appendCSVField(b, string(joined))
}

// appendCSVField appends s as one neutralised CSV field (csvsafe.AppendField).
func appendCSVField(b []byte, s string) []byte { return csvsafe.AppendField(b, s) }
