package forward

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sink sends formatted records to one destination.
type Sink interface {
	// Send returns once the destination acknowledged every record (HEC: indexer acks, when on;
	// syslog TCP/TLS: written and flushed; UDP: written). An error means the batch counts as not
	// delivered (some records may have arrived: the receiver dedupes on the event id).
	Send(ctx context.Context, recs []Record) error
	// Check verifies the destination answers and the credentials are accepted, sending nothing
	// that would be indexed as an event (HEC: an empty ack query; syslog: a connection).
	Check(ctx context.Context) error
	Close() error
}

// SendError is a failed send, with the destination's answer and what retrying can do.
type SendError struct {
	// Permanent: retrying the same batch cannot succeed until an admin changes something (a bad
	// token, a refused address, an answer that says the data is malformed).
	Permanent bool
	// RetryAfter is the wait the destination asked for (0: none).
	RetryAfter time.Duration
	Msg        string // what happened and what to do, with the destination's answer
}

func (e *SendError) Error() string { return e.Msg }

func permanent(format string, args ...any) error {
	return &SendError{Permanent: true, Msg: fmt.Sprintf(format, args...)}
}

func transient(format string, args ...any) error {
	return &SendError{Msg: fmt.Sprintf(format, args...)}
}

// isPermanent reports whether err says retrying cannot help.
func isPermanent(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Permanent
}
