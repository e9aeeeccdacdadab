// Package discovery validates JSON answers strictly against a Google API discovery document (the
// REST description google.golang.org/api generates its clients from, shipped in the module as
// drive/v3/drive-api.json, admin/directory/v1/admin-api.json, ...), for tests: the Google
// emulator checks every answer it gives against the schema the real client decodes. Discovery
// documents are not OpenAPI, hence a validator of their own (internal/testutil/openapi is the
// OpenAPI one). It is test support; only tests import it.
//
// Strict means: an object property the schema does not declare is an error (unless the schema
// gives additionalProperties), a value must have its declared type (int64 and uint64 are
// strings of digits, as Google encodes them; date-time strings must parse as RFC 3339), a string
// with an enum must be one of its values, and null is never allowed. Errors name the JSON path of
// the offending value (changes[3].file.md5Checksum) and the schema (File).
package discovery

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Schema is one discovery schema (a subset of JSON Schema draft 3).
type Schema struct {
	ID                   string             `json:"id"`
	Ref                  string             `json:"$ref"`
	Type                 string             `json:"type"`
	Format               string             `json:"format"`
	Properties           map[string]*Schema `json:"properties"`
	AdditionalProperties *Schema            `json:"additionalProperties"`
	Items                *Schema            `json:"items"`
	Enum                 []string           `json:"enum"`
}

type rawMethod struct {
	ID         string `json:"id"`
	HTTPMethod string `json:"httpMethod"`
	Path       string `json:"path"`
	Response   *struct {
		Ref string `json:"$ref"`
	} `json:"response"`
	SupportsMediaDownload bool `json:"supportsMediaDownload"`
}

type rawResource struct {
	Methods   map[string]rawMethod   `json:"methods"`
	Resources map[string]rawResource `json:"resources"`
}

// Method is one method of the API.
type Method struct {
	ID, HTTPMethod, Path string
	Response             string // the response schema's id; "" when the method answers no body
	MediaDownload        bool   // alt=media answers the content, not JSON
	re                   *regexp.Regexp
	vars                 int
}

// Doc is a loaded discovery document.
type Doc struct {
	Name, ServicePath string
	Schemas           map[string]*Schema
	Methods           []*Method // literal paths before templated ones
}

// ErrNoMethod is returned when no method of the document has the request's HTTP method and path.
var ErrNoMethod = errors.New("discovery: no method for this request")

// Load reads a discovery document.
func Load(path string) (*Doc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	var raw struct {
		Name        string             `json:"name"`
		ServicePath string             `json:"servicePath"`
		Schemas     map[string]*Schema `json:"schemas"`
		rawResource
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("discovery: %s: %w", path, err)
	}
	d := &Doc{Name: raw.Name, ServicePath: raw.ServicePath, Schemas: raw.Schemas}
	var add func(r rawResource)
	add = func(r rawResource) {
		for _, m := range r.Methods {
			pm := &Method{ID: m.ID, HTTPMethod: m.HTTPMethod, Path: m.Path, MediaDownload: m.SupportsMediaDownload}
			if m.Response != nil {
				pm.Response = m.Response.Ref
			}
			pat := regexp.QuoteMeta("/" + raw.ServicePath + m.Path)
			pat = regexp.MustCompile(`\\\{\\?\+?[A-Za-z0-9_.]+\\\}`).ReplaceAllStringFunc(pat, func(string) string { pm.vars++; return `[^/]+` })
			pm.re = regexp.MustCompile("^" + pat + "$")
			d.Methods = append(d.Methods, pm)
		}
		for _, sub := range r.Resources {
			add(sub)
		}
	}
	add(raw.rawResource)
	sort.SliceStable(d.Methods, func(i, j int) bool {
		if d.Methods[i].vars != d.Methods[j].vars {
			return d.Methods[i].vars < d.Methods[j].vars
		}
		return d.Methods[i].ID < d.Methods[j].ID
	})
	return d, nil
}

// ModuleDir is the directory of google.golang.org/api in the module cache, as the go command
// resolves it for the current module (never fetched from the internet by this package).
func ModuleDir() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-json", "google.golang.org/api").Output()
	if err != nil {
		return "", fmt.Errorf("discovery: go list -m google.golang.org/api: %w", err)
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		return "", fmt.Errorf("discovery: no module directory for google.golang.org/api (%v)", err)
	}
	return m.Dir, nil
}

// LoadFromModule loads a discovery document shipped in google.golang.org/api, rel being its path
// inside the module (e.g. "drive/v3/drive-api.json").
func LoadFromModule(rel string) (*Doc, error) {
	dir, err := ModuleDir()
	if err != nil {
		return nil, err
	}
	return Load(filepath.Join(dir, filepath.FromSlash(rel)))
}

// Find returns the method serving httpMethod on urlPath (the URL's path, e.g. /drive/v3/files/x).
func (d *Doc) Find(httpMethod, urlPath string) (*Method, bool) {
	for _, m := range d.Methods {
		if m.HTTPMethod == httpMethod && m.re.MatchString(urlPath) {
			return m, true
		}
	}
	return nil, false
}

// ValidateResponse checks a 2xx JSON answer to httpMethod urlPath against its method's response
// schema. A method without a response schema must answer no body.
func (d *Doc) ValidateResponse(httpMethod, urlPath string, body []byte) error {
	m, ok := d.Find(httpMethod, urlPath)
	if !ok {
		return fmt.Errorf("%w: %s %s in %s", ErrNoMethod, httpMethod, urlPath, d.Name)
	}
	if m.Response == "" {
		if len(bytes.TrimSpace(body)) != 0 {
			return fmt.Errorf("%s %s (%s): the method declares no response, got %.100q", httpMethod, urlPath, m.ID, body)
		}
		return nil
	}
	if err := d.ValidateSchema(m.Response, body); err != nil {
		return fmt.Errorf("%s %s (%s): %w", httpMethod, urlPath, m.ID, err)
	}
	return nil
}

// ValidateSchema checks a JSON document against the schema with id ref.
func (d *Doc) ValidateSchema(ref string, body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	c := &checker{d: d}
	c.check("", &Schema{Ref: ref}, v, ref)
	if len(c.errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(c.errs, "\n"))
}

type checker struct {
	d    *Doc
	errs []string
}

func (c *checker) fail(path, format string, args ...any) {
	if path == "" {
		path = "(root)"
	}
	c.errs = append(c.errs, path+": "+fmt.Sprintf(format, args...))
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (c *checker) check(path string, s *Schema, v any, where string) {
	for s.Ref != "" {
		t, ok := c.d.Schemas[s.Ref]
		if !ok {
			c.fail(path, "the document has no schema %q", s.Ref)
			return
		}
		where = s.Ref
		s = t
	}
	if v == nil {
		c.fail(path, "null is not allowed (%s)", where)
		return
	}
	typ := s.Type
	if typ == "" && s.Properties != nil {
		typ = "object" // some inline schemas declare properties without a type
	}
	switch typ {
	case "any", "":
		return
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			c.fail(path, "%s is not an object (%s)", kind(v), where)
			return
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if p, ok := s.Properties[k]; ok {
				c.check(join(path, k), p, m[k], where+"."+k)
			} else if s.AdditionalProperties != nil {
				c.check(join(path, k), s.AdditionalProperties, m[k], where+"[*]")
			} else if s.Properties != nil {
				c.fail(join(path, k), "property %q is not declared in %s", k, where)
			}
		}
	case "array":
		l, ok := v.([]any)
		if !ok {
			c.fail(path, "%s is not an array (%s)", kind(v), where)
			return
		}
		if s.Items == nil {
			return
		}
		for i, e := range l {
			c.check(fmt.Sprintf("%s[%d]", path, i), s.Items, e, where+"[]")
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			c.fail(path, "%s is a %s, not string (%s)", show(v), kind(v), where)
			return
		}
		if len(s.Enum) > 0 && !contains(s.Enum, str) {
			c.fail(path, "%q is not one of %q (%s)", str, s.Enum, where)
		}
		c.format(path, s.Format, str, where)
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			c.fail(path, "%s is a %s, not integer (%s)", show(v), kind(v), where)
			return
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil {
			c.fail(path, "%s is not an integer (%s)", n, where)
			return
		}
		if (s.Format == "int32" && (i < -1<<31 || i >= 1<<31)) || (s.Format == "uint32" && (i < 0 || i >= 1<<32)) {
			c.fail(path, "%d is out of the range of %s (%s)", i, s.Format, where)
		}
	case "number":
		if _, ok := v.(json.Number); !ok {
			c.fail(path, "%s is a %s, not number (%s)", show(v), kind(v), where)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			c.fail(path, "%s is a %s, not boolean (%s)", show(v), kind(v), where)
		}
	default:
		c.fail(path, "the schema has an unknown type %q (%s)", s.Type, where)
	}
}

var digits = regexp.MustCompile(`^-?[0-9]+$`)

func (c *checker) format(path, format, s, where string) {
	switch format {
	case "int64", "uint64":
		if !digits.MatchString(s) || (format == "uint64" && strings.HasPrefix(s, "-")) {
			c.fail(path, "%q is not a %s in decimal (%s)", s, format, where)
		}
	case "date-time", "google-datetime":
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			c.fail(path, "%q is not an RFC 3339 date-time (%s)", s, where)
		}
	case "date":
		if _, err := time.Parse(time.DateOnly, s); err != nil {
			c.fail(path, "%q is not a date (%s)", s, where)
		}
	case "byte":
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			if _, err := base64.URLEncoding.DecodeString(s); err != nil {
				c.fail(path, "%q is not base64 (%s)", s, where)
			}
		}
	}
}

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

func kind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	}
	return fmt.Sprintf("%T", v)
}

func show(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 60 {
		return string(b[:60]) + "..."
	}
	return string(b)
}
