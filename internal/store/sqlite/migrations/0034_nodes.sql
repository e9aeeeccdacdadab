-- 0034 nodes are the telltale processes sharing this database (issue 19, scale out on
-- PostgreSQL). Each runner writes its heartbeat here every quarter of a lease; the nodes heard from
-- within a lease are the live ones, and each claims about 1/N of the units of every kind
-- (internal/work, fair share). A node stopping cleanly deletes its row; a killed node's row ages
-- out with its leases. work_leased counts the units held now without reading the whole table.
-- Keep in step with the other driver's migrations.
CREATE TABLE nodes (
  owner TEXT PRIMARY KEY,
  started_at INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL
);
CREATE INDEX work_leased ON work(kind) WHERE lease_owner <> '';
