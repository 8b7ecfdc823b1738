/* The default seccomp profile: built by libseccomp in the caller, loaded as BPF in the task. */
#ifndef KEEL_CTR_SECCOMP_H
#define KEEL_CTR_SECCOMP_H

#include <linux/filter.h>
#include <stdint.h>

/* Capabilities that relax the profile (a mask of 1 << CAP_*). */
uint64_t ctr_seccomp_relevant_caps(void);

/*
 * Builds the default profile for a task whose capabilities can reach at
 * most `caps` (its bounding set): every syscall is allowed except the deny
 * list (docs/containerizer.md), some of which a capability re-allows as
 * Docker does. Syscalls of another ABI (i386, x32) kill the process. On
 * success out->filter is heap-owned (free with ctr_seccomp_free).
 */
int ctr_seccomp_build(uint64_t caps, struct sock_fprog *out, char *errmsg);
void ctr_seccomp_free(struct sock_fprog *p);

#endif
