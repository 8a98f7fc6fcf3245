package apikey

// GenerateFrom and MustGenerateFrom let tests supply the random source.
var (
	GenerateFrom     = generate
	MustGenerateFrom = mustGenerate
)

// CacheLen returns how many records v caches.
func CacheLen(v *Verifier) int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.entries)
}
