package api

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/client"
)

// OpenAPI builds the OpenAPI 3.1 document from the route table, so the document and the routes
// cannot drift apart. Schemas come from the client package's wire types by reflection.
func (s *Server) OpenAPI() map[string]any {
	schemas := map[string]any{}
	paths := map[string]map[string]any{}
	for _, rt := range s.routes() {
		op := map[string]any{
			"summary":     rt.Summary,
			"operationId": operationID(rt),
			"tags":        []string{rt.Tag},
		}
		if rt.Public != "" {
			op["security"] = []any{}
			op["description"] = "No credentials needed: " + rt.Public
		} else {
			op["description"] = "Needs the " + string(rt.Need) + " role or higher."
			op["x-telltale-role"] = string(rt.Need)
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range rt.Query {
			params = append(params, map[string]any{"name": q.Name, "in": "query", "description": q.Help, "schema": map[string]any{"type": "string"}})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if rt.In != nil {
			op["requestBody"] = map[string]any{"required": true, "content": content(rt.In, schemas)}
		}
		responses := map[string]any{}
		switch {
		case rt.Out == nil:
			responses["204"] = map[string]any{"description": "Done."}
		case rt.Method == "POST" && rt.Audit != "" && strings.HasSuffix(rt.Path, "s"):
			responses["201"] = map[string]any{"description": "Created.", "content": content(rt.Out, schemas)}
		default:
			responses["200"] = map[string]any{"description": "OK.", "content": content(rt.Out, schemas)}
		}
		problem := map[string]any{"application/problem+json": map[string]any{"schema": ref(reflect.TypeOf(client.Problem{}), schemas)}}
		responses["default"] = map[string]any{"description": "An RFC 9457 problem document saying what is wrong and what to do.", "content": problem}
		op["responses"] = responses
		if paths[rt.Path] == nil {
			paths[rt.Path] = map[string]any{}
		}
		paths[rt.Path][strings.ToLower(rt.Method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "Telltale API",
			"version":     "1",
			"description": "Self-hosted insider-risk data connections. Authenticate with `Authorization: Bearer <API token>`.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": schemas,
			"securitySchemes": map[string]any{
				"bearer":  map[string]any{"type": "http", "scheme": "bearer"},
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": SessionCookie},
			},
		},
		"security": []any{map[string]any{"bearer": []string{}}, map[string]any{"session": []string{}}},
	}
}

func operationID(rt Route) string {
	s := strings.ToLower(rt.Method) + strings.NewReplacer("/api/v1/", "_", "/", "_", "{", "", "}", "", "-", "_", ".", "_").Replace(rt.Path)
	return strings.Trim(s, "_")
}

func content(v any, schemas map[string]any) map[string]any {
	switch v.(type) {
	case csvBody:
		return map[string]any{"text/csv": map[string]any{"schema": map[string]any{"type": "string"}}}
	case zipBody:
		return map[string]any{"application/zip": map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}}
	case textBody:
		return map[string]any{"text/plain": map[string]any{"schema": map[string]any{"type": "string"}}}
	case rawJSON:
		return map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}
	}
	return map[string]any{"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(v), schemas)}}
}

// textBody marks a text/plain response (the metrics exposition).
type textBody struct{}

// rawJSON marks a response that is free-form JSON (the OpenAPI document itself).
type rawJSON struct{}

var timeType = reflect.TypeOf(time.Time{})
var rawMessage = reflect.TypeOf(json.RawMessage{})

func ref(t reflect.Type, schemas map[string]any) map[string]any {
	name := t.Name()
	if _, ok := schemas[name]; !ok {
		schemas[name] = nil // placeholder against recursion
		schemas[name] = structSchema(t, schemas)
	}
	return map[string]any{"$ref": "#/components/schemas/" + name}
}

func schemaOf(t reflect.Type, schemas map[string]any) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawMessage:
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.Struct:
		if t.Name() == "" {
			return structSchema(t, schemas)
		}
		return ref(t, schemas)
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), schemas)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), schemas)}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return map[string]any{"type": "integer"}
	case reflect.Float64, reflect.Float32:
		return map[string]any{"type": "number"}
	}
	return map[string]any{}
}

func structSchema(t reflect.Type, schemas map[string]any) map[string]any {
	props := map[string]any{}
	var required []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				walk(f.Type)
				continue
			}
			if name == "" {
				name = f.Name
			}
			props[name] = schemaOf(f.Type, schemas)
			if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") && f.Type.Kind() != reflect.Pointer {
				required = append(required, name)
			}
		}
	}
	walk(t)
	out := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		sort.Strings(required)
		out["required"] = required
	}
	return out
}
