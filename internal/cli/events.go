package cli

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/csvsafe"
)

// labelHeader names the label column of groups by dimension by.
func labelHeader(by string) string {
	if by == "file" {
		return "NAME" // a file's latest name; the key is its id
	}
	return "LABEL"
}

// withTimes adds --after/--before to a query.
func withTimes(q, after, before string) string {
	parts := []string{}
	if strings.TrimSpace(q) != "" {
		parts = append(parts, q)
	}
	if after != "" {
		parts = append(parts, "after:"+after)
	}
	if before != "" {
		parts = append(parts, "before:"+before)
	}
	return strings.Join(parts, " ")
}

func (e *env) eventsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "events", Short: "Search, inspect, group and export file events (query language: docs/SEARCH.md)"}
	var after, before, sortBy, format, checkpoint, by string
	var limit int
	var asc bool
	search := &cobra.Command{
		Use:   "search [QUERY]",
		Short: "Search file events, newest first",
		Example: `  telltale events search 'actor:alice@corp.com action:file-shared exposure:public_link' --after 7d
  telltale events search 'name:*.xlsx size>10MB' -o csv --limit 1000`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			q := withTimes(strings.Join(args, " "), after, before)
			return e.searchAndPrint(cmd, c, q, sortBy, asc, limit)
		},
	}
	search.Flags().StringVar(&after, "after", "", "observed at or after (2026-11-01, RFC 3339, or 7d / 24h ago)")
	search.Flags().StringVar(&before, "before", "", "observed before")
	search.Flags().IntVar(&limit, "limit", 100, "at most this many events (pages through as needed)")
	search.Flags().StringVar(&sortBy, "sort", "observed", "observed, inserted or id")
	search.Flags().BoolVar(&asc, "asc", false, "oldest first")

	get := &cobra.Command{
		Use: "get ID", Short: "Show one event with its file's timeline", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			d, err := c.Event(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			f, err := outputFormat(cmd)
			if err != nil {
				return err
			}
			if f == "json" {
				return render(cmd, e.stdout, table{value: d})
			}
			tl, err := timeline(d.Event, d.Timeline)
			if err != nil {
				return err
			}
			if f == "csv" {
				return render(cmd, e.stdout, tl)
			}
			// Table: every field of the event (what JSON shows), then the file's timeline.
			fields, err := fieldRows(d.Event)
			if err != nil {
				return err
			}
			if err := writeTable(e.stdout, table{headers: []string{"FIELD", "VALUE"}, rows: fields}); err != nil {
				return err
			}
			if len(d.Timeline) == 0 {
				fmt.Fprintln(e.stdout, "\nNo other events of this file.")
				return nil
			}
			fmt.Fprintf(e.stdout, "\nTimeline of this file, oldest first (* marks this event):\n")
			return writeTable(e.stdout, tl)
		},
	}
	group := &cobra.Command{
		Use:   "group [QUERY] --by actor|file|destination|action|day",
		Short: "Count matching events by one dimension, largest first",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			res, err := c.GroupEvents(cmd.Context(), client.GroupRequest{Query: withTimes(strings.Join(args, " "), after, before), By: by, Limit: limit})
			if err != nil {
				return err
			}
			// Only files have labels (their latest name): a LABEL column that is always empty
			// is left out.
			labels := slices.ContainsFunc(res.Groups, func(g client.Group) bool { return g.Label != "" })
			t := table{headers: []string{strings.ToUpper(res.By), "COUNT"}, value: res}
			if labels {
				t.headers = append(t.headers, labelHeader(res.By))
			}
			for _, g := range res.Groups {
				row := []string{g.Key, strconv.FormatInt(g.Count, 10)}
				if labels {
					label := g.Label
					if strings.HasPrefix(g.Key, "folder:") {
						label = withSlash(label)
					}
					row = append(row, label)
				}
				t.rows = append(t.rows, row)
			}
			return render(cmd, e.stdout, t)
		},
	}
	group.Flags().StringVar(&by, "by", "actor", "actor, file, destination, action or day")
	group.Flags().IntVar(&limit, "limit", 100, "at most this many groups")
	group.Flags().StringVar(&after, "after", "", "observed at or after")
	group.Flags().StringVar(&before, "before", "", "observed before")

	export := &cobra.Command{
		Use:   "export [QUERY] --format csv|jsonl [--checkpoint NAME]",
		Short: "Stream every matching event to standard output",
		Long: `Stream every matching event to standard output as CSV or JSON lines, in insertion order, in
constant memory. With --checkpoint NAME only the events stored since the last run of NAME are sent,
so a scheduled job gets every event exactly once, including ones stored late with an old observed
time. The checkpoint is acknowledged as output is written (every 10,000 events or 2 seconds, and at
the end); on Ctrl-C or SIGTERM the export stops after a complete record and acknowledges exactly
what it wrote, so the next run resumes without loss or repeat. A stream cut short (the connection
closes, the server stops mid-record, or nothing comes for --idle-timeout) fails after writing
whole records only and acknowledging them: the same command continues from there. An export has no
total time limit. Progress goes to standard error when it is a terminal.`,
		Example: `  telltale events export 'exposure:public_link' --format csv > public-links.csv
  telltale events export --format jsonl --checkpoint siem >> /var/spool/siem/telltale.jsonl`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			return e.export(cmd.Context(), c, client.ExportRequest{Query: withTimes(strings.Join(args, " "), after, before), Format: format, Checkpoint: checkpoint})
		},
	}
	export.Flags().StringVar(&format, "format", "csv", "csv or jsonl")
	export.Flags().StringVar(&checkpoint, "checkpoint", "", "name of an incremental export: only events stored since its last run")
	export.Flags().StringVar(&after, "after", "", "observed at or after")
	export.Flags().StringVar(&before, "before", "", "observed before")
	cmd.AddCommand(search, get, group, export, e.checkpointsCmd())
	return cmd
}

// checkpointsCmd manages the checkpoints of incremental exports: each belongs to the user who
// created it (an admin sees and changes every one).
func (e *env) checkpointsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "checkpoints", Short: "List, reset and delete your incremental exports' checkpoints"}
	list := &cobra.Command{
		Use: "list", Short: "List your checkpoints (an admin sees every one)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			cs, err := c.Checkpoints(cmd.Context())
			if err != nil {
				return err
			}
			t := table{headers: []string{"NAME", "AFTER ID", "OWNER", "UPDATED"}, value: cs}
			for _, x := range cs {
				t.rows = append(t.rows, []string{x.Name, x.AfterID, x.Owner, ts(x.UpdatedAt)})
			}
			return render(cmd, e.stdout, t)
		},
	}
	reset := &cobra.Command{
		Use:   "reset NAME [AFTER_ID]",
		Short: "Move a checkpoint to an event id, backwards too (default 0: the next export starts over)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			after := "0"
			if len(args) == 2 {
				after = args[1]
			}
			x, err := c.ResetCheckpoint(cmd.Context(), args[0], after)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "checkpoint %q now after event %s: the next export starts there\n", x.Name, x.AfterID)
			return nil
		},
	}
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a checkpoint", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			if err := c.DeleteCheckpoint(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "deleted checkpoint %q\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(list, reset, del)
	return cmd
}

func (e *env) searchAndPrint(cmd *cobra.Command, c *client.Client, q, sortBy string, asc bool, limit int) error {
	order := "desc"
	if asc {
		order = "asc"
	}
	t := table{headers: eventHeaders}
	var items []json.RawMessage
	cursor := ""
	var res client.SearchResult
	for len(items) < limit {
		var err error
		res, err = c.SearchEvents(cmd.Context(), client.SearchRequest{Query: q, Sort: sortBy, Order: order, Limit: min(limit-len(items), 10000), Cursor: cursor})
		if err != nil {
			var p *client.Problem
			if errors.As(err, &p) && p.Position != nil {
				return fmt.Errorf("%s\n  %s\n  %s^", p.Detail, q, strings.Repeat(" ", *p.Position))
			}
			return err
		}
		items = append(items, res.Items...)
		if res.NextCursor == "" {
			break
		}
		cursor = res.NextCursor
	}
	for _, raw := range items {
		row, err := eventRow(raw)
		if err != nil {
			return err
		}
		t.rows = append(t.rows, row)
	}
	t.value = items
	if err := render(cmd, e.stdout, t); err != nil {
		return err
	}
	if f, _ := outputFormat(cmd); f == "table" {
		more := ""
		if res.TotalIsMin {
			more = "at least "
		}
		fmt.Fprintf(e.stderr, "%d shown of %s%d matching\n", len(items), more, res.Total)
	}
	return nil
}

// export streams an export to stdout record by record, acknowledging the checkpoint only for records
// completely written. However the stream ends early (the server closes it, the idle timeout, a
// record cut off at the end, Ctrl-C), the output holds whole records only and the checkpoint stands
// at the last one, so the same command continues from there without loss or repeat.
func (e *env) export(ctx context.Context, c *client.Client, req client.ExportRequest) error {
	body, err := c.ExportEvents(ctx, req)
	if err != nil {
		return err
	}
	defer body.Close()
	out := bufio.NewWriterSize(e.stdout, 256<<10)
	var lastID string
	var n int64
	lastAck := time.Now()
	ack := func() error {
		if err := out.Flush(); err != nil {
			return err
		}
		if f, ok := e.stdout.(*os.File); ok {
			f.Sync() // best effort: pipes cannot sync
		}
		if req.Checkpoint == "" || lastID == "" {
			return nil
		}
		_, err := c.AckCheckpoint(context.WithoutCancel(ctx), req.Checkpoint, lastID)
		lastAck = time.Now()
		return err
	}
	// interrupted acknowledges what was written and says where the export stopped.
	interrupted := func(cause error) error {
		aerr := ack()
		where := "before the first event"
		if lastID != "" {
			where = "after event " + lastID
		}
		switch {
		case aerr != nil:
			return fmt.Errorf("export interrupted %s (%d events written; acknowledging them failed: %v, so the next run repeats some): %w", where, n, aerr, cause)
		case req.Checkpoint != "":
			return fmt.Errorf("export interrupted %s (%d events written and acknowledged: the same command continues from there): %w", where, n, cause)
		default:
			return fmt.Errorf("export interrupted %s (%d events written): %w", where, n, cause)
		}
	}
	progress := isTerminal(e.stderr)
	tick := func() error {
		n++
		if progress && n%1000 == 0 {
			fmt.Fprintf(e.stderr, "\r%d events", n)
		}
		if n%10000 == 0 || time.Since(lastAck) > 2*time.Second {
			return ack()
		}
		return nil
	}
	stopped := func() bool { return ctx.Err() != nil }
	if req.Format == "jsonl" {
		rd := bufio.NewReaderSize(body, 256<<10)
		for !stopped() {
			line, err := rd.ReadBytes('\n')
			if err == nil { // a complete record: the server ends each with a newline
				var id struct {
					Event struct {
						ID string `json:"id"`
					} `json:"event"`
				}
				if jerr := json.Unmarshal(line, &id); jerr != nil {
					return interrupted(fmt.Errorf("malformed record: %v", jerr))
				}
				if _, werr := out.Write(line); werr != nil {
					return werr
				}
				lastID = id.Event.ID
				if terr := tick(); terr != nil {
					return terr
				}
				continue
			}
			if errors.Is(err, io.EOF) {
				if len(line) > 0 {
					return interrupted(errCutRecord)
				}
				break
			}
			if stopped() {
				break
			}
			return interrupted(err)
		}
	} else {
		tail := &tailReader{r: body}
		rd := csv.NewReader(tail)
		rd.FieldsPerRecord = 0 // as many as the header: fewer is a record cut short
		// The server neutralised the cells already; csvsafe keeps it so if the rows are copied
		// from an older server (neutralising twice changes nothing).
		w := csvsafe.NewWriter(out)
		header := true
		for !stopped() {
			rec, err := rd.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				if stopped() {
					break
				}
				w.Flush()
				return interrupted(err)
			}
			// csv takes a last line without its newline for a record: at the end of the stream
			// that is a record cut off.
			if tail.eof && rd.InputOffset() == tail.n && tail.last != '\n' {
				w.Flush()
				return interrupted(errCutRecord)
			}
			if err := w.Write(rec); err != nil {
				return err
			}
			if header {
				header = false
				continue
			}
			lastID = rec[0]
			w.Flush()
			if err := tick(); err != nil {
				return err
			}
		}
		w.Flush()
	}
	if err := ack(); err != nil {
		return err
	}
	if progress {
		fmt.Fprintf(e.stderr, "\r%d events\n", n)
	}
	if stopped() {
		fmt.Fprintf(e.stderr, "export stopped after event %s; %d events written and acknowledged\n", lastID, n)
	}
	return nil
}

// errCutRecord is a stream that ended inside a record: the server stopped early.
var errCutRecord = errors.New("the stream ended in the middle of a record: the server stopped early")

// tailReader remembers how many bytes came, the last one, and whether the stream ended.
type tailReader struct {
	r    io.Reader
	n    int64
	last byte
	eof  bool
}

func (t *tailReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.n += int64(n)
		t.last = p[n-1]
	}
	if err == io.EOF {
		t.eof = true
	}
	return n, err
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (e *env) searchesCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "searches", Short: "Saved searches"}
	list := &cobra.Command{
		Use: "list", Short: "List saved searches", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			ss, err := c.SavedSearches(cmd.Context())
			if err != nil {
				return err
			}
			t := table{headers: []string{"ID", "NAME", "QUERY", "OWNER"}, value: ss}
			for _, s := range ss {
				t.rows = append(t.rows, []string{s.ID, s.Name, s.Query, s.Owner})
			}
			return render(cmd, e.stdout, t)
		},
	}
	save := &cobra.Command{
		Use: "save NAME QUERY", Short: "Save a query under a name", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			s, err := c.SaveSearch(cmd.Context(), client.SavedSearchInput{Name: args[0], Query: args[1]})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "saved %q as %s\n", s.Name, s.ID)
			return nil
		},
	}
	var limit int
	run := &cobra.Command{
		Use: "run NAME", Short: "Run a saved search", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			ss, err := c.SavedSearches(cmd.Context())
			if err != nil {
				return err
			}
			for _, s := range ss {
				if strings.EqualFold(s.Name, strings.TrimSpace(args[0])) || s.ID == args[0] {
					return e.searchAndPrint(cmd, c, s.Query, "observed", false, limit)
				}
			}
			return fmt.Errorf("no saved search named %q: see `telltale searches list`", args[0])
		},
	}
	run.Flags().IntVar(&limit, "limit", 100, "at most this many events")
	cmd.AddCommand(list, save, run)
	return cmd
}
