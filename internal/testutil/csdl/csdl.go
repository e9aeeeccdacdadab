// Package csdl validates JSON answers strictly against an OData CSDL (XML) document: Microsoft
// Graph's v1.0 metadata (testdata/graph-v1.0-metadata.xml.gz, loaded by Graph), the schema
// Graph's SDKs and OpenAPI description are generated from. The Microsoft emulator checks every
// Graph answer it gives against it. It is test support; only tests import it.
//
// Strict means: every key of a JSON object is a property or navigation property declared on its
// type or one of its base types (BaseType chains are followed), or an instance annotation
// ("@odata.context", "@odata.nextLink", "@odata.type", "@microsoft.graph.sharedChanged", ...):
// a renamed field fails. Open types are treated as closed: a dynamic property would have to be
// declared to pass. "@odata.type" switches the check to the named type, which must derive from
// the declared one. Values must have their declared types: Edm.String a string, Edm.Boolean a
// boolean, Edm.Int16/32/64 integers, Edm.Double numbers, Edm.DateTimeOffset RFC 3339 strings,
// Edm.Guid GUIDs, Edm.Binary base64, enum types one of their members, Collection(T) arrays of T,
// complex and entity types objects checked recursively; null only where Nullable is not false.
// Errors name the JSON path (value[3].file.hashes.quickXorHash) and the type.
package csdl

import (
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

// Prop is a property or navigation property.
type Prop struct {
	Name     string
	Type     string // full names: "Edm.String", "Collection(microsoft.graph.hashes)"
	Nullable bool
	Nav      bool
}

// Type is an entity or complex type.
type Type struct {
	Name     string // full name, e.g. "microsoft.graph.driveItem"
	Base     string // full name of the base type, "" for none
	Entity   bool
	Abstract bool
	Open     bool // OpenType="true" (not honoured: see the package doc)
	Props    map[string]Prop
}

// Model is a parsed CSDL document.
type Model struct {
	types map[string]*Type
	enums map[string]map[string]bool
}

// Parse reads a CSDL document.
func Parse(r io.Reader) (*Model, error) {
	m := &Model{types: map[string]*Type{}, enums: map[string]map[string]bool{}}
	dec := xml.NewDecoder(r)
	var ns, alias string
	var cur *Type
	var enum map[string]bool
	type pending struct {
		t    *Type
		prop Prop
		ns   string
		al   string
	}
	aliases := map[string]string{}
	var raw []pending
	var bases []struct {
		t            *Type
		base, ns, al string
	}
	attr := func(se xml.StartElement, name string) string {
		for _, a := range se.Attr {
			if a.Name.Local == name {
				return a.Value
			}
		}
		return ""
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch el := tok.(type) {
		case xml.StartElement:
			switch el.Name.Local {
			case "Schema":
				ns, alias = attr(el, "Namespace"), attr(el, "Alias")
				if alias != "" {
					aliases[alias] = ns
				}
			case "EntityType", "ComplexType":
				cur = &Type{Name: ns + "." + attr(el, "Name"), Entity: el.Name.Local == "EntityType",
					Abstract: attr(el, "Abstract") == "true", Open: attr(el, "OpenType") == "true", Props: map[string]Prop{}}
				m.types[cur.Name] = cur
				if b := attr(el, "BaseType"); b != "" {
					bases = append(bases, struct {
						t            *Type
						base, ns, al string
					}{cur, b, ns, alias})
				}
			case "EnumType":
				enum = map[string]bool{}
				m.enums[ns+"."+attr(el, "Name")] = enum
			case "Member":
				if enum != nil {
					enum[attr(el, "Name")] = true
				}
			case "Property", "NavigationProperty":
				if cur != nil {
					p := Prop{Name: attr(el, "Name"), Type: attr(el, "Type"), Nullable: attr(el, "Nullable") != "false", Nav: el.Name.Local == "NavigationProperty"}
					raw = append(raw, pending{cur, p, ns, alias})
				}
			}
		case xml.EndElement:
			switch el.Name.Local {
			case "EntityType", "ComplexType":
				cur = nil
			case "EnumType":
				enum = nil
			}
		}
	}
	resolve := func(name, ns, al string) string {
		coll := strings.HasPrefix(name, "Collection(")
		if coll {
			name = strings.TrimSuffix(strings.TrimPrefix(name, "Collection("), ")")
		}
		if i := strings.LastIndex(name, "."); i > 0 {
			if full, ok := aliases[name[:i]]; ok {
				name = full + name[i:]
			}
		}
		if coll {
			return "Collection(" + name + ")"
		}
		return name
	}
	for _, b := range bases {
		b.t.Base = resolve(b.base, b.ns, b.al)
	}
	for _, p := range raw {
		p.prop.Type = resolve(p.prop.Type, p.ns, p.al)
		p.t.Props[p.prop.Name] = p.prop
	}
	if len(m.types) == 0 {
		return nil, errors.New("csdl: no entity or complex types")
	}
	return m, nil
}

// Load reads a CSDL file (gzipped when its name ends in .gz).
func Load(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		z, err := gzip.NewReader(f)
		if err != nil {
			return nil, err
		}
		r = z
	}
	return Parse(r)
}

var graph = sync.OnceValues(func() (*Model, error) {
	_, file, _, _ := runtime.Caller(0)
	return Load(filepath.Join(filepath.Dir(file), "testdata", "graph-v1.0-metadata.xml.gz"))
})

// Graph returns Microsoft Graph's v1.0 model (parsed once per test binary).
func Graph() (*Model, error) { return graph() }

// Type returns a type by its full name ("microsoft.graph.user") or, for microsoft.graph, its bare
// name ("user"); nil when unknown.
func (m *Model) Type(name string) *Type {
	if t := m.types[name]; t != nil {
		return t
	}
	return m.types["microsoft.graph."+name]
}

// Prop finds a property of t or of its base types.
func (m *Model) Prop(t *Type, name string) (Prop, bool) {
	for x := t; x != nil; x = m.types[x.Base] {
		if p, ok := x.Props[name]; ok {
			return p, true
		}
	}
	return Prop{}, false
}

// derives reports whether t is base or derives from it.
func (m *Model) derives(t, base *Type) bool {
	for x := t; x != nil; x = m.types[x.Base] {
		if x == base {
			return true
		}
	}
	return false
}

// Validate checks one JSON object (an entity answer) against type typeName.
func (m *Model) Validate(typeName string, body []byte) error {
	v, err := decode(body)
	if err != nil {
		return err
	}
	return m.Value(typeName, v)
}

// full is a type's full name: bare names are of microsoft.graph.
func (m *Model) full(name string) string {
	if _, ok := m.types[name]; ok {
		return name
	}
	if _, ok := m.enums[name]; ok || strings.HasPrefix(name, "Edm.") || strings.HasPrefix(name, "Collection(") {
		return name
	}
	return "microsoft.graph." + name
}

// ValidateCollection checks a collection answer: an object of instance annotations and "value",
// an array of typeName.
func (m *Model) ValidateCollection(typeName string, body []byte) error {
	v, err := decode(body)
	if err != nil {
		return err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("a collection answer is not an object")
	}
	for _, k := range sortedKeys(obj) {
		if k == "value" || isAnnotation(k) {
			continue
		}
		return fmt.Errorf("%s: not a key of a collection answer", k)
	}
	arr, ok := obj["value"].([]any)
	if !ok {
		return fmt.Errorf("value: not an array")
	}
	for i, el := range arr {
		if err := m.check(fmt.Sprintf("value[%d]", i), m.full(typeName), el, false); err != nil {
			return err
		}
	}
	return nil
}

// Value checks a decoded JSON value (numbers as json.Number) against typeName.
func (m *Model) Value(typeName string, v any) error { return m.check("", m.full(typeName), v, false) }

func decode(body []byte) (any, error) {
	d := json.NewDecoder(strings.NewReader(string(body)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	return v, nil
}

// isAnnotation: an instance annotation of OData or of Microsoft Graph, or "@removed", the
// OData JSON delta marker of a removed entity Graph's delta answers carry
// ({"id":...,"@removed":{"reason":"deleted"}}, learn.microsoft.com/graph/delta-query-overview).
func isAnnotation(k string) bool {
	return strings.HasPrefix(k, "@odata.") || strings.HasPrefix(k, "@microsoft.graph.") || k == "@removed"
}

var (
	guidRe  = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	dateRe  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	intRe   = regexp.MustCompile(`^-?\d+$`)
	errNull = errors.New("null where the property is not nullable")
)

func at(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func (m *Model) check(path, typeName string, v any, nullable bool) error {
	if v == nil {
		if nullable {
			return nil
		}
		return fmt.Errorf("%s: %w (%s)", path, errNull, typeName)
	}
	if inner, ok := strings.CutPrefix(typeName, "Collection("); ok {
		inner = strings.TrimSuffix(inner, ")")
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: not an array (%s)", path, typeName)
		}
		for i, el := range arr {
			if err := m.check(fmt.Sprintf("%s[%d]", path, i), inner, el, false); err != nil {
				return err
			}
		}
		return nil
	}
	if strings.HasPrefix(typeName, "Edm.") {
		return checkEdm(path, typeName, v)
	}
	if members, ok := m.enums[typeName]; ok {
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: not a string (enum %s)", path, typeName)
		}
		for _, part := range strings.Split(s, ",") {
			if !members[strings.TrimSpace(part)] {
				return fmt.Errorf("%s: %q is not a member of %s", path, s, typeName)
			}
		}
		return nil
	}
	t := m.types[typeName]
	if t == nil {
		return fmt.Errorf("%s: unknown type %s", path, typeName)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: not an object (%s)", path, t.Name)
	}
	if ot, ok := obj["@odata.type"]; ok {
		s, _ := ot.(string)
		dt := m.types[strings.TrimPrefix(s, "#")]
		if dt == nil || !m.derives(dt, t) {
			return fmt.Errorf("%s.@odata.type: %v is not %s or a type derived from it", path, ot, t.Name)
		}
		t = dt
	}
	for _, k := range sortedKeys(obj) {
		if isAnnotation(k) {
			if k == "@odata.type" || strings.HasPrefix(k, "@odata.") {
				if _, ok := obj[k].(string); !ok && k != "@odata.count" {
					return fmt.Errorf("%s: annotation is not a string", at(path, k))
				}
			}
			continue
		}
		p, ok := m.Prop(t, k)
		if !ok {
			return fmt.Errorf("%s: property not declared on %s (or its base types)", at(path, k), t.Name)
		}
		if err := m.check(at(path, k), p.Type, obj[k], p.Nullable && !strings.HasPrefix(p.Type, "Collection(")); err != nil {
			return err
		}
	}
	return nil
}

func checkEdm(path, typ string, v any) error {
	bad := func() error { return fmt.Errorf("%s: %v is not an %s", path, v, typ) }
	switch typ {
	case "Edm.String", "Edm.Duration", "Edm.TimeOfDay":
		if _, ok := v.(string); !ok {
			return bad()
		}
	case "Edm.Boolean":
		if _, ok := v.(bool); !ok {
			return bad()
		}
	case "Edm.Byte", "Edm.SByte", "Edm.Int16", "Edm.Int32", "Edm.Int64":
		n, ok := v.(json.Number)
		if !ok || !intRe.MatchString(n.String()) {
			return bad()
		}
	case "Edm.Double", "Edm.Single", "Edm.Decimal":
		if _, ok := v.(json.Number); !ok {
			if s, isStr := v.(string); !isStr || (s != "NaN" && s != "INF" && s != "-INF") {
				return bad()
			}
		}
	case "Edm.DateTimeOffset":
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return bad()
		}
	case "Edm.Date":
		if s, ok := v.(string); !ok || !dateRe.MatchString(s) {
			return bad()
		}
	case "Edm.Guid":
		if s, ok := v.(string); !ok || !guidRe.MatchString(s) {
			return bad()
		}
	case "Edm.Binary":
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			if _, err := base64.RawURLEncoding.DecodeString(s); err != nil {
				return bad()
			}
		}
	case "Edm.Untyped", "Edm.PrimitiveType":
	case "Edm.Stream":
		return fmt.Errorf("%s: a stream property in a JSON answer", path)
	default:
		return fmt.Errorf("%s: unknown primitive type %s", path, typ)
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
