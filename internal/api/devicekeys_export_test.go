package api

// RememberDeviceKey plants a key in the node's remembered device keys (tests of a stale entry).
func RememberDeviceKey(s *Server, id int64, key []byte) { s.deviceKeys.put(id, key) }

// RemembersDeviceKey says what key the node remembers for a device.
func RemembersDeviceKey(s *Server, id int64) ([]byte, bool) { return s.deviceKeys.get(id) }
