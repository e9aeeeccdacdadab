package bench

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// cpuMeter reads the CPU time used so far by this process and, when it runs on this machine, by
// the PostgreSQL server a benchmark talks to (its postmaster and every process it started,
// those that ended included): a round's CPU seconds per event are steadier than its events per
// second on a shared machine, where a neighbour's load slows a round without making it cost
// more.
type cpuMeter struct {
	postmaster int // 0: no server measured (SQLite, or a server elsewhere)
}

// newCPUMeter finds the server behind db (by its port, among this machine's processes) when db
// is a PostgreSQL connection; db nil measures this process only.
func newCPUMeter(ctx context.Context, db *sql.DB) cpuMeter {
	if db == nil {
		return cpuMeter{}
	}
	var port string
	if err := db.QueryRowContext(ctx, `SELECT current_setting('port')`).Scan(&port); err != nil {
		return cpuMeter{}
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		cmd, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(bytes.TrimRight(cmd, "\x00")), "\x00")
		if !strings.HasSuffix(args[0], "postgres") {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-p" && args[i+1] == port {
				pid, _ := strconv.Atoi(filepath.Base(d))
				return cpuMeter{postmaster: pid}
			}
		}
	}
	return cpuMeter{}
}

// seconds is the CPU time used so far: this process's, and the server's if one was found.
func (m cpuMeter) seconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	s := float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
	if m.postmaster == 0 {
		return s
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		f := procStat(filepath.Join(d, "stat"))
		if len(f) < 15 {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		ppid, _ := strconv.Atoi(f[1])
		switch {
		case pid == m.postmaster: // its own time and that of the children it has reaped
			s += ticks(f[11]) + ticks(f[12]) + ticks(f[13]) + ticks(f[14])
		case ppid == m.postmaster:
			s += ticks(f[11]) + ticks(f[12])
		}
	}
	return s
}

// hasServer says whether the server's CPU is measured too.
func (m cpuMeter) hasServer() bool { return m.postmaster != 0 }

// procStat is the fields of a /proc/PID/stat after the command's name: [0] the state, [1] the
// parent, ... [11] utime, [12] stime, [13] cutime, [14] cstime (proc(5), fields 3 on).
func procStat(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// ticks converts clock ticks (USER_HZ, 100 on Linux) to seconds.
func ticks(s string) float64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return float64(n) / 100
}
