// Package googledrive is the Google Drive data connector (service google_drive). This part reads
// the Admin SDK Reports API's Drive audit activities (GET
// admin/reports/v1/activity/users/all/applications/drive) and maps each to Telltale file events with
// the pure function Adapt; the live connector (Drive changes per drive, the Reports API as a
// time-windowed tenant feed merged into them) builds on it.
package googledrive

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/connector/kit/records"
)

// This file holds the wire shape of a Reports API activity (schema Activity of
// admin/reports/v1/admin-api.json): id {time, uniqueQualifier, applicationName, customerId}, actor
// {email, profileId, callerType, key}, ipAddress, ownerDomain, events[] {type, name, parameters[]
// {name, value | intValue | boolValue | multiValue | multiIntValue | messageValue}}. Decoding is done
// field by field: unknown fields are ignored (Google adds some every few months: networkInfo,
// resourceDetails, isAgenticAction), null is the same as absent, int64 fields may be JSON strings (as
// the discovery document says) or numbers, and only a wrong type on a field the adapter relies on
// (id.time, events, an event's name, a parameter's name) makes an activity undecodable.

// Activity is one Reports API activity record.
type Activity struct {
	Time            time.Time
	UniqueQualifier string // int64 as text
	Application     string // "drive"
	Customer        string
	ActorEmail      string
	ActorProfileID  string
	CallerType      string // USER, KEY (an app), ...
	ActorKey        string // the app's key when CallerType is KEY
	IP              string
	OwnerDomain     string
	Events          []Event
}

// Event is one event of an activity: one user action may be reported as several events, of which
// only some are primary (parameter primary_event).
type Event struct {
	Type   string // access, acl_change, ...
	Name   string // create, edit, change_user_access, ...
	Params map[string]Param
}

// Param is one event parameter's value, whichever of the API's value fields carried it.
type Param struct {
	Value string   // value, or intValue as text, or boolValue as "true"/"false"
	Multi []string // multiValue, or multiIntValue as text
}

// Str returns the named parameter's value ("" when absent): its value, or else the first of its
// multiValue. Drive sends some parameters as lists (the appendix's "list of strings": old_value and
// new_value, the move's source_folder_title and destination_folder_title).
func (e Event) Str(name string) string {
	p := e.Params[name]
	if p.Value == "" && len(p.Multi) > 0 {
		return p.Multi[0]
	}
	return p.Value
}

// Bool reports the named boolean parameter and whether it was given.
func (e Event) Bool(name string) (v, ok bool) {
	p, ok := e.Params[name]
	if !ok || p.Value == "" {
		return false, false
	}
	return p.Value == "true", true
}

// DecodeActivity decodes one activity object.
func DecodeActivity(raw []byte) (Activity, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil || top == nil {
		return Activity{}, fmt.Errorf("google drive activity: want a JSON object, got %s", records.Kind(raw))
	}
	return decodeFields(top)
}

func decodeFields(top map[string]json.RawMessage) (Activity, error) {
	var a Activity
	var id map[string]json.RawMessage
	if err := object(top["id"], &id); err != nil {
		return a, fmt.Errorf("google drive activity: id: %w", err)
	}
	ts, err := records.String(id["time"])
	if err != nil {
		return a, fmt.Errorf("google drive activity: id.time: %w", err)
	}
	if ts == "" {
		return a, fmt.Errorf("google drive activity: id.time is missing: every activity has one")
	}
	if a.Time, err = time.Parse(time.RFC3339Nano, ts); err != nil {
		return a, fmt.Errorf("google drive activity: id.time %q is not RFC 3339", ts)
	}
	a.Time = a.Time.UTC()
	a.UniqueQualifier = records.Scalar(id["uniqueQualifier"])
	a.Application = records.Scalar(id["applicationName"])
	a.Customer = records.Scalar(id["customerId"])
	var actor map[string]json.RawMessage
	if object(top["actor"], &actor) == nil {
		a.ActorEmail = strings.ToLower(records.Scalar(actor["email"]))
		a.ActorProfileID = records.Scalar(actor["profileId"])
		a.CallerType = records.Scalar(actor["callerType"])
		a.ActorKey = records.Scalar(actor["key"])
	}
	a.IP = records.Scalar(top["ipAddress"])
	a.OwnerDomain = strings.ToLower(records.Scalar(top["ownerDomain"]))
	var evs []json.RawMessage
	if raw := top["events"]; !records.IsNull(raw) {
		if err := json.Unmarshal(raw, &evs); err != nil {
			return a, fmt.Errorf("google drive activity: events: want an array, got %s", records.Kind(raw))
		}
	}
	for i, raw := range evs {
		e, err := decodeEvent(raw)
		if err != nil {
			return a, fmt.Errorf("google drive activity: events[%d]: %w", i, err)
		}
		a.Events = append(a.Events, e)
	}
	return a, nil
}

func decodeEvent(raw json.RawMessage) (Event, error) {
	var m map[string]json.RawMessage
	if err := object(raw, &m); err != nil {
		return Event{}, err
	}
	var e Event
	var err error
	if e.Name, err = records.String(m["name"]); err != nil {
		return e, fmt.Errorf("name: %w", err)
	}
	e.Type = records.Scalar(m["type"])
	var ps []json.RawMessage
	if raw := m["parameters"]; !records.IsNull(raw) {
		if err := json.Unmarshal(raw, &ps); err != nil {
			return e, fmt.Errorf("parameters: want an array, got %s", records.Kind(raw))
		}
	}
	e.Params = make(map[string]Param, len(ps))
	for i, raw := range ps {
		var pm map[string]json.RawMessage
		if err := object(raw, &pm); err != nil {
			return e, fmt.Errorf("parameters[%d]: %w", i, err)
		}
		name, err := records.String(pm["name"])
		if err != nil || name == "" {
			return e, fmt.Errorf("parameters[%d]: name: want a non-empty string", i)
		}
		var p Param
		switch {
		case !records.IsNull(pm["value"]):
			p.Value = records.Scalar(pm["value"])
		case !records.IsNull(pm["intValue"]):
			p.Value = records.Scalar(pm["intValue"])
		case !records.IsNull(pm["boolValue"]):
			p.Value = records.Scalar(pm["boolValue"])
		}
		for _, k := range []string{"multiValue", "multiIntValue"} {
			var xs []json.RawMessage
			if json.Unmarshal(pm[k], &xs) == nil {
				for _, x := range xs {
					p.Multi = append(p.Multi, records.Scalar(x))
				}
			}
		}
		e.Params[name] = p
	}
	return e, nil
}

// object decodes an object; absent or null is an empty object.
func object(raw json.RawMessage, into *map[string]json.RawMessage) error {
	if records.IsNull(raw) {
		*into = map[string]json.RawMessage{}
		return nil
	}
	if err := json.Unmarshal(raw, into); err != nil || *into == nil {
		return fmt.Errorf("want an object, got %s", records.Kind(raw))
	}
	return nil
}
