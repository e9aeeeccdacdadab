#!/usr/bin/env bash
# What River adds to cmd/telltale (issue 19): binary size, and build time with an empty build cache
# for cmd/telltale, then the River variant on top of that cache (only what River adds compiles).
# Usage: bench/workcompare/buildcost.sh [outdir]   (run from anywhere; takes a few minutes)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$(mktemp -d)}
export GOCACHE=$(mktemp -d) GOFLAGS=-buildvcs=false
trap 'rm -rf "$GOCACHE"' EXIT
cd "$here/../.."
echo "load average before: $(cat /proc/loadavg)"
s=$(date +%s.%N); go build -o "$out/telltale" ./cmd/telltale; e=$(date +%s.%N)
echo "cmd/telltale, empty cache: $(echo "$e - $s" | bc) s, $(stat -c %s "$out/telltale") bytes"
cd "$here"
s=$(date +%s.%N); go build -o "$out/telltale-river" ./buildcost/telltale-river; e=$(date +%s.%N)
echo "cmd/telltale + River (pgx and SQLite drivers, migrator), on that cache: $(echo "$e - $s" | bc) s, $(stat -c %s "$out/telltale-river") bytes"
s=$(date +%s.%N); (cd "$here/../.." && go build -o "$out/telltale-2" ./cmd/telltale); e=$(date +%s.%N)
echo "cmd/telltale again, warm cache (link only): $(echo "$e - $s" | bc) s"
echo "modules River adds: $(cd "$here" && go list -deps -f '{{with .Module}}{{.Path}}{{end}}' ./buildcost/telltale-river | sort -u | grep -v -x -F -f <(cd "$here/../.." && go list -deps -f '{{with .Module}}{{.Path}}{{end}}' ./cmd/telltale | sort -u) | grep . | tr '\n' ' ')"
echo "packages: cmd/telltale $(cd "$here/../.." && go list -deps ./cmd/telltale | wc -l), with River $(go list -deps ./buildcost/telltale-river | wc -l)"
echo "load average after: $(cat /proc/loadavg)"
