/* Timers: a binary min-heap of deadlines kept by the loop; the loop sleeps until the earliest. */
#include <errno.h>

#include "alloc.h"
#include "loop_int.h"

/* A timer; lives in the loop's heap while active. */
struct keel_timer {
	struct keel_loop *loop; /* owning loop */
	keel_timer_cb cb;	/* callback */
	void *arg;		/* callback argument */
	uint64_t deadline;	/* loop ms at which it fires */
	uint64_t seq;		/* start order, breaks deadline ties */
	uint64_t repeat;	/* re-arm period in ms, 0 = one-shot */
	size_t index;		/* position in the heap, SIZE_MAX when stopped */
	bool firing;		/* inside its callback */
	bool freed;		/* freed inside its callback: free after it returns */
};

static bool timer_before(const struct keel_timer *a, const struct keel_timer *b)
{
	return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static void heap_set(struct keel_loop *loop, size_t i, struct keel_timer *t)
{
	loop->heap[i] = t;
	t->index = i;
}

static void heap_up(struct keel_loop *loop, size_t i)
{
	struct keel_timer *t = loop->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!timer_before(t, loop->heap[parent]))
			break;
		heap_set(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_set(loop, i, t);
}

static void heap_down(struct keel_loop *loop, size_t i)
{
	struct keel_timer *t = loop->heap[i];

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct keel_timer *best = t;
		if (l < loop->heap_len && timer_before(loop->heap[l], best)) {
			m = l;
			best = loop->heap[l];
		}
		if (r < loop->heap_len && timer_before(loop->heap[r], best))
			m = r;
		if (m == i)
			break;
		heap_set(loop, i, loop->heap[m]);
		i = m;
	}
	heap_set(loop, i, t);
}

static void heap_remove(struct keel_loop *loop, struct keel_timer *t)
{
	size_t i = t->index;
	struct keel_timer *last;

	t->index = SIZE_MAX;
	last = loop->heap[--loop->heap_len];
	if (last == t)
		return;
	heap_set(loop, i, last);
	heap_up(loop, i);
	heap_down(loop, last->index);
}

static int heap_insert(struct keel_loop *loop, struct keel_timer *t)
{
	if (loop->heap_len == loop->heap_cap) {
		size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
		struct keel_timer **h = keel_realloc(loop->heap, cap * sizeof(*h));
		if (h == NULL)
			return -ENOMEM;
		loop->heap = h;
		loop->heap_cap = cap;
	}
	t->seq = loop->timer_seq++;
	heap_set(loop, loop->heap_len++, t);
	heap_up(loop, t->index);
	return 0;
}

int keel_timer_new(struct keel_loop *loop, keel_timer_cb cb, void *arg, struct keel_timer **out)
{
	struct keel_timer *t = keel_calloc(1, sizeof(*t));

	if (t == NULL)
		return -ENOMEM;
	t->loop = loop;
	t->cb = cb;
	t->arg = arg;
	t->index = SIZE_MAX;
	*out = t;
	return 0;
}

int keel_timer_start(struct keel_timer *t, uint64_t after_ms, uint64_t repeat_ms)
{
	keel_timer_stop(t);
	t->deadline = t->loop->now_ms + after_ms;
	t->repeat = repeat_ms;
	return heap_insert(t->loop, t);
}

void keel_timer_stop(struct keel_timer *t)
{
	if (t->index != SIZE_MAX)
		heap_remove(t->loop, t);
}

bool keel_timer_active(const struct keel_timer *t)
{
	return t->index != SIZE_MAX;
}

void keel_timer_free(struct keel_timer *t)
{
	if (t == NULL)
		return;
	keel_timer_stop(t);
	if (t->firing) {
		t->freed = true;
		return;
	}
	keel_free(t);
}

int64_t keel_timer_run_due(struct keel_loop *loop)
{
	uint64_t now = loop->now_ms;

	while (loop->heap_len > 0) {
		struct keel_timer *t = loop->heap[0];
		if (t->deadline > now)
			return (int64_t)(t->deadline - now);
		heap_remove(loop, t);
		if (t->repeat > 0) {
			/* Re-arm before the callback so that it may stop or restart the timer. */
			t->deadline = now + t->repeat;
			if (heap_insert(loop, t) < 0)
				t->repeat = 0;
		}
		t->firing = true;
		t->cb(t, t->arg);
		t->firing = false;
		if (t->freed)
			keel_free(t);
	}
	return -1;
}

void keel_timer_free_all(struct keel_loop *loop)
{
	while (loop->heap_len > 0) {
		struct keel_timer *t = loop->heap[--loop->heap_len];
		t->index = SIZE_MAX;
		/* Active timers still owned by the caller are detached, not freed: see loop.h. */
	}
}
