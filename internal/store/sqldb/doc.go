// Package sqldb is the one implementation of the store contract over database/sql, shared by the
// SQLite and PostgreSQL drivers. Every query is written once with ? placeholders; a small Dialect
// supplies what really differs (placeholder style, unique-violation detection, row locking for work
// claims, the migration lock, how inserted event ids come back). The drivers open the database,
// choose the dialect and embed their own migrations (numbered .sql files read by LoadMigrations,
// applied by DB.Migrate).
//
// Conventions of every table: times are int64 Unix microseconds in UTC (0 = unset, read back as the
// zero time.Time), booleans are 0/1 integers. File events keep their searchable fields in columns and
// the rest in a compact JSON document (see doc in events.go), so nothing is stored twice.
package sqldb
