package sqldb

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// unmarshalDoc decodes a stored event document (type doc). It reads the shape Telltale writes
// (objects of one-letter keys holding strings without escapes, integers and arrays of such
// strings) without encoding/json, which was a quarter of an export's CPU: it validates the whole
// document, then decodes it by reflection. Anything else (an escape, an unknown key, another
// type) makes it hand the whole document to encoding/json, so the result is always what
// json.Unmarshal gives (TestUnmarshalDocMatchesEncodingJSON, FuzzUnmarshalDoc).
func unmarshalDoc(js []byte, d *doc) error {
	p := docParser{b: js}
	if p.doc(d) && p.end() {
		return nil
	}
	*d = doc{}
	return json.Unmarshal(js, d)
}

// docParser reads one document; each method reports false when it meets something outside the
// fast path.
type docParser struct {
	b []byte
	i int
}

func (p *docParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *docParser) byte(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *docParser) end() bool {
	p.ws()
	return p.i == len(p.b)
}

// str reads a string without escapes or control characters, in valid UTF-8 (encoding/json
// replaces invalid bytes, so those take the slow path).
func (p *docParser) str() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	start, ascii := p.i, true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			raw := p.b[start:p.i]
			if !ascii && !utf8.Valid(raw) {
				return "", false
			}
			p.i++
			return string(raw), true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= 0x80:
			ascii = false
		}
		p.i++
	}
	return "", false
}

// key reads an object key and its colon.
func (p *docParser) key() (string, bool) {
	k, ok := p.str()
	return k, ok && p.byte(':')
}

// int reads an integer (no fraction, no exponent).
func (p *docParser) int() (int64, bool) {
	p.ws()
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	digits := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	if p.i-digits > 1 && p.b[digits] == '0' {
		return 0, false // a leading zero is not JSON
	}
	n, err := strconv.ParseInt(string(p.b[start:p.i]), 10, 64)
	if err != nil || (p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E')) {
		return 0, false
	}
	return n, true
}

// strs reads an array of strings.
func (p *docParser) strs() ([]string, bool) {
	if !p.byte('[') {
		return nil, false
	}
	out := []string{}
	if p.byte(']') {
		return out, true
	}
	for {
		s, ok := p.str()
		if !ok {
			return nil, false
		}
		out = append(out, s)
		if p.byte(']') {
			return out, true
		}
		if !p.byte(',') {
			return nil, false
		}
	}
}

// object reads {"k": v, ...}, calling field for each key; field reads the value.
func (p *docParser) object(field func(k string) bool) bool {
	if !p.byte('{') {
		return false
	}
	if p.byte('}') {
		return true
	}
	for {
		k, ok := p.key()
		if !ok || !field(k) {
			return false
		}
		if p.byte('}') {
			return true
		}
		if !p.byte(',') {
			return false
		}
	}
}

// strField reads a string value into *dst.
func (p *docParser) strField(dst *string) bool {
	s, ok := p.str()
	*dst = s
	return ok
}

// strPtrField reads a string value into a new *string.
func (p *docParser) strPtrField(dst **string) bool {
	s, ok := p.str()
	*dst = &s
	return ok
}

func (p *docParser) strsField(dst *[]string) bool {
	v, ok := p.strs()
	*dst = v
	return ok
}

// reasons reads an array of {"i": indicator, "w": weight, "y": why} objects.
func (p *docParser) reasons(dst *[]docReason) bool {
	if !p.byte('[') {
		return false
	}
	out := []docReason{}
	if p.byte(']') {
		*dst = out
		return true
	}
	for {
		var r docReason
		if !p.object(func(k string) bool {
			switch k {
			case "i":
				return p.strField(&r.I)
			case "w":
				n, ok := p.int()
				r.W = int(n)
				return ok && int64(r.W) == n
			case "y":
				return p.strField(&r.Y)
			}
			return false
		}) {
			return false
		}
		out = append(out, r)
		if p.byte(']') {
			*dst = out
			return true
		}
		if !p.byte(',') {
			return false
		}
	}
}

func (p *docParser) doc(d *doc) bool {
	return p.object(func(k string) bool {
		switch k {
		case "e":
			return p.object(func(k string) bool {
				switch k {
				case "c":
					n, ok := p.int()
					d.E.C = int(n)
					return ok && int64(d.E.C) == n
				case "v":
					return p.strsField(&d.E.V)
				case "f":
					return p.strsField(&d.E.F)
				case "p":
					return p.strsField(&d.E.P)
				}
				return false
			})
		case "u":
			return p.object(func(k string) bool {
				switch k {
				case "v":
					return p.strField(&d.U.V)
				case "n":
					return p.strField(&d.U.N)
				}
				return false
			})
		case "f":
			return p.object(func(k string) bool {
				f := &d.F
				switch k {
				case "p":
					return p.strPtrField(&f.P)
				case "m":
					return p.strPtrField(&f.M)
				case "c":
					n, ok := p.int()
					f.C = n
					return ok
				case "d":
					n, ok := p.int()
					f.D = n
					return ok
				case "u":
					return p.strField(&f.U)
				case "r":
					return p.strField(&f.R)
				case "o":
					return p.strField(&f.O)
				case "q":
					return p.strField(&f.Q)
				case "s":
					return p.strField(&f.S)
				case "x":
					return p.strField(&f.X)
				}
				return false
			})
		case "s":
			return p.object(func(k string) bool {
				switch k {
				case "w":
					return p.strsField(&d.S.W)
				case "t":
					return p.strsField(&d.S.T)
				case "d":
					return p.strsField(&d.S.D)
				}
				return false
			})
		case "m":
			return p.object(func(k string) bool {
				m := &d.M
				switch k {
				case "s":
					return p.strField(&m.S)
				case "f":
					return p.strField(&m.F)
				case "r":
					return p.strsField(&m.R)
				case "j":
					return p.strField(&m.J)
				case "i":
					return p.strField(&m.I)
				}
				return false
			})
		case "o":
			return p.object(func(k string) bool {
				switch k {
				case "i":
					return p.strField(&d.O.I)
				case "a":
					return p.strField(&d.O.A)
				}
				return false
			})
		case "r":
			return p.object(func(k string) bool {
				switch k {
				case "r":
					return p.strField(&d.R.R)
				case "i":
					return p.strsField(&d.R.I)
				case "s":
					n, ok := p.int()
					d.R.S = int(n)
					return ok && int64(d.R.S) == n
				case "w":
					return p.reasons(&d.R.W)
				}
				return false
			})
		}
		return false
	})
}
