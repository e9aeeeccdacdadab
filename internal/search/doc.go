// Package search is the forensic query language that the API, CLI, console and alert rules share:
// Parse turns what an analyst types (actor:alice@corp.com action:file-shared after:7d name:*.xlsx)
// into a Query; Query.String prints it back in canonical form; Match evaluates it on an event in
// memory; the store drivers compile the same tree to SQL with bound parameters only
// (sqldb/search.go). Fields lists every searchable field; docs/SEARCH.md is the reference.
package search
