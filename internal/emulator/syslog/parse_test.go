package syslog

import (
	"strings"
	"testing"
	"time"
)

// TestParse: RFC 5424's own examples (section 6.5) parse; malformed messages are refused with
// the reason.
func TestParse(t *testing.T) {
	ok := map[string]func(m Message) bool{
		`<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - BOM'su root' failed for lonvick on /dev/pts/8`: func(m Message) bool {
			return m.Facility == 4 && m.Severity == 2 && m.Hostname == "mymachine.example.com" && m.AppName == "su" && m.ProcID == "" && m.MsgID == "ID47" &&
				m.SD == nil && strings.HasPrefix(m.Msg, "BOM'su root'") && m.Timestamp.Equal(time.Date(2003, 10, 11, 22, 14, 15, 3_000_000, time.UTC))
		},
		`<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.`: func(m Message) bool {
			return m.Facility == 20 && m.Severity == 5 && m.ProcID == "8710" && m.MsgID == "" && m.Msg == "%% It's time to make the do-nuts."
		},
		`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] BOMAn application event log entry...`: func(m Message) bool {
			return m.SD["exampleSDID@32473"]["eventID"] == "1011" && m.SD["exampleSDID@32473"]["iut"] == "3"
		},
		`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]`: func(m Message) bool {
			return m.SD["examplePriority@32473"]["class"] == "high" && m.Msg == ""
		},
		`<13>1 - - - - - [a@1 v="q\"b\\c\]d"] x`: func(m Message) bool { return m.SD["a@1"]["v"] == `q"b\c]d` && m.Timestamp.IsZero() },
	}
	for in, check := range ok {
		m, err := Parse([]byte(in))
		if err != nil || !check(m) {
			t.Errorf("%s: %+v %v", in, m, err)
		}
	}
	bad := map[string]string{
		`34>1 - - - - - -`:                                "<PRI>",
		`<192>1 - - - - - -`:                              "0..191",
		`<034>1 - - - - - -`:                              "leading zeros",
		`<34>2 - - - - - -`:                               "VERSION must be 1",
		`<34>1 2003-10-11 22:14:15Z h a - - -`:            "TIMESTAMP",
		`<34>1 2003-10-11T22:14:15.0000001Z h a - - -`:    "6 digits",
		`<34>1 2003-10-11t22:14:15Z h a - - -`:            "TIMESTAMP",
		`<34>1 - h a - - [x@1 v="a]"]`:                    "escaped",
		`<34>1 - h a - - [x@1 v="a"][x@1 w="b"]`:          "twice",
		`<34>1 - h a - - x`:                               "STRUCTURED-DATA",
		`<34>1 - h a - ` + strings.Repeat("m", 33) + ` -`: "longer than 32",
		`<34>1 - h a - - -x`:                              "SP before MSG",
		"<34>1 - h a - - - \xff":                          "UTF-8",
	}
	for in, want := range bad {
		if _, err := Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error about %q", in, err, want)
		}
	}
}

// TestParseCEF: the escapes of the CEF specification in header and extension, and refusals.
func TestParseCEF(t *testing.T) {
	c, err := ParseCEF(`CEF:0|Se\|curity|threat\\manager|1.0|100|detected a \| in message|10|src=10.0.0.1 act=blocked a \= dst=1.1.1.1 msg=line1\nline2 with spaces cs1=a\\b`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Vendor != "Se|curity" || c.Product != `threat\manager` || c.Name != "detected a | in message" || c.Severity != "10" ||
		c.Ext["act"] != "blocked a =" || c.Ext["msg"] != "line1\nline2 with spaces" || c.Ext["cs1"] != `a\b` || c.Ext["dst"] != "1.1.1.1" {
		t.Errorf("%+v", c)
	}
	for in, want := range map[string]string{
		`LEEF:1|a|b|c|d|`:          "CEF:",
		`CEF:0|a|b|c|d|e`:          "header fields",
		`CEF:0|a|b|c|d|e|1|k=a=b`:  "unescaped =",
		`CEF:0|a\x|b|c|d|e|1|`:     "backslash",
		`CEF:0|a|b|c|d|e|1|k=a\qb`: "bad escape",
	} {
		if _, err := ParseCEF(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}
