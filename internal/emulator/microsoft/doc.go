// Package microsoft is a stateful, in-memory emulator of the Microsoft 365 APIs the OneDrive and
// Microsoft 365 mail connectors use (issue 15), served over real HTTP (loopback only). See the
// package's files for what is emulated so far.
package microsoft
