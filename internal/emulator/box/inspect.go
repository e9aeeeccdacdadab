package box

// OwnedFiles counts the files (not trashed, not in trashed folders) a user owns: the ground truth
// of a baseline crawl of that user's drive.
func (e *Emulator) OwnedFiles(userID string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, it := range e.items {
		if it.typ != "file" || it.owner != userID || e.inTrashLocked(it) {
			continue
		}
		n++
	}
	return n
}

func (e *Emulator) inTrashLocked(it *item) bool {
	for it != nil {
		if it.trashed {
			return true
		}
		if it.root || it.parent == "" {
			return false
		}
		it = e.items[it.parent]
	}
	return false
}

// SetRateLimit changes the per-user request limit (requests per minute; < 0 turns it off).
func (e *Emulator) SetRateLimit(perMinute int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.o.RateLimitPerMinute = perMinute
	e.buckets = map[string]*bucket{}
}

// Webhooks counts the registered webhooks (the ground truth of push-lifecycle tests).
func (e *Emulator) Webhooks() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.webhooks)
}

// DropWebhooks deletes every webhook, as Box does with a webhook whose folder is deleted or whose
// deliveries keep failing; it returns how many there were.
func (e *Emulator) DropWebhooks() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := len(e.webhooks)
	clear(e.webhooks)
	return n
}
