package password

import "context"

// ExtraCommon exposes the hand-written list for tests.
var ExtraCommon = extraCommon

// HoldSlot takes one of h's computation slots until the returned function
// is called, so tests can observe waiting on a full semaphore.
func (h *Hasher) HoldSlot() (release func()) {
	if err := h.acquire(context.Background()); err != nil {
		panic(err)
	}
	return h.release
}
