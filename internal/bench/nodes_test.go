package bench

import (
	"context"
	"io"
	"strings"
	"testing"
)

// TestFormatNodes: the table has each node count's rounds, median, ratio to one node and the
// median round's CPU per event.
func TestFormatNodes(t *testing.T) {
	rs := []NodesResult{
		{Nodes: 1, Median: 1000, Runs: []NodesRun{{Rate: 900, Stored: 10000, Seconds: 10, NodeCPU: 2, PGCPU: 1}, {Rate: 1000, Stored: 10000, Seconds: 10, NodeCPU: 3, PGCPU: 2, Busy: 1}, {Rate: 1100}}},
		{Nodes: 3, Median: 2500, Runs: []NodesRun{{Rate: 2500, Stored: 10000, Seconds: 4, NodeCPU: 4, PGCPU: 2}}},
	}
	out := FormatNodes(rs, NodesOptions{Connections: 6, Backlog: 100, Workers: 8, Rounds: 3}, "cmd")
	for _, want := range []string{"| 1 | 900, 1000, 1100 | 1000 | x1.00 | 0.300 / 0.200 / 0.000 | 0.50 | 0.00 / 0.00 | 100% |", "| 3 | 2500 | 2500 | x2.50 | 0.400 / 0.200 / 0.000 | 1.50 |", "`cmd`"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

// TestNodesCommandArgs: bad arguments are refused before anything runs, naming the flag.
func TestNodesCommandArgs(t *testing.T) {
	for _, args := range [][]string{{"-nodes", "1,x"}, {"-nodes", "0"}, {"-rounds", "0"}, {"extra"}} {
		err := NodesCommand(context.Background(), args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "nodes:") {
			t.Errorf("NodesCommand(%q) = %v, want an error naming the problem", args, err)
		}
	}
}
