package onedrive

import "sync"

// cache is a map of at most 2 x size recent entries: two generations, the current one filled
// until it holds size entries, then made the old one (the one before dropped); a hit in the old
// generation moves to the current one. What the session keeps in memory (folder names, people,
// personal sites, catch-up links) is such a cache, so that its memory does not grow with the
// number of drives or files (docs/BENCHMARKS.md, microsoft (e)); what must outlive it is in the
// store (the file index's alt ids, the streams' cursors) or is asked of Graph again.
type cache[K comparable, V any] struct {
	mu       sync.Mutex
	size     int
	cur, old map[K]V
}

func newCache[K comparable, V any](size int) *cache[K, V] {
	return &cache[K, V]{size: max(1, size), cur: map[K]V{}}
}

func (c *cache[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.cur[k]; ok {
		return v, true
	}
	v, ok := c.old[k]
	if ok {
		c.putLocked(k, v)
	}
	return v, ok
}

func (c *cache[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(k, v)
}

func (c *cache[K, V]) putLocked(k K, v V) {
	if _, ok := c.cur[k]; !ok && len(c.cur) >= c.size {
		c.old, c.cur = c.cur, make(map[K]V, c.size/4)
	}
	c.cur[k] = v
}

func (c *cache[K, V]) del(k K) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, a := c.cur[k]
	_, b := c.old[k]
	delete(c.cur, k)
	delete(c.old, k)
	return a || b
}

// len is how many entries the cache holds (both generations; an entry in both counts twice).
func (c *cache[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.old)
}
