// Package archtest enforces the architecture with tests: the import rules of docs/ARCHITECTURE.md
// and a doc comment on every package. It has no code of its own; run it with -count=1.
package archtest
