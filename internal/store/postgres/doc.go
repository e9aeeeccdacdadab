// Package postgres is the scale-out store driver: PostgreSQL through pgx v5 (its database/sql
// adapter), sharing every query with SQLite in store/sqldb. Several nodes can share one database:
// migrations run under an advisory lock, and work is claimed with FOR UPDATE SKIP LOCKED.
package postgres
