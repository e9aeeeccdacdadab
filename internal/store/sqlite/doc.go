// Package sqlite is the embedded store driver (modernc.org/sqlite, no cgo): WAL, synchronous=FULL,
// one writer connection (32 MiB of page cache, a WAL checkpoint every 10,000 pages) for every
// write and transaction, and a read-only pool for reads. Queries are shared with PostgreSQL in
// store/sqldb.
package sqlite
