package microsoft

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// auditField is one row of a table in the Management Activity API schema
// (o365-mgmt-api-schema.md): name, type class and Mandatory.
type auditField struct {
	name      string
	typ       string // guid, int, date, string, bool, coll
	mandatory bool
}

// The schema's tables the emulator's Audit.SharePoint records use, copied from
// ../shared/vendor/microsoft/o365-mgmt-api-schema.md ("Common schema", "SharePoint Base
// schema", "SharePoint file operations", "SharePoint Sharing schema"). TestAuditSchemaTable
// checks this copy against the document when it is there.
var (
	auditCommon = []auditField{
		{"Id", "guid", true}, {"RecordType", "int", true}, {"CreationTime", "date", true}, {"Operation", "string", true},
		{"OrganizationId", "guid", true}, {"UserType", "int", true}, {"UserKey", "string", true}, {"Workload", "string", true},
		{"ResultStatus", "string", false}, {"ObjectId", "string", false}, {"UserId", "string", true}, {"ClientIP", "string", true},
		{"Scope", "int", false}, {"AppAccessContext", "coll", false},
	}
	auditSharePointBase = []auditField{
		{"Site", "guid", false}, {"ItemType", "string", false}, {"EventSource", "string", false}, {"SourceName", "string", false},
		{"UserAgent", "string", false}, {"MachineDomainInfo", "string", false}, {"MachineId", "string", false},
		{"ListItemUniqueId", "guid", false}, {"ListId", "guid", false}, {"ApplicationId", "string", false},
		{"ApplicationDisplayName", "string", false}, {"IsWorkflow", "bool", false},
	}
	auditFileOps = []auditField{
		{"SiteUrl", "string", true}, {"SourceRelativeUrl", "string", false}, {"SourceFileName", "string", true},
		{"SourceFileExtension", "string", false}, {"DestinationRelativeUrl", "string", false}, {"DestinationFileName", "string", false},
		{"DestinationFileExtension", "string", false}, {"UserSharedWith", "string", false}, {"SharingType", "string", false},
		{"SourceLabel", "string", false}, {"DestinationLabel", "string", false}, {"SensitivityLabelOwnerEmail", "string", false},
		{"SensitivityLabelId", "string", false},
	}
	auditSharing = []auditField{
		{"TargetUserOrGroupName", "string", false}, {"TargetUserOrGroupType", "string", false}, {"EventData", "string", false},
		{"SiteUrl", "string", false}, {"SourceRelativeUrl", "string", false}, {"SourceFileName", "string", false},
		{"SourceFileExtension", "string", false}, {"UniqueSharingId", "string", false},
	}
	// "Exchange Mailbox schema", "ExchangeMailboxAuditRecord schema" and the complex types its
	// Send records use.
	auditExchangeMailbox = []auditField{
		{"LogonType", "int", true}, {"InternalLogonType", "int", true}, {"MailboxGuid", "string", false}, {"MailboxOwnerUPN", "string", false},
		{"MailboxOwnerSid", "string", false}, {"MailboxOwnerMasterAccountSid", "string", false}, {"LogonUserSid", "string", false},
		{"LogonUserDisplayName", "string", false}, {"ExternalAccess", "bool", true}, {"OriginatingServer", "string", false},
		{"OrganizationName", "string", false}, {"ClientInfoString", "string", false}, {"ClientIPAddress", "string", false},
		{"ClientMachineName", "string", false}, {"ClientProcessName", "string", false}, {"ClientVersion", "string", false},
		{"SessionId", "string", false}, {"AppId", "string", false}, {"ClientAppId", "string", false}, {"HostAppId", "string", false},
		{"OperationProperties", "coll", false}, {"ClientRequestId", "string", false}, {"ExternalUserTenantId", "string", false},
		{"ActorIP", "string", false}, {"ActorInfoString", "string", false}, {"DeviceId", "string", false},
		{"CloudInstanceName", "string", false}, {"TokenObjectId", "string", false}, {"TokenTenantId", "string", false},
		{"AuthType", "string", false}, {"TokenType", "string", false}, {"recipientCount", "int", false},
		{"recipientList", "coll:EmailAddress", false},
	}
	auditExchangeRecord = []auditField{
		{"Item", "object:ExchangeItem", false}, {"ModifiedProperties", "coll", false}, {"MbxLoginLocalQueueADLookupInfo", "object", false},
		{"SendAsUserSmtp", "string", false}, {"SendAsUserMailboxGuid", "guid", false}, {"SendOnBehalfOfUserSmtp", "string", false},
		{"SendOnBehalfOfUserMailboxGuid", "guid", false}, {"ContactEmail1EmailAddress", "string", false},
		{"ContactEmail1DisplayName", "string", false}, {"ContactEmail2EmailAddress", "string", false},
		{"ContactEmail2DisplayName", "string", false}, {"ContactEmail3EmailAddress", "string", false},
		{"ContactEmail3DisplayName", "string", false}, {"AttachmentId", "string", false}, {"AttachmentSizeInBytes", "int", false},
		{"SaveToSentItems", "bool", false}, {"Teams", "object", false},
	}
	auditComplex = map[string][]auditField{
		"ExchangeItem": {{"Id", "string", true}, {"Subject", "string", false}, {"ParentFolder", "object:ExchangeFolder", false},
			{"ParentMessage", "object", false}, {"Attachments", "string", false}, {"ImmutableId", "string", false},
			{"InternetMessageId", "string", false}, {"ComplianceLabel", "string", false}, {"IsRecord", "bool", false},
			{"IsPriorityCleanup", "bool", false}, {"SizeInBytes", "int", false}, {"Sensitivity", "string", false}},
		"ExchangeFolder": {{"Id", "string", true}, {"Path", "string", false}, {"Name", "string", false}, {"MemberSid", "string", false},
			{"MemberRights", "string", false}, {"MemberUpn", "string", false}},
		"EmailAddress": {{"Address", "string", false}, {"Name", "string", false}},
	}
	// Enumerations of the schema the records use.
	auditRecordTypes = map[int]string{2: "ExchangeItem", 4: "SharePoint", 6: "SharePointFileOperation", 7: "OneDrive", 14: "SharePointSharingOperation"}
	auditItemTypes   = map[string]bool{"Invalid": true, "File": true, "Folder": true, "web": true, "Site": true, "Tenant": true, "DocumentLibrary": true, "Page": true}
	auditEventSource = map[string]bool{"SharePoint": true, "ObjectModel": true}
	auditTargetTypes = map[string]bool{"Member": true, "Guest": true, "Group": true, "Partner": true}
)

// auditSchemaFor is the fields a record of a record type may carry: the common schema, the
// SharePoint base schema and the file operations (6) or sharing (14) schema; or the Exchange
// mailbox schemas (2).
func auditSchemaFor(recordType int) (map[string]auditField, error) {
	var tables [][]auditField
	switch recordType {
	case 6:
		tables = [][]auditField{auditCommon, auditSharePointBase, auditFileOps}
	case 14:
		tables = [][]auditField{auditCommon, auditSharePointBase, auditSharing}
	case 2:
		tables = [][]auditField{auditCommon, auditExchangeMailbox, auditExchangeRecord}
	default:
		return nil, fmt.Errorf("RecordType %d: not a SharePoint file or sharing operation nor an Exchange item", recordType)
	}
	out := map[string]auditField{}
	for _, t := range tables {
		for _, f := range t {
			out[f.name] = f
		}
	}
	return out, nil
}

var creationTimeRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$`)

// checkAuditRecord validates one Audit.SharePoint record strictly: every key is a field of its
// record type's schema (a renamed field fails), every mandatory field is there, values have the
// field's type, enumerations hold their members, and ObjectId is SiteUrl + folder + name.
func checkAuditRecord(raw json.RawMessage) error {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("a record that is not an object: %.80s", raw)
	}
	rt, ok := m["RecordType"].(float64)
	if !ok {
		return fmt.Errorf("no RecordType: %.120s", raw)
	}
	schema, err := auditSchemaFor(int(rt))
	if err != nil {
		return err
	}
	id, _ := m["Id"].(string)
	if err := checkFields(fmt.Sprintf("record %s (%v)", id, m["Operation"]), m, schema); err != nil {
		return err
	}
	if _, ok := auditRecordTypes[int(rt)]; !ok {
		return fmt.Errorf("record %s: RecordType %v", id, rt)
	}
	if n := m["UserType"].(float64); n < 0 || n > 10 {
		return fmt.Errorf("record %s: UserType %v", id, n)
	}
	if s, ok := m["ItemType"].(string); ok && !auditItemTypes[s] {
		return fmt.Errorf("record %s: ItemType %q", id, s)
	}
	if s, ok := m["EventSource"].(string); ok && !auditEventSource[s] {
		return fmt.Errorf("record %s: EventSource %q", id, s)
	}
	if s, ok := m["TargetUserOrGroupType"].(string); ok && !auditTargetTypes[s] {
		return fmt.Errorf("record %s: TargetUserOrGroupType %q", id, s)
	}
	if _, err := time.Parse(auditTimeFmt, m["CreationTime"].(string)); err != nil {
		return fmt.Errorf("record %s: CreationTime %v", id, m["CreationTime"])
	}
	if rt == 2 {
		if n, _ := m["LogonType"].(float64); n < 0 || n > 6 {
			return fmt.Errorf("record %s: LogonType %v", id, m["LogonType"])
		}
		return nil
	}
	// "The combination of the values for the SiteURL, SourceRelativeURL, and SourceFileName
	// parameters is the same as the value for the ObjectID property" (for a move or copy, the
	// Destination ones).
	folder, name := m["SourceRelativeUrl"], m["SourceFileName"]
	if d, ok := m["DestinationFileName"]; ok {
		folder, name = m["DestinationRelativeUrl"], d
	}
	if obj, want := m["ObjectId"], fmt.Sprint(m["SiteUrl"], folder, "/", name); obj != want {
		return fmt.Errorf("record %s: ObjectId %v is not %s", id, obj, want)
	}
	return nil
}

// TestAuditSchemaTable checks the tables above against the schema document, when it is there
// (../shared/vendor/microsoft beside the repository): same fields, same Mandatory.
func TestAuditSchemaTable(t *testing.T) {
	f, err := os.Open("../../../../shared/vendor/microsoft/o365-mgmt-api-schema.md")
	if err != nil {
		t.Skip("the schema document is not beside the repository:", err)
	}
	defer f.Close()
	sections := map[string][]auditField{"## Common schema": auditCommon, "## SharePoint Base schema": auditSharePointBase,
		"## SharePoint file operations": auditFileOps, "## SharePoint Sharing schema": auditSharing,
		"## Exchange Mailbox schema": auditExchangeMailbox, "### ExchangeMailboxAuditRecord schema": auditExchangeRecord,
		"### ExchangeItem complex type": auditComplex["ExchangeItem"], "### ExchangeFolder complex type": auditComplex["ExchangeFolder"],
		"### EmailAddress complex type": auditComplex["EmailAddress"]}
	doc := map[string]map[string]bool{}
	var cur string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") || strings.HasPrefix(line, "### ") {
			cur = ""
			if _, ok := sections[strings.TrimSpace(line)]; ok {
				cur = strings.TrimSpace(line)
				doc[cur] = map[string]bool{}
			}
			continue
		}
		if cur == "" || !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 5 || strings.HasPrefix(cells[1], "Parameter") || strings.HasPrefix(cells[1], "---") {
			continue
		}
		doc[cur][strings.TrimSpace(cells[1])] = strings.TrimSpace(cells[3]) == "Yes"
	}
	for sec, fields := range sections {
		got := doc[sec]
		if len(got) != len(fields) {
			t.Errorf("%s: %d fields in the document, %d in the table", sec, len(got), len(fields))
		}
		for _, fl := range fields {
			if mand, ok := got[fl.name]; !ok || mand != fl.mandatory {
				t.Errorf("%s: %s (mandatory %v) is not so in the document (%v, %v)", sec, fl.name, fl.mandatory, ok, mand)
			}
		}
	}
}

// checkFields checks an object's keys against a table: declared, mandatory ones present, values
// of the field's type; "object:T" and "coll:T" fields are checked against complex type T.
func checkFields(where string, m map[string]any, schema map[string]auditField) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f, ok := schema[k]
		if !ok {
			return fmt.Errorf("%s: %s is not a field of the schema", where, k)
		}
		v := m[k]
		bad := false
		typ, sub, _ := strings.Cut(f.typ, ":")
		switch typ {
		case "guid":
			s, _ := v.(string)
			bad = !guidRe.MatchString(s)
		case "int":
			n, ok := v.(float64)
			bad = !ok || n != float64(int(n))
		case "date":
			s, _ := v.(string)
			bad = !creationTimeRe.MatchString(s)
		case "string":
			_, ok := v.(string)
			bad = !ok
		case "bool":
			_, ok := v.(bool)
			bad = !ok
		case "object":
			o, ok := v.(map[string]any)
			bad = !ok
			if ok && sub != "" {
				if err := checkFields(where+"."+k, o, fieldMap(auditComplex[sub])); err != nil {
					return err
				}
			}
		case "coll":
			arr, ok := v.([]any)
			bad = !ok
			for i, x := range arr {
				o, ok := x.(map[string]any)
				if sub != "" && !ok {
					bad = true
				}
				if ok && sub != "" {
					if err := checkFields(fmt.Sprintf("%s.%s[%d]", where, k, i), o, fieldMap(auditComplex[sub])); err != nil {
						return err
					}
				}
			}
		}
		if bad {
			return fmt.Errorf("%s: %s is %#v, not a %s", where, k, v, f.typ)
		}
	}
	for _, f := range schema {
		if _, ok := m[f.name]; f.mandatory && !ok {
			return fmt.Errorf("%s: mandatory %s missing", where, f.name)
		}
	}
	return nil
}

func fieldMap(fs []auditField) map[string]auditField {
	out := map[string]auditField{}
	for _, f := range fs {
		out[f.name] = f
	}
	return out
}
