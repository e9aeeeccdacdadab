package syslog

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Message is a parsed RFC 5424 message.
type Message struct {
	Facility, Severity int
	Version            int
	Timestamp          time.Time // zero for the NILVALUE
	Hostname           string    // "" for the NILVALUE
	AppName            string
	ProcID             string
	MsgID              string
	// SD maps SD-ID -> param name -> value (unescaped).
	SD  map[string]map[string]string
	Msg string
}

// Parse parses one RFC 5424 message strictly (section 6's ABNF): PRI, VERSION 1, a TIMESTAMP
// with the restrictions of section 6.2.3, header fields of printable US-ASCII within their
// lengths, structured data with escaped param values, and a UTF-8 MSG (an optional BOM dropped).
func Parse(b []byte) (Message, error) {
	var m Message
	p := &parser{s: string(b)}
	if !p.eat('<') {
		return m, p.fail("a message starts with <PRI>")
	}
	pri, ok := p.digits(1, 3)
	if !ok || !p.eat('>') {
		return m, p.fail("PRI is 1 to 3 digits in angle brackets")
	}
	n, _ := strconv.Atoi(pri)
	if n > 191 || (len(pri) > 1 && pri[0] == '0') {
		return m, p.fail("PRI must be 0..191 without leading zeros")
	}
	m.Facility, m.Severity = n/8, n%8
	v, ok := p.digits(1, 2)
	if !ok || v[0] == '0' {
		return m, p.fail("VERSION must follow PRI")
	}
	m.Version, _ = strconv.Atoi(v)
	if m.Version != 1 {
		return m, p.fail("VERSION must be 1")
	}
	if !p.eat(' ') {
		return m, p.fail("SP after VERSION")
	}
	ts, err := p.field("TIMESTAMP", 64)
	if err != nil {
		return m, err
	}
	if ts != "-" {
		if m.Timestamp, err = parseTimestamp(ts); err != nil {
			return m, p.fail(err.Error())
		}
	}
	for _, f := range []struct {
		name string
		max  int
		dst  *string
	}{{"HOSTNAME", 255, &m.Hostname}, {"APP-NAME", 48, &m.AppName}, {"PROCID", 128, &m.ProcID}, {"MSGID", 32, &m.MsgID}} {
		if !p.eat(' ') {
			return m, p.fail("SP before " + f.name)
		}
		s, err := p.field(f.name, f.max)
		if err != nil {
			return m, err
		}
		if s != "-" {
			*f.dst = s
		}
	}
	if !p.eat(' ') {
		return m, p.fail("SP before STRUCTURED-DATA")
	}
	if m.SD, err = p.structured(); err != nil {
		return m, err
	}
	if p.i == len(p.s) {
		return m, nil
	}
	if !p.eat(' ') {
		return m, p.fail("SP before MSG")
	}
	msg := strings.TrimPrefix(p.s[p.i:], "\ufeff")
	if !utf8.ValidString(msg) {
		return m, p.fail("MSG is not UTF-8")
	}
	m.Msg = msg
	return m, nil
}

type parser struct {
	s string
	i int
}

func (p *parser) fail(what string) error {
	return fmt.Errorf("rfc5424: at byte %d: %s", p.i, what)
}

func (p *parser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) digits(min, max int) (string, bool) {
	j := p.i
	for j < len(p.s) && j-p.i < max && p.s[j] >= '0' && p.s[j] <= '9' {
		j++
	}
	if j-p.i < min {
		return "", false
	}
	s := p.s[p.i:j]
	p.i = j
	return s, true
}

// field reads 1..max PRINTUSASCII characters (33..126).
func (p *parser) field(name string, max int) (string, error) {
	j := p.i
	for j < len(p.s) && p.s[j] >= 33 && p.s[j] <= 126 {
		j++
	}
	if j == p.i {
		return "", p.fail(name + " is empty (use - for none)")
	}
	if j-p.i > max {
		return "", p.fail(fmt.Sprintf("%s is longer than %d characters", name, max))
	}
	s := p.s[p.i:j]
	p.i = j
	return s, nil
}

func parseTimestamp(s string) (time.Time, error) {
	// FULL-DATE "T" PARTIAL-TIME TIME-OFFSET, TIME-SECFRAC at most 6 digits, T and Z upper case.
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, errors.New("TIMESTAMP is not RFC 3339 (e.g. 2026-12-01T10:04:05.123Z)")
	}
	if strings.ContainsAny(s, "tz") {
		return t, errors.New("TIMESTAMP must use upper-case T and Z")
	}
	if i := strings.IndexByte(s, '.'); i >= 0 {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j-i-1 > 6 {
			return t, errors.New("TIME-SECFRAC has more than 6 digits")
		}
	}
	return t, nil
}

// structured reads "-" or one or more SD-ELEMENTs.
func (p *parser) structured() (map[string]map[string]string, error) {
	if p.eat('-') {
		return nil, nil
	}
	sd := map[string]map[string]string{}
	if p.i >= len(p.s) || p.s[p.i] != '[' {
		return nil, p.fail("STRUCTURED-DATA is - or [SD-ID ...]")
	}
	for p.eat('[') {
		id, err := p.sdName("SD-ID")
		if err != nil {
			return nil, err
		}
		if _, dup := sd[id]; dup {
			return nil, p.fail("SD-ID " + id + " appears twice")
		}
		params := map[string]string{}
		for p.eat(' ') {
			name, err := p.sdName("PARAM-NAME")
			if err != nil {
				return nil, err
			}
			if !p.eat('=') || !p.eat('"') {
				return nil, p.fail(`PARAM-NAME="value"`)
			}
			var b strings.Builder
			for {
				if p.i >= len(p.s) {
					return nil, p.fail("PARAM-VALUE not closed")
				}
				c := p.s[p.i]
				if c == '"' {
					p.i++
					break
				}
				if c == ']' {
					return nil, p.fail(`] must be escaped as \] in PARAM-VALUE`)
				}
				if c == '\\' && p.i+1 < len(p.s) && strings.IndexByte(`"\]`, p.s[p.i+1]) >= 0 {
					b.WriteByte(p.s[p.i+1])
					p.i += 2
					continue
				}
				b.WriteByte(c)
				p.i++
			}
			if !utf8.ValidString(b.String()) {
				return nil, p.fail("PARAM-VALUE is not UTF-8")
			}
			params[name] = b.String()
		}
		if !p.eat(']') {
			return nil, p.fail("] closes an SD-ELEMENT")
		}
		sd[id] = params
	}
	return sd, nil
}

// sdName reads an SD-NAME: 1..32 PRINTUSASCII except = SP ] ".
func (p *parser) sdName(what string) (string, error) {
	j := p.i
	for j < len(p.s) && p.s[j] >= 33 && p.s[j] <= 126 && strings.IndexByte(`= ]"`, p.s[j]) < 0 {
		j++
	}
	if j == p.i || j-p.i > 32 {
		return "", p.fail(what + " is 1 to 32 printable characters without = ] \" or space")
	}
	s := p.s[p.i:j]
	p.i = j
	return s, nil
}

// CEF is a parsed CEF line.
type CEF struct {
	Version                                                 int
	Vendor, Product, DeviceVersion, ClassID, Name, Severity string
	Ext                                                     map[string]string
}

// ParseCEF parses a CEF:0 line: seven header fields separated by unescaped pipes (\| and \\
// escapes), then key=value extensions whose values end where the next " key=" begins (\=, \\,
// \n and \r escapes). An unescaped = in a value, or a header field with a bad escape, is an error.
func ParseCEF(line string) (CEF, error) {
	var c CEF
	rest, ok := strings.CutPrefix(line, "CEF:")
	if !ok {
		return c, errors.New("cef: the line does not start with CEF:")
	}
	var fields []string
	var b strings.Builder
	i := 0
	for ; i < len(rest) && len(fields) < 7; i++ {
		ch := rest[i]
		switch {
		case ch == '\\':
			if i+1 >= len(rest) || (rest[i+1] != '\\' && rest[i+1] != '|') {
				return c, fmt.Errorf("cef: header field %d: a backslash must escape \\ or |", len(fields)+1)
			}
			b.WriteByte(rest[i+1])
			i++
		case ch == '|':
			fields = append(fields, b.String())
			b.Reset()
		case ch == '\n' || ch == '\r':
			return c, errors.New("cef: a line break in the header")
		default:
			b.WriteByte(ch)
		}
	}
	if len(fields) < 7 {
		return c, fmt.Errorf("cef: %d header fields, want 7", len(fields))
	}
	v, err := strconv.Atoi(fields[0])
	if err != nil {
		return c, errors.New("cef: the version is not a number")
	}
	c.Version, c.Vendor, c.Product, c.DeviceVersion, c.ClassID, c.Name, c.Severity = v, fields[1], fields[2], fields[3], fields[4], fields[5], fields[6]
	c.Ext = map[string]string{}
	ext := rest[i:]
	for len(ext) > 0 {
		eq := strings.IndexByte(ext, '=')
		if eq <= 0 {
			return c, fmt.Errorf("cef: extension %q has no key=", ext)
		}
		key := ext[:eq]
		for _, r := range key {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '[' || r == ']') {
				return c, fmt.Errorf("cef: extension key %q", key)
			}
		}
		ext = ext[eq+1:]
		var val strings.Builder
		j := 0
		for j < len(ext) {
			ch := ext[j]
			if ch == '\\' && j+1 < len(ext) {
				switch ext[j+1] {
				case '\\', '=':
					val.WriteByte(ext[j+1])
				case 'n':
					val.WriteByte('\n')
				case 'r':
					val.WriteByte('\r')
				default:
					return c, fmt.Errorf("cef: extension %s: bad escape \\%c", key, ext[j+1])
				}
				j += 2
				continue
			}
			if ch == '=' {
				return c, fmt.Errorf("cef: extension %s: an unescaped = in its value", key)
			}
			if ch == '\n' || ch == '\r' {
				return c, fmt.Errorf("cef: extension %s: a raw line break in its value", key)
			}
			if ch == ' ' && nextIsKey(ext[j+1:]) {
				break
			}
			val.WriteByte(ch)
			j++
		}
		if _, dup := c.Ext[key]; dup {
			return c, fmt.Errorf("cef: extension key %s twice", key)
		}
		c.Ext[key] = val.String()
		if j < len(ext) {
			j++ // the space
		}
		ext = ext[j:]
	}
	return c, nil
}

// nextIsKey: s starts with key= (a key is word characters).
func nextIsKey(s string) bool {
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch == '=' {
			return i > 0
		}
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '.' || ch == '[' || ch == ']') {
			return false
		}
	}
	return false
}
