package openapi

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// eval is what applying a schema to a value found out besides problems: the object properties the
// applied schemas (and the chosen oneOf/anyOf branches) declare, whether undeclared properties are
// allowed, and the named components applied (for messages and exceptions).
type eval struct {
	names  map[string]bool
	open   bool     // additionalProperties true, or lenient mode
	closed bool     // additionalProperties false, explicitly
	where  []string // locations of the $ref targets applied, outermost first
	branch string   // the oneOf branch chosen, for messages
}

func (e *eval) merge(o eval) {
	if e.names == nil {
		e.names = map[string]bool{}
	}
	for k := range o.names {
		e.names[k] = true
	}
	e.open = e.open || o.open
	e.closed = e.closed || o.closed
	e.where = append(e.where, o.where...)
}

// checker validates one value; it holds the document and records which exceptions were used.
type checker struct{ d *Doc }

// value validates v (at JSON path p) against the schema s (at document location loc), including the
// strict check that every property of an object is declared by the schemas applied to it.
func (c checker) value(v any, s map[string]any, loc, p string) []Problem {
	probs, ev := c.apply(v, s, loc, p, nil)
	return append(probs, c.undeclared(v, ev, nil, loc, p)...)
}

// undeclared reports the properties of an object that no applied schema declares (outer: names
// declared around a oneOf/anyOf branch, which the branch does not need to declare itself).
func (c checker) undeclared(v any, ev eval, outer map[string]bool, loc, p string) []Problem {
	m, ok := v.(map[string]any)
	if !ok || ev.open || (c.d.opts.AllowUndeclared && !ev.closed) {
		return nil
	}
	var probs []Problem
	for _, k := range sortedKeys(m) {
		if ev.names[k] || outer[k] {
			continue
		}
		at := loc
		if len(ev.where) > 0 {
			at = ev.where[0]
		}
		places := append([]string{loc}, ev.where...)
		if ps, ploc, ok := c.d.like(k, places); ok {
			ev.names[k] = true // declared now, for the schemas around a branch too
			probs = append(probs, c.value(m[k], ps, ploc, join(p, k))...)
			continue
		}
		probs = append(probs, c.d.problem(RuleUndeclared, join(p, k), at, k, places,
			"property %q is not declared by the schema", k)...)
	}
	return probs
}

// apply validates v against s without the undeclared-property check, which belongs to the outermost
// schema applied to a value (allOf members each declare only part of an object).
func (c checker) apply(v any, s map[string]any, loc, p string, outer map[string]bool) ([]Problem, eval) {
	ev := eval{names: map[string]bool{}}
	if ref, ok := s["$ref"].(string); ok {
		target, tloc, err := c.d.resolve(ref)
		if err != nil {
			return []Problem{{Path: p, Schema: loc, Rule: RuleSchema, Msg: err.Error()}}, ev
		}
		ev.where = append(ev.where, tloc)
		probs, sub := c.apply(v, target, tloc, p, outer)
		ev.merge(sub)
		if len(s) > 1 { // OpenAPI 3.1 applies the keywords next to $ref too
			rest := map[string]any{}
			for k, x := range s {
				if k != "$ref" {
					rest[k] = x
				}
			}
			more, sub := c.apply(v, rest, loc, p, outer)
			probs = append(probs, more...)
			ev.merge(sub)
		}
		return probs, ev
	}
	if v == nil {
		if c.d.nullable(s, 0) || unconstrained(s) {
			return nil, ev
		}
		return c.d.problem(RuleType, p, loc, "", nil, "null is not allowed"), ev
	}
	var probs []Problem
	if ok, msg := c.typeOK(v, s); !ok {
		// A wrong type makes every other finding noise.
		return c.d.problem(RuleType, p, loc, "", nil, "%s", msg), ev
	}
	around := outer
	if hasComposition(s) {
		around = union(outer, c.d.declared(s, loc, 0))
	}
	for i, sub := range schemaList(s["allOf"]) {
		more, e := c.apply(v, sub, fmt.Sprintf("%s/allOf/%d", loc, i), p, outer)
		probs = append(probs, more...)
		ev.merge(e)
	}
	if subs := schemaList(s["anyOf"]); len(subs) > 0 {
		var matched []int
		var best []Problem
		for i, sub := range subs {
			bloc := fmt.Sprintf("%s/anyOf/%d", loc, i)
			bp, be := c.branch(v, sub, bloc, p, around)
			if len(bp) == 0 {
				matched = append(matched, i)
				ev.merge(be)
			} else if best == nil || len(bp) < len(best) {
				best = bp
			}
		}
		if len(matched) == 0 {
			ev.open = true // the nearest branch's findings say it; no cascade of undeclared properties
			probs = append(probs, c.d.problem(RuleAnyOf, p, loc, "", nil, "matches none of the %d anyOf branches; nearest: %s", len(subs), summary(best))...)
		}
	}
	if subs := schemaList(s["oneOf"]); len(subs) > 0 {
		more, e := c.oneOf(v, s, subs, loc, p, around)
		probs = append(probs, more...)
		ev.merge(e)
	}
	if enum, ok := s["enum"].([]any); ok && !slices.ContainsFunc(enum, func(x any) bool { return equal(x, v) }) {
		probs = append(probs, c.d.problem(RuleEnum, p, loc, "", nil, "%s is not one of %s", show(v), showEnum(enum))...)
	}
	if cst, ok := s["const"]; ok && !equal(cst, v) {
		probs = append(probs, c.d.problem(RuleEnum, p, loc, "", nil, "%s is not the constant %s", show(v), show(cst))...)
	}
	switch x := v.(type) {
	case map[string]any:
		probs = append(probs, c.object(x, s, loc, p, around, &ev)...)
	case []any:
		if it, ok := s["items"].(map[string]any); ok {
			for i, e := range x {
				probs = append(probs, c.value(e, it, loc+"/items", fmt.Sprintf("%s[%d]", p, i))...)
			}
		}
		if n, ok := num(s["minItems"]); ok && float64(len(x)) < n {
			probs = append(probs, c.d.problem(RuleBounds, p, loc, "", nil, "%d items, at least %v required", len(x), n)...)
		}
		if n, ok := num(s["maxItems"]); ok && float64(len(x)) > n {
			probs = append(probs, c.d.problem(RuleBounds, p, loc, "", nil, "%d items, at most %v allowed", len(x), n)...)
		}
	case string:
		probs = append(probs, c.str(x, s, loc, p)...)
	case json.Number:
		probs = append(probs, c.number(x, s, loc, p)...)
	}
	return probs, ev
}

// branch applies a oneOf/anyOf branch on its own, strictly: the branch matches only if the value has
// no property that neither the branch nor the schemas around it declare.
func (c checker) branch(v any, s map[string]any, loc, p string, around map[string]bool) ([]Problem, eval) {
	probs, ev := c.apply(v, s, loc, p, around)
	return append(probs, c.undeclared(v, ev, around, loc, p)...), ev
}

// oneOf requires exactly one branch to match. Overlapping branches are resolved, never by "the first
// that matches":
//  1. with a discriminator, the value's discriminator property picks the one branch (mapping, else the
//     component name), and that branch must match;
//  2. otherwise, branches that claim the value by a tag are the only candidates: a branch claims it
//     when it requires a property declared with an enum (Box's `type: file`, `item_type: file`)
//     and the value has that property with one of those values. When no branch allows the value's
//     tag, the branches that have the tag property are the candidates (so `item_type: "document"`
//     is EventSource's to refuse). A catch-all branch (Box's GenericSource, an open object) is
//     then no candidate, so a broken file source fails instead of passing as "generic"; it
//     remains the candidate for values that carry no tag at all;
//  3. exactly one candidate must match: none is an error, and so are two or more.
func (c checker) oneOf(v any, s map[string]any, subs []map[string]any, loc, p string, around map[string]bool) ([]Problem, eval) {
	type cand struct {
		i int
		s map[string]any
	}
	var cands []cand
	m, isObj := v.(map[string]any)
	how := ""
	if d, ok := s["discriminator"].(map[string]any); ok && isObj {
		prop, _ := d["propertyName"].(string)
		tag, _ := m[prop].(string)
		if tag == "" {
			return c.d.problem(RuleOneOf, join(p, prop), loc, "", nil, "discriminator property %q missing", prop), eval{}
		}
		target := ""
		if mp, ok := d["mapping"].(map[string]any); ok {
			target, _ = mp[tag].(string)
		}
		for i, sub := range subs {
			ref, _ := sub["$ref"].(string)
			if ref != "" && (ref == target || (target == "" && strings.HasSuffix(ref, "/"+tag))) {
				cands = append(cands, cand{i, sub})
			}
		}
		if len(cands) == 0 {
			return c.d.problem(RuleOneOf, join(p, prop), loc, "", nil, "discriminator value %q names no oneOf branch", tag), eval{}
		}
		how = "discriminator " + prop + "=" + tag
	} else if isObj {
		var present []cand
		for i, sub := range subs {
			byValue, byName := c.d.claims(sub, m)
			if byValue {
				cands = append(cands, cand{i, sub})
			}
			if byName {
				present = append(present, cand{i, sub})
			}
		}
		switch {
		case len(cands) > 0:
			how = "tag"
		case len(present) > 0:
			cands, how = present, "tag property"
		}
	}
	if len(cands) == 0 {
		for i, sub := range subs {
			cands = append(cands, cand{i, sub})
		}
	}
	var matched []string
	var chosen eval
	var best []Problem
	for _, cd := range cands {
		bloc := fmt.Sprintf("%s/oneOf/%d", loc, cd.i)
		bp, be := c.branch(v, cd.s, bloc, p, around)
		if len(bp) == 0 {
			matched = append(matched, branchName(cd.s, bloc))
			chosen = be
		} else if best == nil || len(bp) < len(best) {
			best = bp
		}
	}
	switch {
	case len(matched) == 1:
		chosen.branch = matched[0]
		return nil, chosen
	case len(matched) == 0:
		names := make([]string, len(cands))
		for i, cd := range cands {
			names[i] = branchName(cd.s, fmt.Sprintf("%s/oneOf/%d", loc, cd.i))
		}
		by := ""
		if how != "" {
			by = " (chosen by " + how + ")"
		}
		return c.d.problem(RuleOneOf, p, loc, "", nil, "matches no oneOf branch of %s%s; nearest: %s", strings.Join(names, ", "), by, summary(best)), eval{open: true}
	default:
		return c.d.problem(RuleOneOf, p, loc, "", nil, "matches %d oneOf branches (%s); exactly one must match", len(matched), strings.Join(matched, ", ")), eval{open: true}
	}
}

func (c checker) object(m map[string]any, s map[string]any, loc, p string, around map[string]bool, ev *eval) []Problem {
	var probs []Problem
	props, _ := s["properties"].(map[string]any)
	for _, k := range sortedKeys(props) {
		ev.names[k] = true
		if x, ok := m[k]; ok {
			ps, _ := props[k].(map[string]any)
			probs = append(probs, c.value(x, ps, loc+"/properties/"+escape(k), join(p, k))...)
		}
	}
	req, _ := s["required"].([]any)
	for _, r := range req {
		name, _ := r.(string)
		if _, ok := m[name]; !ok {
			probs = append(probs, c.d.problem(RuleRequired, join(p, name), loc, name, nil, "required property %q is missing", name)...)
		}
	}
	switch ap := s["additionalProperties"].(type) {
	case bool:
		if ap {
			ev.open = true
		} else {
			ev.closed = true
		}
	case map[string]any:
		declared := union(around, c.d.declared(s, loc, 0))
		for _, k := range sortedKeys(m) {
			if !declared[k] {
				ev.names[k] = true
				probs = append(probs, c.value(m[k], ap, loc+"/additionalProperties", join(p, k))...)
			}
		}
	}
	if n, ok := num(s["minProperties"]); ok && float64(len(m)) < n {
		probs = append(probs, c.d.problem(RuleBounds, p, loc, "", nil, "%d properties, at least %v required", len(m), n)...)
	}
	return probs
}

func (c checker) str(x string, s map[string]any, loc, p string) []Problem {
	var probs []Problem
	switch s["format"] {
	case "date-time":
		if _, err := time.Parse(time.RFC3339, x); err != nil {
			probs = append(probs, c.d.problem(RuleFormat, p, loc, "", nil, "%q is not an RFC 3339 date-time", x)...)
		}
	case "date":
		if _, err := time.Parse(time.DateOnly, x); err != nil {
			probs = append(probs, c.d.problem(RuleFormat, p, loc, "", nil, "%q is not a date", x)...)
		}
	}
	if pat, ok := s["pattern"].(string); ok {
		re, err := c.d.regexp(pat)
		if err == nil && !re.MatchString(x) {
			probs = append(probs, c.d.problem(RulePattern, p, loc, "", nil, "%q does not match the pattern %s", x, pat)...)
		}
	}
	n := float64(utf8.RuneCountInString(x))
	if min, ok := num(s["minLength"]); ok && n < min {
		probs = append(probs, c.d.problem(RuleBounds, p, loc, "", nil, "%q is shorter than %v", x, min)...)
	}
	if max, ok := num(s["maxLength"]); ok && n > max {
		probs = append(probs, c.d.problem(RuleBounds, p, loc, "", nil, "%d characters, at most %v allowed", int(n), max)...)
	}
	return probs
}

func (c checker) number(x json.Number, s map[string]any, loc, p string) []Problem {
	f, err := x.Float64()
	if err != nil {
		return nil // typeOK reported it
	}
	var probs []Problem
	if min, ok := num(s["minimum"]); ok {
		if excl, _ := s["exclusiveMinimum"].(bool); (excl && f <= min) || f < min {
			probs = append(probs, c.d.problem(RuleBounds, p, loc, "", nil, "%s is below the minimum %v", x, min)...)
		}
	}
	if max, ok := num(s["maximum"]); ok {
		if excl, _ := s["exclusiveMaximum"].(bool); (excl && f >= max) || f > max {
			probs = append(probs, c.d.problem(RuleBounds, p, loc, "", nil, "%s is above the maximum %v", x, max)...)
		}
	}
	if min, ok := num(s["exclusiveMinimum"]); ok && f <= min { // 3.1: a number
		probs = append(probs, c.d.problem(RuleBounds, p, loc, "", nil, "%s is not above %v", x, min)...)
	}
	if max, ok := num(s["exclusiveMaximum"]); ok && f >= max {
		probs = append(probs, c.d.problem(RuleBounds, p, loc, "", nil, "%s is not below %v", x, max)...)
	}
	if mul, ok := num(s["multipleOf"]); ok && mul > 0 {
		if q := f / mul; math.Abs(q-math.Round(q)) > 1e-9 {
			probs = append(probs, c.d.problem(RuleBounds, p, loc, "", nil, "%s is not a multiple of %v", x, mul)...)
		}
	}
	return probs
}

// typeOK checks the type keyword (a string, or a list in 3.1, where "null" is handled with nullable).
func (c checker) typeOK(v any, s map[string]any) (bool, string) {
	var types []string
	switch t := s["type"].(type) {
	case string:
		types = []string{t}
	case []any:
		for _, x := range t {
			if str, ok := x.(string); ok {
				types = append(types, str)
			}
		}
	default:
		return true, ""
	}
	got := jsonType(v)
	for _, t := range types {
		if t == got || (t == "number" && got == "integer") {
			return true, ""
		}
	}
	if got == "number" && slices.Contains(types, "integer") {
		return false, fmt.Sprintf("%s is not an integer", show(v))
	}
	return false, fmt.Sprintf("%s is %s, not %s", show(v), article(got), strings.Join(types, " or "))
}

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number:
		if _, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return "integer"
		}
		if f, err := x.Float64(); err == nil && f == math.Trunc(f) && !strings.ContainsAny(string(x), ".eE") {
			return "integer" // beyond int64, still an integer
		}
		return "number"
	case float64:
		if x == math.Trunc(x) {
			return "integer"
		}
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

func article(t string) string {
	switch t {
	case "object", "array", "integer":
		return "an " + t
	case "null":
		return "null"
	}
	return "a " + t
}

// nullable reports whether null is allowed: nullable: true (3.0) on the schema or on any schema it
// is composed of (Box writes allOf: [{$ref}, {nullable: true}] for "this reference or null"), or
// type "null" (3.1).
func (d *Doc) nullable(s map[string]any, depth int) bool {
	if depth > 32 {
		return false
	}
	if ref, ok := s["$ref"].(string); ok {
		if t, _, err := d.resolve(ref); err == nil && d.nullable(t, depth+1) {
			return true
		}
	}
	if s["nullable"] == true || s["type"] == "null" {
		return true
	}
	if l, ok := s["type"].([]any); ok && slices.Contains(l, any("null")) {
		return true
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		for _, sub := range schemaList(s[k]) {
			if d.nullable(sub, depth+1) {
				return true
			}
		}
	}
	return false
}

// unconstrained reports a schema that accepts anything ({} or a description).
func unconstrained(s map[string]any) bool {
	for _, k := range []string{"type", "properties", "allOf", "anyOf", "oneOf", "enum", "const", "items", "$ref"} {
		if _, ok := s[k]; ok {
			return false
		}
	}
	return true
}

func hasComposition(s map[string]any) bool {
	return s["allOf"] != nil || s["anyOf"] != nil || s["oneOf"] != nil
}

// declared is the set of property names s declares statically: its properties and those of its
// allOf members, through $ref (not oneOf/anyOf branches, which are chosen per value).
func (d *Doc) declared(s map[string]any, loc string, depth int) map[string]bool {
	out := map[string]bool{}
	if depth > 32 {
		return out
	}
	if ref, ok := s["$ref"].(string); ok {
		if t, tloc, err := d.resolve(ref); err == nil {
			for k := range d.declared(t, tloc, depth+1) {
				out[k] = true
			}
		}
	}
	props, _ := s["properties"].(map[string]any)
	for k := range props {
		out[k] = true
	}
	for i, sub := range schemaList(s["allOf"]) {
		for k := range d.declared(sub, fmt.Sprintf("%s/allOf/%d", loc, i), depth+1) {
			out[k] = true
		}
	}
	return out
}

// tags are the required properties declared with an enum (through $ref and allOf): what a oneOf
// branch is recognised by.
func (d *Doc) tags(s map[string]any, depth int) map[string][]any {
	out := map[string][]any{}
	if depth > 32 {
		return out
	}
	if ref, ok := s["$ref"].(string); ok {
		if t, _, err := d.resolve(ref); err == nil {
			for k, v := range d.tags(t, depth+1) {
				out[k] = v
			}
		}
	}
	for _, sub := range schemaList(s["allOf"]) {
		for k, v := range d.tags(sub, depth+1) {
			out[k] = v
		}
	}
	props, _ := s["properties"].(map[string]any)
	for name, ps := range props {
		if e := d.enumOf(ps, 0); e != nil {
			out[name] = e
		}
	}
	// Keep only the required ones (required may sit in another allOf member than the property).
	req := d.required(s, 0)
	for k := range out {
		if !req[k] {
			delete(out, k)
		}
	}
	return out
}

func (d *Doc) required(s map[string]any, depth int) map[string]bool {
	out := map[string]bool{}
	if depth > 32 {
		return out
	}
	if ref, ok := s["$ref"].(string); ok {
		if t, _, err := d.resolve(ref); err == nil {
			out = d.required(t, depth+1)
		}
	}
	req, _ := s["required"].([]any)
	for _, r := range req {
		if name, ok := r.(string); ok {
			out[name] = true
		}
	}
	for _, sub := range schemaList(s["allOf"]) {
		for k := range d.required(sub, depth+1) {
			out[k] = true
		}
	}
	return out
}

func (d *Doc) enumOf(x any, depth int) []any {
	s, ok := x.(map[string]any)
	if !ok || depth > 8 {
		return nil
	}
	if ref, ok := s["$ref"].(string); ok {
		if t, _, err := d.resolve(ref); err == nil {
			return d.enumOf(t, depth+1)
		}
	}
	if e, ok := s["enum"].([]any); ok {
		return e
	}
	if c, ok := s["const"]; ok {
		return []any{c}
	}
	for _, sub := range schemaList(s["allOf"]) {
		if e := d.enumOf(sub, depth+1); e != nil {
			return e
		}
	}
	return nil
}

// claims reports whether a oneOf branch recognises the object by one of its tags: by the tag's
// value (type "file"), or only by having the tag property (a type no branch allows).
func (d *Doc) claims(s map[string]any, m map[string]any) (byValue, byName bool) {
	for prop, enum := range d.tags(s, 0) {
		x, ok := m[prop]
		if !ok {
			continue
		}
		byName = true
		if slices.ContainsFunc(enum, func(e any) bool { return equal(e, x) }) {
			byValue = true
		}
	}
	return byValue, byName
}

func (d *Doc) regexp(pat string) (*regexp.Regexp, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if re, ok := d.res[pat]; ok {
		return re, nil
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, err // an ECMA-only pattern: not checked (Go's RE2 cannot run it)
	}
	d.res[pat] = re
	return re, nil
}

func branchName(s map[string]any, loc string) string {
	if ref, ok := s["$ref"].(string); ok {
		return ref[strings.LastIndex(ref, "/")+1:]
	}
	if t, ok := s["title"].(string); ok {
		return t
	}
	if t, ok := s["type"].(string); ok {
		return t
	}
	return loc[strings.LastIndex(loc, "/oneOf/")+1:]
}

func schemaList(x any) []map[string]any {
	l, _ := x.([]any)
	out := make([]map[string]any, 0, len(l))
	for _, e := range l {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func union(a, b map[string]bool) map[string]bool {
	out := make(map[string]bool, len(a)+len(b))
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// join appends a property to a JSON path: entries[3].source + item_id.
func join(p, k string) string {
	if p == "" {
		return k
	}
	return p + "." + k
}

func escape(k string) string { return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1") }

func num(x any) (float64, bool) {
	switch n := x.(type) {
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

func equal(a, b any) bool {
	fa, oka := num(a)
	fb, okb := num(b)
	if oka && okb {
		return fa == fb
	}
	if oka != okb {
		return false
	}
	switch a.(type) {
	case map[string]any, []any:
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		return string(ja) == string(jb)
	}
	return a == b
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}

func showEnum(e []any) string {
	if len(e) > 8 {
		return show(e[:8]) + fmt.Sprintf(" (and %d more)", len(e)-8)
	}
	return show(e)
}

func summary(ps []Problem) string {
	if len(ps) == 0 {
		return "-"
	}
	s := ps[0].String()
	if len(ps) > 1 {
		s += fmt.Sprintf(" (and %d more)", len(ps)-1)
	}
	return s
}
