// Package sqlite is the embedded store driver (modernc.org/sqlite, no cgo): WAL, synchronous=FULL,
// one writer connection (32 MiB of page cache) for every write and transaction, and a read-only
// pool for reads. Queries are shared with PostgreSQL in store/sqldb.
package sqlite
