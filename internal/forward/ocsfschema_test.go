package forward

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// ocsfDir is the OCSF schema release (ocsf-schema 1.8.0 sources, Apache-2.0, LICENSE beside it),
// copied from the project's vendor notes (../shared/vendor/ocsf) into testdata so that a clean
// clone anywhere checks the records against it.
const ocsfDir = "testdata/ocsf"

// ocsfSchema reads the OCSF schema sources (dictionary, categories, event classes, objects and
// profiles, with their extends and $include) and validates records against them: required
// attributes present, no attribute the class or object does not declare, types and enum values,
// the profiles a record uses declared in metadata.profiles, nothing deprecated, and the class,
// category and type ids consistent.
type ocsfSchema struct {
	dict       map[string]map[string]any
	types      map[string]map[string]any
	categories map[string]int
	events     map[string]map[string]any
	objects    map[string]map[string]any
	profiles   map[string]map[string]any
	byUID      map[int]string // class uid -> class name
}

type ocsfAttr struct {
	def     map[string]any
	profile string // set when the attribute comes from a profile's $include
}

type ocsfType struct {
	name        string
	attrs       map[string]ocsfAttr
	atLeastOne  []string
	deprecated  bool
	category    string
	uid         int
	constraints map[string]any
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("OCSF schema: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("OCSF schema %s: %v", path, err)
	}
	return m
}

func loadOCSF(t *testing.T) *ocsfSchema {
	t.Helper()
	if v := readJSON(t, filepath.Join(ocsfDir, "version.json")); v["version"] != OCSFVersion {
		t.Fatalf("vendored OCSF schema is %v, records say %s", v["version"], OCSFVersion)
	}
	s := &ocsfSchema{dict: map[string]map[string]any{}, types: map[string]map[string]any{}, categories: map[string]int{},
		events: map[string]map[string]any{}, objects: map[string]map[string]any{}, profiles: map[string]map[string]any{}, byUID: map[int]string{}}
	d := readJSON(t, filepath.Join(ocsfDir, "dictionary.json"))
	for k, v := range d["attributes"].(map[string]any) {
		s.dict[k] = v.(map[string]any)
	}
	for k, v := range d["types"].(map[string]any)["attributes"].(map[string]any) {
		s.types[k] = v.(map[string]any)
	}
	for k, v := range readJSON(t, filepath.Join(ocsfDir, "categories.json"))["attributes"].(map[string]any) {
		s.categories[k] = int(v.(map[string]any)["uid"].(float64))
	}
	err := filepath.WalkDir(filepath.Join(ocsfDir, "events"), func(p string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		m := readJSON(t, p)
		s.events[m["name"].(string)] = m
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"objects", "profiles"} {
		ps, _ := filepath.Glob(filepath.Join(ocsfDir, dir, "*.json"))
		for _, p := range ps {
			m := readJSON(t, p)
			if dir == "objects" {
				s.objects[m["name"].(string)] = m
			} else {
				s.profiles[strings.TrimSuffix(filepath.Base(p), ".json")] = m
			}
		}
	}
	if len(s.events) < 50 || len(s.objects) < 100 {
		t.Fatalf("OCSF schema looks incomplete: %d classes, %d objects", len(s.events), len(s.objects))
	}
	for name := range s.events {
		c := s.resolve(t, s.events, name)
		if c.uid != 0 && c.category != "" && c.category != "other" {
			s.byUID[s.categories[c.category]*1000+c.uid] = name
		}
	}
	return s
}

// resolve flattens a class or object: its parents' attributes, its own, and its profiles'.
func (s *ocsfSchema) resolve(t *testing.T, set map[string]map[string]any, name string) *ocsfType {
	t.Helper()
	m, ok := set[name]
	if !ok {
		t.Fatalf("OCSF schema: no class or object %q", name)
	}
	out := &ocsfType{name: name, attrs: map[string]ocsfAttr{}}
	if ext, ok := m["extends"].(string); ok && ext != "" {
		p := s.resolve(t, set, ext)
		for k, v := range p.attrs {
			out.attrs[k] = v
		}
		out.category, out.atLeastOne = p.category, p.atLeastOne
	}
	if c, ok := m["category"].(string); ok {
		out.category = c
	}
	if u, ok := m["uid"].(float64); ok {
		out.uid = int(u)
	}
	_, out.deprecated = m["@deprecated"]
	attrs, _ := m["attributes"].(map[string]any)
	if inc, ok := attrs["$include"].([]any); ok {
		for _, f := range inc {
			pname := strings.TrimSuffix(filepath.Base(f.(string)), ".json")
			prof, ok := s.profiles[pname]
			if !ok {
				t.Fatalf("OCSF schema: %s includes unknown profile %s", name, f)
			}
			for k, v := range prof["attributes"].(map[string]any) {
				if _, own := attrs[k]; own {
					continue
				}
				if _, inherited := out.attrs[k]; inherited {
					continue
				}
				out.attrs[k] = ocsfAttr{def: v.(map[string]any), profile: pname}
			}
		}
	}
	for k, v := range attrs {
		if k == "$include" {
			continue
		}
		local := v.(map[string]any)
		merged := map[string]any{}
		if prev, ok := out.attrs[k]; ok {
			for kk, vv := range prev.def {
				merged[kk] = vv
			}
		}
		for kk, vv := range local {
			merged[kk] = vv
		}
		// An inherited profile attribute stays the profile's unless the class says "profile": null.
		prof := ""
		if prev, ok := out.attrs[k]; ok {
			if _, set := local["profile"]; !set {
				prof = prev.profile
			}
		}
		out.attrs[k] = ocsfAttr{def: merged, profile: prof}
	}
	if c, ok := m["constraints"].(map[string]any); ok {
		out.constraints = c
		if alo, ok := c["at_least_one"].([]any); ok {
			out.atLeastOne = nil
			for _, a := range alo {
				out.atLeastOne = append(out.atLeastOne, a.(string))
			}
		}
	}
	return out
}

// attrDef is an attribute's definition: the dictionary's, overlaid with the class's or object's.
func (s *ocsfSchema) attrDef(name string, local map[string]any) (typ string, isArray bool, enum map[string]any, deprecated bool, err error) {
	d, ok := s.dict[name]
	if !ok {
		return "", false, nil, false, fmt.Errorf("attribute %q is not in the dictionary", name)
	}
	typ, _ = d["type"].(string)
	if lt, ok := local["type"].(string); ok {
		typ = lt
	}
	isArray, _ = d["is_array"].(bool)
	if la, ok := local["is_array"].(bool); ok {
		isArray = la
	}
	enum = map[string]any{}
	for _, src := range []map[string]any{d, local} {
		if e, ok := src["enum"].(map[string]any); ok {
			for k, v := range e {
				enum[k] = v
			}
		}
	}
	_, deprecated = d["@deprecated"]
	if _, dep := local["@deprecated"]; dep {
		deprecated = true
	}
	return typ, isArray, enum, deprecated, nil
}

// validateRecord checks one record's JSON against the schema.
func (s *ocsfSchema) validateRecord(t *testing.T, raw []byte) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var rec map[string]any
	if err := dec.Decode(&rec); err != nil {
		return []string{"not a JSON object: " + err.Error()}
	}
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	num := func(k string) int64 {
		n, ok := rec[k].(json.Number)
		if !ok {
			return -1
		}
		v, _ := n.Int64()
		return v
	}
	classUID := num("class_uid")
	name, ok := s.byUID[int(classUID)]
	if !ok {
		return []string{fmt.Sprintf("class_uid %d is no class of the schema", classUID)}
	}
	c := s.resolve(t, s.events, name)
	if c.deprecated {
		bad("class %s is deprecated", name)
	}
	if cat := s.categories[c.category]; num("category_uid") != int64(cat) {
		bad("category_uid %d, class %s is in category %d", num("category_uid"), name, cat)
	}
	if num("type_uid") != classUID*100+num("activity_id") {
		bad("type_uid %d is not class_uid*100+activity_id = %d", num("type_uid"), classUID*100+num("activity_id"))
	}
	var profiles []string
	if md, ok := rec["metadata"].(map[string]any); ok {
		if md["version"] != OCSFVersion {
			bad("metadata.version %v, want %s", md["version"], OCSFVersion)
		}
		if ps, ok := md["profiles"].([]any); ok {
			for _, p := range ps {
				profiles = append(profiles, fmt.Sprint(p))
			}
		}
	}
	s.validateObject(t, c, rec, name, profiles, bad)
	return errs
}

func (s *ocsfSchema) validateObject(t *testing.T, o *ocsfType, v map[string]any, path string, profiles []string, bad func(string, ...any)) {
	for k, val := range v {
		a, ok := o.attrs[k]
		if !ok {
			bad("%s.%s: %s declares no attribute %q", path, k, o.name, k)
			continue
		}
		if a.profile != "" && !slices.Contains(profiles, a.profile) {
			bad("%s.%s: belongs to profile %s, which metadata.profiles does not name", path, k, a.profile)
		}
		if k == "class_uid" || k == "category_uid" {
			// The dictionary lists every class and category; validateRecord checks these two
			// against the record's class instead.
			if _, ok := val.(json.Number); !ok {
				bad("%s.%s: want an integer", path, k)
			}
			continue
		}
		s.validateValue(t, k, a.def, val, path+"."+k, profiles, bad)
	}
	for k, a := range o.attrs {
		if a.def["requirement"] == "required" && (a.profile == "" || slices.Contains(profiles, a.profile)) {
			if _, ok := v[k]; !ok {
				bad("%s: required attribute %q of %s is missing", path, k, o.name)
			}
		}
	}
	if len(o.atLeastOne) > 0 {
		found := false
		for _, k := range o.atLeastOne {
			if _, ok := v[k]; ok {
				found = true
			}
		}
		if !found {
			bad("%s: %s needs at least one of %v", path, o.name, o.atLeastOne)
		}
	}
}

func (s *ocsfSchema) validateValue(t *testing.T, name string, local map[string]any, val any, path string, profiles []string, bad func(string, ...any)) {
	typ, isArray, enum, deprecated, err := s.attrDef(name, local)
	if err != nil {
		bad("%s: %v", path, err)
		return
	}
	if deprecated {
		bad("%s: attribute %q is deprecated", path, name)
	}
	if isArray {
		arr, ok := val.([]any)
		if !ok {
			bad("%s: want an array of %s, got %T", path, typ, val)
			return
		}
		for i, x := range arr {
			s.checkType(t, typ, enum, x, fmt.Sprintf("%s[%d]", path, i), profiles, bad)
		}
		return
	}
	s.checkType(t, typ, enum, val, path, profiles, bad)
}

func (s *ocsfSchema) checkType(t *testing.T, typ string, enum map[string]any, val any, path string, profiles []string, bad func(string, ...any)) {
	if !strings.HasSuffix(typ, "_t") {
		m, ok := val.(map[string]any)
		if !ok {
			bad("%s: want a %s object, got %T", path, typ, val)
			return
		}
		if typ == "object" {
			return // unmapped: any object
		}
		s.validateObject(t, s.resolve(t, s.objects, typ), m, path, profiles, bad)
		return
	}
	base, regex := typ, ""
	if td, ok := s.types[typ]; ok {
		if b, ok := td["type"].(string); ok {
			base = b
		}
		regex, _ = td["regex"].(string)
		if base != "string_t" && base != typ {
			if bd, ok := s.types[base]; ok {
				if b2, ok := bd["type"].(string); ok {
					base = b2
				}
			}
		}
	}
	switch base {
	case "string_t":
		str, ok := val.(string)
		if !ok {
			bad("%s: want a string (%s), got %T", path, typ, val)
			return
		}
		if regex != "" && !regexp.MustCompile(regex).MatchString(str) {
			bad("%s: %q is not a valid %s", path, str, typ)
		}
		if len(enum) > 0 {
			if _, ok := enum[str]; !ok {
				bad("%s: %q is not one of the enum values", path, str)
			}
		}
	case "integer_t", "long_t", "timestamp_t", "port_t":
		n, ok := val.(json.Number)
		if !ok {
			bad("%s: want an integer (%s), got %T", path, typ, val)
			return
		}
		i, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil {
			bad("%s: %s is not an integer", path, n)
			return
		}
		if len(enum) > 0 {
			if _, ok := enum[strconv.FormatInt(i, 10)]; !ok {
				bad("%s: %d is not one of the enum values", path, i)
			}
		}
	case "float_t":
		if _, ok := val.(json.Number); !ok {
			bad("%s: want a number, got %T", path, val)
		}
	case "boolean_t":
		if _, ok := val.(bool); !ok {
			bad("%s: want a boolean, got %T", path, val)
		}
	case "json_t":
	default:
		bad("%s: unknown type %s", path, typ)
	}
}
