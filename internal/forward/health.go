package forward

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

// The device and connection health streams (R8.7). Their records come from the device health rows
// (store.DeviceHealth: enrolled, checked in, outdated, silent, deactivated, reactivated) and the
// connections' status history (store.StatusChange), each followed by id with a position of its
// own per destination, like the alert and audit streams.
//
// OCSF classes (docs/ARCHITECTURE.md "Health streams"): a device's lifecycle (enrolled,
// deactivated, reactivated) is Entity Management (3004: Enroll, Disable, Enable) of a managed
// entity of type Device; what a check-in or its absence tells (checked in, outdated, silent) is
// Device Inventory Info (5001, activity Log): the device as the server last knew it. A
// connection's status change is Entity Management (3004, Update) of the connection as a managed
// entity: OCSF 1.8.0 has no health or status class, and Entity Management is the class for a
// change of a managed thing's state by an actor (an admin, or "system"); the status before and
// after go in the entity's data and entity_result, the severity follows the new status.

// DeviceHealthRecord is a device health row in the json format.
type DeviceHealthRecord struct {
	Type         string    `json:"type"` // "device_health"
	ID           int64     `json:"id"`
	At           time.Time `json:"at"`
	DeviceID     int64     `json:"device_id"`
	Health       string    `json:"health"` // enrolled, checked_in, outdated, silent, deactivated, reactivated
	HostName     string    `json:"host_name,omitempty"`
	OS           string    `json:"os,omitempty"`
	AgentVersion string    `json:"agent_version,omitempty"`
	Person       string    `json:"person,omitempty"`
	Outdated     bool      `json:"outdated"`
	SilentSince  time.Time `json:"silent_since,omitzero"`
	Actor        string    `json:"actor,omitempty"`
}

// ConnectionStatusRecord is a connection's status change in the json format.
type ConnectionStatusRecord struct {
	Type         string    `json:"type"` // "connection_status"
	ID           int64     `json:"id"`
	At           time.Time `json:"at"`
	ConnectionID int64     `json:"connection_id"`
	Connection   string    `json:"connection,omitempty"` // its name
	Service      string    `json:"service,omitempty"`
	From         string    `json:"from,omitempty"` // "" for the first entry (the connection was added)
	To           string    `json:"to"`
	Actor        string    `json:"actor,omitempty"`
	Reason       string    `json:"reason,omitempty"`
}

// deviceSeverity is a device health row's CEF severity and OCSF severity id and caption.
func deviceSeverity(kind string) (cef string, id int, name string) {
	switch kind {
	case store.DeviceSilent:
		return "5", 3, "Medium"
	case store.DeviceOutdated:
		return "4", 2, "Low"
	case store.DeviceDeactivated:
		return "3", 1, "Informational"
	}
	return "1", 1, "Informational"
}

// connectionSeverity is a status's CEF severity and OCSF severity id and caption.
func connectionSeverity(status string) (cef string, id int, name string) {
	switch status {
	case "Error", "Deauthorized":
		return "7", 4, "High"
	case "Disconnected", "Maintenance":
		return "5", 3, "Medium"
	}
	return "1", 1, "Informational"
}

// FormatDeviceHealth renders a device health row in format f.
func FormatDeviceHealth(f, version string, h *store.DeviceHealth) (Record, error) {
	r := Record{ID: h.ID, Time: h.At, Class: "device_health", IDName: "device_health_id"}
	var err error
	sev, _, _ := deviceSeverity(h.Kind)
	switch f {
	case FormatJSON:
		r.Body, err = json.Marshal(DeviceHealthRecord{Type: "device_health", ID: h.ID, At: h.At, DeviceID: h.DeviceID, Health: h.Kind, HostName: h.HostName,
			OS: h.OS, AgentVersion: h.AgentVersion, Person: h.Person, Outdated: h.Outdated, SilentSince: h.Since, Actor: h.Actor})
	case FormatCEF:
		r.Body = cefLine(version, "device:"+h.Kind, "Device "+strings.ReplaceAll(h.Kind, "_", " "), sev, func(kv func(k, v string)) {
			kv("externalId", strconv.FormatInt(h.ID, 10))
			kv("rt", strconv.FormatInt(h.At.UnixMilli(), 10))
			kv("cat", "device_health")
			kv("act", h.Kind)
			kv("deviceExternalId", strconv.FormatInt(h.DeviceID, 10))
			kv("dvchost", h.HostName)
			kv("duser", h.Person)
			kv("suser", h.Actor)
			kv("cs1Label", "agentVersion")
			kv("cs1", h.AgentVersion)
			kv("cs2Label", "os")
			kv("cs2", h.OS)
			kv("cs3Label", "outdated")
			kv("cs3", strconv.FormatBool(h.Outdated))
			if !h.Since.IsZero() {
				kv("start", strconv.FormatInt(h.Since.UnixMilli(), 10))
			}
		})
	case FormatOCSF:
		switch h.Kind {
		case store.DeviceEnrolled, store.DeviceDeactivated, store.DeviceReactivated:
			r.Class = "entity_management"
		default:
			r.Class = "inventory_info"
		}
		r.Body, err = json.Marshal(OCSFDeviceHealth(version, h))
	default:
		err = fmt.Errorf("forward: unknown format %q (want json, cef or ocsf)", f)
	}
	return r, err
}

// FormatConnectionStatus renders a connection's status change in format f; c is the connection
// (nil when it is gone).
func FormatConnectionStatus(f, version string, s *store.StatusChange, c *store.Connection) (Record, error) {
	r := Record{ID: s.ID, Time: s.At, Class: "connection_status", IDName: "status_change_id"}
	var name, service string
	if c != nil {
		name, service = c.Name, c.Service
	}
	sev, _, _ := connectionSeverity(s.To)
	var err error
	switch f {
	case FormatJSON:
		r.Body, err = json.Marshal(ConnectionStatusRecord{Type: "connection_status", ID: s.ID, At: s.At, ConnectionID: s.ConnectionID, Connection: name,
			Service: service, From: s.From, To: s.To, Actor: s.Actor, Reason: s.Reason})
	case FormatCEF:
		r.Body = cefLine(version, "connection:"+s.To, "Connection "+s.To, sev, func(kv func(k, v string)) {
			kv("externalId", strconv.FormatInt(s.ID, 10))
			kv("rt", strconv.FormatInt(s.At.UnixMilli(), 10))
			kv("cat", "connection_health")
			kv("act", s.To)
			kv("suser", s.Actor)
			kv("reason", s.Reason)
			kv("cn1Label", "connectionId")
			kv("cn1", strconv.FormatInt(s.ConnectionID, 10))
			kv("cs1Label", "connection")
			kv("cs1", name)
			kv("cs2Label", "fromStatus")
			kv("cs2", s.From)
			kv("cs3Label", "service")
			kv("cs3", service)
		})
	case FormatOCSF:
		r.Class = "entity_management"
		r.Body, err = json.Marshal(OCSFConnectionStatus(version, s, c))
	default:
		err = fmt.Errorf("forward: unknown format %q (want json, cef or ocsf)", f)
	}
	return r, err
}

// OCSF classes of the health streams.
const (
	ocsfCategoryIAM       = 3
	ocsfCategoryDiscovery = 5
	ocsfClassEntityMgmt   = 3004 // Entity Management
	ocsfClassInventory    = 5001 // Device Inventory Info
)

// OCSFDevice is the device object.
type OCSFDevice struct {
	UID          string      `json:"uid"`
	Hostname     string      `json:"hostname,omitempty"`
	TypeID       int         `json:"type_id"`
	Type         string      `json:"type"`
	OS           *OCSFOS     `json:"os,omitempty"`
	Owner        *OCSFUser   `json:"owner,omitempty"`
	AgentList    []OCSFAgent `json:"agent_list,omitempty"`
	IsManaged    bool        `json:"is_managed"`
	LastSeenTime int64       `json:"last_seen_time,omitempty"`
}

// OCSFOS is the os object.
type OCSFOS struct {
	Name   string `json:"name"`
	TypeID int    `json:"type_id"`
	Type   string `json:"type,omitempty"`
}

// OCSFAgent is the agent object: the Telltale endpoint agent.
type OCSFAgent struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	TypeID  int    `json:"type_id"`
	Type    string `json:"type"`
}

// OCSFEntity is the managed_entity object.
type OCSFEntity struct {
	UID    string         `json:"uid"`
	Name   string         `json:"name,omitempty"`
	TypeID int            `json:"type_id"`
	Type   string         `json:"type"`
	Device *OCSFDevice    `json:"device,omitempty"`
	Data   map[string]any `json:"data,omitempty"`
}

// OCSFDeviceInventory is a device health row as Device Inventory Info (5001).
type OCSFDeviceInventory struct {
	OCSFBase
	Device   OCSFDevice     `json:"device"`
	Unmapped map[string]any `json:"unmapped,omitempty"`
}

// OCSFEntityManagement is a device's lifecycle change or a connection's status change as Entity
// Management (3004).
type OCSFEntityManagement struct {
	OCSFBase
	Actor        *OCSFActor     `json:"actor,omitempty"`
	Entity       OCSFEntity     `json:"entity"`
	EntityResult *OCSFEntity    `json:"entity_result,omitempty"`
	Comment      string         `json:"comment,omitempty"`
	Unmapped     map[string]any `json:"unmapped,omitempty"`
}

// ocsfOS maps an OS name as the agent reports it to the os object.
func ocsfOS(name string) *OCSFOS {
	if name == "" {
		return nil
	}
	l := strings.ToLower(name)
	switch {
	case strings.Contains(l, "windows"):
		return &OCSFOS{Name: name, TypeID: 100, Type: "Windows"}
	case strings.Contains(l, "mac") || strings.Contains(l, "darwin"):
		return &OCSFOS{Name: name, TypeID: 300, Type: "macOS"}
	case strings.Contains(l, "linux"):
		return &OCSFOS{Name: name, TypeID: 200, Type: "Linux"}
	}
	return &OCSFOS{Name: name, TypeID: 99, Type: "Other"}
}

func ocsfDevice(h *store.DeviceHealth) OCSFDevice {
	d := OCSFDevice{UID: strconv.FormatInt(h.DeviceID, 10), Hostname: h.HostName, TypeID: 0, Type: "Unknown", OS: ocsfOS(h.OS), IsManaged: true,
		AgentList: []OCSFAgent{{Name: "Telltale agent", Version: h.AgentVersion, TypeID: 2, Type: "Data Loss Prevention"}}}
	if h.Person != "" {
		d.Owner = ocsfUser(h.Person, "", "")
	}
	switch h.Kind {
	case store.DeviceCheckedIn, store.DeviceOutdated:
		d.LastSeenTime = h.At.UnixMilli()
	case store.DeviceSilent:
		d.LastSeenTime = h.Since.UnixMilli()
	}
	return d
}

// OCSFDeviceHealth maps a device health row: lifecycle changes to Entity Management, the rest to
// Device Inventory Info (see above).
func OCSFDeviceHealth(version string, h *store.DeviceHealth) any {
	_, sevID, sev := deviceSeverity(h.Kind)
	base := OCSFBase{SeverityID: sevID, Severity: sev, Time: h.At.UnixMilli(),
		Metadata: ocsfMetadata(version, "device-health-"+strconv.FormatInt(h.ID, 10), "devices")}
	un := map[string]any{"health": h.Kind, "outdated": h.Outdated}
	switch h.Kind {
	case store.DeviceEnrolled, store.DeviceDeactivated, store.DeviceReactivated:
		base.CategoryUID, base.CategoryName, base.ClassUID, base.ClassName = ocsfCategoryIAM, "Identity & Access Management", ocsfClassEntityMgmt, "Entity Management"
		switch h.Kind {
		case store.DeviceEnrolled:
			base.ActivityID, base.ActivityName = 6, "Enroll"
		case store.DeviceDeactivated:
			base.ActivityID, base.ActivityName = 9, "Disable"
		default:
			base.ActivityID, base.ActivityName = 8, "Enable"
		}
		base.StatusID, base.Status = 1, "Success"
		base.Message = "device " + h.HostName + " " + h.Kind
		dev := ocsfDevice(h)
		o := &OCSFEntityManagement{OCSFBase: base, Entity: OCSFEntity{UID: "device/" + dev.UID, Name: h.HostName, TypeID: 1, Type: "Device", Device: &dev}, Unmapped: un}
		if h.Actor != "" {
			o.Actor = &OCSFActor{User: &OCSFUser{Name: h.Actor}}
		}
		o.setType()
		return o
	}
	base.CategoryUID, base.CategoryName, base.ClassUID, base.ClassName = ocsfCategoryDiscovery, "Discovery", ocsfClassInventory, "Device Inventory Info"
	base.ActivityID, base.ActivityName = 1, "Log"
	switch h.Kind {
	case store.DeviceSilent:
		base.Message = "device " + h.HostName + " silent: no check-in since " + h.Since.UTC().Format(time.RFC3339)
		un["silent_since"] = h.Since.UTC().Format(time.RFC3339)
	case store.DeviceOutdated:
		base.Message = "device " + h.HostName + " checked in with an outdated agent " + h.AgentVersion
	default:
		base.Message = "device " + h.HostName + " checked in"
	}
	o := &OCSFDeviceInventory{OCSFBase: base, Device: ocsfDevice(h), Unmapped: un}
	o.setType()
	return o
}

// OCSFConnectionStatus maps a connection's status change to Entity Management (Update, or Create
// for the first entry): the connection is the entity, its status before in entity and after in
// entity_result.
func OCSFConnectionStatus(version string, s *store.StatusChange, c *store.Connection) *OCSFEntityManagement {
	_, sevID, sev := connectionSeverity(s.To)
	o := &OCSFEntityManagement{OCSFBase: OCSFBase{ActivityID: 3, ActivityName: "Update", CategoryUID: ocsfCategoryIAM, CategoryName: "Identity & Access Management",
		ClassUID: ocsfClassEntityMgmt, ClassName: "Entity Management", SeverityID: sevID, Severity: sev, StatusID: 1, Status: "Success", Time: s.At.UnixMilli(),
		Metadata: ocsfMetadata(version, "status-change-"+strconv.FormatInt(s.ID, 10), "connections")}, Comment: s.Reason}
	uid := "connection/" + strconv.FormatInt(s.ConnectionID, 10)
	var name, service string
	if c != nil {
		name, service = c.Name, c.Service
	}
	if s.From == "" {
		o.ActivityID, o.ActivityName = 1, "Create"
	}
	o.Entity = OCSFEntity{UID: uid, Name: name, TypeID: 99, Type: "Connection", Data: map[string]any{"status": s.From, "service": service}}
	o.EntityResult = &OCSFEntity{UID: uid, Name: name, TypeID: 99, Type: "Connection", Data: map[string]any{"status": s.To, "service": service}}
	o.Message = "connection " + name + " " + s.From + " -> " + s.To
	if s.From == "" {
		o.Message = "connection " + name + " added: " + s.To
	}
	actor := s.Actor
	if actor == "" {
		actor = "system"
	}
	o.Actor = &OCSFActor{User: &OCSFUser{Name: actor}}
	o.Unmapped = map[string]any{"from_status": s.From, "to_status": s.To}
	o.setType()
	return o
}
