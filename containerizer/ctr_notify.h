/* The record a supervisor writes to its caller's notify pipe (one atomic write per event). */
#ifndef KEEL_CTR_NOTIFY_H
#define KEEL_CTR_NOTIFY_H

#include <stdint.h>

/* Kinds of notify records. */
#define CTR_NOTIFY_RUNNING 1 /* the task exec'd; pid is its host pid */

/* Fixed-size record; pipes deliver it whole (smaller than PIPE_BUF). */
struct ctr_notify_msg {
	int32_t kind; /* CTR_NOTIFY_* */
	int32_t pid;  /* task pid */
};

#endif
