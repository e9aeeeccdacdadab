// Package connection holds the rules of data connections (R1): the statuses a cloud or email
// connection moves through, which actions are allowed in each, and the Service that applies those
// actions to the store with a status history, maintenance hold-back, drive limits and retention.
//
// The state machine is pure data: Table lists every allowed (status, action) pair and Check
// consults it. Everything not listed is refused with ErrRefused and a message saying why and what
// to do instead.
package connection

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test them with errors.Is.
var (
	// ErrRefused: the action is not allowed in the connection's current status (HTTP 409).
	ErrRefused = errors.New("refused")
	// ErrInvalid: the input is invalid (HTTP 422).
	ErrInvalid = errors.New("invalid")
)

// kindError is an error whose message is exactly msg and that matches kind with errors.Is.
type kindError struct {
	msg   string
	kind  error
	field string // the request field it is about, if any
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// Field is the name of the request field the error is about ("" when none): the API lists it so
// that the console shows the message beside that field.
func (e *kindError) Field() string { return e.field }

func invalidField(field, format string, args ...any) error {
	return &kindError{msg: fmt.Sprintf(format, args...), kind: ErrInvalid, field: field}
}

func refused(format string, args ...any) error {
	return &kindError{msg: fmt.Sprintf(format, args...), kind: ErrRefused}
}

func invalid(format string, args ...any) error {
	return &kindError{msg: fmt.Sprintf(format, args...), kind: ErrInvalid}
}

// Status is the status of a cloud or email connection (R1.5), stored as its string value.
type Status string

// Statuses.
const (
	Searching     Status = "searching"
	Indexing      Status = "indexing" // cloud only: "Monitoring, indexing in progress"
	Monitoring    Status = "monitoring"
	Maintenance   Status = "maintenance"
	Error         Status = "error"
	Deauthorizing Status = "deauthorizing"
	Deauthorized  Status = "deauthorized"
	Deleting      Status = "deleting"
)

// Statuses lists every status in lifecycle order.
func Statuses() []Status {
	return []Status{Searching, Indexing, Monitoring, Maintenance, Error, Deauthorizing, Deauthorized, Deleting}
}

// Service types.
const (
	Cloud = "cloud"
	Email = "email"
)

// Label is the status as shown to people; serviceType is "cloud" or "email".
func (s Status) Label(serviceType string) string {
	switch s {
	case Searching:
		if serviceType == Email {
			return "Searching for email accounts"
		}
		return "Searching for drives"
	case Indexing:
		return "Monitoring, indexing in progress"
	case Monitoring:
		return "Monitoring"
	case Maintenance:
		return "Maintenance"
	case Error:
		return "Error"
	case Deauthorizing:
		return "Deauthorizing"
	case Deauthorized:
		return "Deauthorized"
	case Deleting:
		return "Deleting"
	}
	return string(s)
}

// Colour is the semantic colour of the status: info, success, warning, danger or neutral.
func (s Status) Colour() string {
	switch s {
	case Searching, Indexing:
		return "info"
	case Monitoring:
		return "success"
	case Maintenance:
		return "warning"
	case Error:
		return "danger"
	}
	return "neutral"
}

// describe is the status in a sentence: "the connection is <describe>".
func (s Status) describe(serviceType string) string {
	switch s {
	case Searching:
		if serviceType == Email {
			return "searching for email accounts"
		}
		return "searching for drives"
	case Indexing:
		return "indexing (monitoring, indexing in progress)"
	case Maintenance:
		return "in maintenance"
	case Error:
		return "in error"
	}
	return string(s)
}

// Action moves a connection from one status to another.
type Action string

// Admin actions.
const (
	ActionDeauthorize      Action = "deauthorize"
	ActionResume           Action = "resume"
	ActionStartMaintenance Action = "start_maintenance"
	ActionEndMaintenance   Action = "end_maintenance"
	ActionDelete           Action = "delete"
)

// System actions.
const (
	// ActionDiscovered: discovery finished (cloud: Indexing; email: Monitoring).
	ActionDiscovered Action = "discovered"
	// ActionIndexed: every drive is indexed (Indexing -> Monitoring).
	ActionIndexed Action = "indexed"
	// ActionNewDrives: new drives were discovered or added to scope (Monitoring -> Indexing, cloud only).
	ActionNewDrives Action = "new_drives"
	// ActionFail: most drives or mailboxes are inaccessible, the tenant is taken, or the drive limit is exceeded.
	ActionFail Action = "fail"
	// ActionRecover: the cause of the error is gone (Error -> Monitoring).
	ActionRecover Action = "recover"
	// ActionDeauthorized: access is revoked and collection stopped (Deauthorizing -> Deauthorized).
	ActionDeauthorized Action = "deauthorized"
	// ActionRetentionExpired: the retention period after deauthorization is over (Deauthorized -> Deleting).
	ActionRetentionExpired Action = "retention_expired"
)

// Actions lists every action.
func Actions() []Action {
	return []Action{ActionDeauthorize, ActionResume, ActionStartMaintenance, ActionEndMaintenance, ActionDelete,
		ActionDiscovered, ActionIndexed, ActionNewDrives, ActionFail, ActionRecover, ActionDeauthorized, ActionRetentionExpired}
}

// Rule allows Action from From, giving To. ServiceType "" applies to every service type; "cloud" or
// "email" restricts the rule to that type.
type Rule struct {
	From        Status
	Action      Action
	ServiceType string
	To          Status
}

// table is the whole state machine. Ending maintenance lists Monitoring as a placeholder: the
// Service returns to the stored previous status.
var table = []Rule{
	{Indexing, ActionDeauthorize, Cloud, Deauthorizing},
	{Monitoring, ActionDeauthorize, "", Deauthorizing},
	{Error, ActionDeauthorize, "", Deauthorizing},

	{Deauthorized, ActionResume, "", Searching},

	{Indexing, ActionStartMaintenance, Cloud, Maintenance},
	{Monitoring, ActionStartMaintenance, "", Maintenance},
	{Error, ActionStartMaintenance, "", Maintenance},
	{Maintenance, ActionEndMaintenance, "", Monitoring},

	{Deauthorized, ActionDelete, "", Deleting},

	{Searching, ActionDiscovered, Cloud, Indexing},
	{Searching, ActionDiscovered, Email, Monitoring},
	{Indexing, ActionIndexed, Cloud, Monitoring},
	{Monitoring, ActionNewDrives, Cloud, Indexing},

	{Searching, ActionFail, "", Error},
	{Indexing, ActionFail, Cloud, Error},
	{Monitoring, ActionFail, "", Error},
	{Error, ActionRecover, "", Monitoring},

	{Deauthorizing, ActionDeauthorized, "", Deauthorized},
	{Deauthorized, ActionRetentionExpired, "", Deleting},
}

// Table returns a copy of the state machine's rules.
func Table() []Rule {
	return append([]Rule(nil), table...)
}

// Check returns the status that action a leads to from status from, for a connection of the given
// service type, or an error wrapping ErrRefused that says why and what to do.
func Check(from Status, a Action, serviceType string) (Status, error) {
	for _, r := range table {
		if r.From == from && r.Action == a && (r.ServiceType == "" || r.ServiceType == serviceType) {
			return r.To, nil
		}
	}
	return "", refusal(from, a, serviceType)
}

func refusal(from Status, a Action, serviceType string) error {
	known := false
	for _, s := range Statuses() {
		known = known || s == from
	}
	if !known || (from == Indexing && serviceType != Cloud) {
		return refused("cannot %s: status %q is not a status of a %s connection", verb(a), from, serviceType)
	}
	state := from.describe(serviceType)
	hint := ""
	switch a {
	case ActionDeauthorize:
		switch from {
		case Searching:
			hint = "wait until discovery finishes, then deauthorize"
		case Maintenance:
			hint = "end maintenance first, then deauthorize"
		case Deauthorizing:
			hint = "deauthorization is already under way; wait until the connection is deauthorized"
		case Deauthorized:
			hint = "it is already deauthorized; resume it or delete it"
		case Deleting:
			hint = "it is being deleted"
		}
	case ActionResume:
		switch from {
		case Deauthorizing:
			hint = "wait until deauthorization finishes, then resume"
		case Deleting:
			hint = "it is being deleted; add a new connection instead"
		default:
			hint = "only a deauthorized connection can resume: deauthorize it first, then resume"
		}
	case ActionDelete:
		switch from {
		case Deleting:
			hint = "it is already being deleted"
		case Deauthorizing:
			hint = "wait until deauthorization finishes, then delete"
		default:
			hint = "only a deauthorized connection can be deleted: deauthorize it first, then delete"
		}
	case ActionStartMaintenance:
		switch from {
		case Searching:
			hint = "wait until discovery finishes, then start maintenance"
		case Maintenance:
			hint = "it is already in maintenance"
		default:
			hint = "maintenance applies only to a connection that is monitoring, indexing or in error; resume it first"
		}
	case ActionEndMaintenance:
		hint = "it is not in maintenance, so there is nothing to end"
	default:
		hint = "this system transition does not apply in this status"
	}
	return refused("cannot %s while the connection is %s: %s", verb(a), state, hint)
}

func verb(a Action) string {
	switch a {
	case ActionStartMaintenance:
		return "start maintenance"
	case ActionEndMaintenance:
		return "end maintenance"
	case ActionDiscovered:
		return "finish discovery"
	case ActionIndexed:
		return "finish indexing"
	case ActionNewDrives:
		return "index new drives"
	case ActionFail:
		return "move to error"
	case ActionRecover:
		return "recover from error"
	case ActionDeauthorized:
		return "finish deauthorization"
	case ActionRetentionExpired:
		return "expire retention"
	}
	return string(a)
}
