// Package pgtest gives tests a real PostgreSQL: TELLTALE_TEST_POSTGRES_URL if set, otherwise one
// throwaway server per test binary, started with initdb and pg_ctl on a free loopback port (as the
// postgres user when running as root) and stopped by a watchdog when the test binary exits, even if
// it crashes. Each caller gets a fresh database. When no server can be had, tests skip with the
// reason, except under CI=true or TELLTALE_TEST_POSTGRES=require, where they fail.
package pgtest
