/* Capability names, default sets and spec checks (the kernel side is in ctr_privs.c). */
#ifndef KEEL_CTR_CAPS_H
#define KEEL_CTR_CAPS_H

#include <stdint.h>

#include "containerizer.h"

/* Name of capability n without the CAP_ prefix, lower case ("net_admin"), or NULL. */
const char *ctr_cap_name(int cap);

/* Highest capability number the running kernel knows (/proc/sys/kernel/cap_last_cap). */
unsigned ctr_cap_last(void);

/*
 * Checks a spec's sets against the kernel rules: effective and ambient
 * within permitted, ambient within inheritable, no bit above cap_last.
 */
int ctr_caps_check(const struct keel_ctr_caps *c, unsigned cap_last, char *errmsg);

/* Formats a mask as "chown,kill,..." into buf ("" for none). */
void ctr_caps_format(uint64_t mask, char *buf, size_t n);

#endif
