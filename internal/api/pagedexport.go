package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"

	"github.com/telltale-dev/telltale/internal/csvsafe"
)

// listExportPage is how many items a list's export holds at a time: its memory, whatever the total.
const listExportPage = 500

// exportFormat reads a list export's format parameter: csv (the default) or jsonl.
func exportFormat(r *http.Request) (string, error) {
	switch format := r.URL.Query().Get("format"); format {
	case "":
		return "csv", nil
	case "csv", "jsonl":
		return format, nil
	default:
		return "", invalidField("format", "%q is not csv or jsonl", format)
	}
}

// pagedExport is the body of a list's export (alerts, audit): pages read newest first by next,
// each item written as a CSV row (under header) or a JSON line, flushed page by page.
type pagedExport[T any] struct {
	format string // csv or jsonl
	name   string // the file name's stem
	header []string
	// next returns up to limit items older than before (0: the newest).
	next func(ctx context.Context, before int64, limit int) ([]T, error)
	id   func(T) int64
	row  func(T) []string
	wire func(T) any
}

func (p pagedExport[T]) body(ctx context.Context) rawBody {
	ctype := "text/csv; charset=utf-8"
	if p.format == "jsonl" {
		ctype = "application/x-ndjson"
	}
	return rawBody{contentType: ctype, filename: p.name + "." + p.format, write: func(w io.Writer) error {
		cw := csvsafe.NewWriter(w)
		if p.format == "csv" {
			if err := cw.Write(p.header); err != nil {
				return err
			}
		}
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		var before int64
		for {
			items, err := p.next(ctx, before, listExportPage)
			if err != nil {
				return err
			}
			for _, it := range items {
				if p.format == "jsonl" {
					err = enc.Encode(p.wire(it))
				} else {
					err = cw.Write(p.row(it))
				}
				if err != nil {
					return err
				}
			}
			cw.Flush()
			if err := cw.Error(); err != nil {
				return err
			}
			if len(items) < listExportPage {
				return nil
			}
			before = p.id(items[len(items)-1])
		}
	}}
}
