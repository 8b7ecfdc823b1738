/* Capability names, the default root set, and checks of spec capability sets. */
#include "ctr_caps.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "runtime/err.h"

/* Names by number, as in <linux/capability.h>. */
static const char *const cap_names[] = {
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
};

const char *ctr_cap_name(int cap)
{
	if (cap < 0 || (size_t)cap >= KEEL_ARRAY_SIZE(cap_names))
		return NULL;
	return cap_names[cap];
}

int keel_ctr_cap_from_name(const char *name)
{
	size_t i;

	if (strncasecmp(name, "CAP_", 4) == 0)
		name += 4;
	for (i = 0; i < KEEL_ARRAY_SIZE(cap_names); i++) {
		if (strcasecmp(name, cap_names[i]) == 0)
			return (int)i;
	}
	return -EINVAL;
}

uint64_t keel_ctr_caps_root_default(void)
{
	/* Docker's default set, minus CAP_MKNOD (keel has no device cgroup to back it). */
	static const int caps[] = {
	    CAP_CHOWN,	    CAP_DAC_OVERRIDE, CAP_FSETID,      CAP_FOWNER,  CAP_NET_RAW,
	    CAP_SETGID,	    CAP_SETUID,	      CAP_SETFCAP,     CAP_SETPCAP, CAP_NET_BIND_SERVICE,
	    CAP_SYS_CHROOT, CAP_KILL,	      CAP_AUDIT_WRITE,
	};
	uint64_t m = 0;
	size_t i;

	for (i = 0; i < KEEL_ARRAY_SIZE(caps); i++)
		m |= 1ULL << caps[i];
	return m;
}

unsigned ctr_cap_last(void)
{
	char buf[16];
	ssize_t n;
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return CAP_LAST_CAP;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return CAP_LAST_CAP;
	buf[n] = '\0';
	long v = strtol(buf, NULL, 10);
	if (v <= 0 || v > 63)
		return CAP_LAST_CAP;
	return (unsigned)v;
}

int ctr_caps_check(const struct keel_ctr_caps *c, unsigned cap_last, char *errmsg)
{
	uint64_t known = cap_last >= 63 ? ~0ULL : (1ULL << (cap_last + 1)) - 1;
	uint64_t all = c->bounding | c->effective | c->permitted | c->inheritable | c->ambient;

	if (all & ~known)
		return keel_errf(errmsg, -EINVAL,
				 "capabilities: a set names a capability above %u, unknown to "
				 "this kernel",
				 cap_last);
	if (c->effective & ~c->permitted)
		return keel_errf(errmsg, -EINVAL,
				 "capabilities: effective set must be within the permitted set");
	if (c->ambient & ~(c->permitted & c->inheritable))
		return keel_errf(errmsg, -EINVAL,
				 "capabilities: ambient set must be within both the permitted "
				 "and the inheritable sets");
	return 0;
}

void ctr_caps_format(uint64_t mask, char *buf, size_t n)
{
	size_t off = 0;
	int i;

	if (n == 0)
		return;
	buf[0] = '\0';
	for (i = 0; i < 64; i++) {
		const char *name;
		int r;

		if (!(mask & (1ULL << i)))
			continue;
		name = ctr_cap_name(i);
		r = name ? snprintf(buf + off, n - off, "%s%s", off ? "," : "", name)
			 : snprintf(buf + off, n - off, "%s%d", off ? "," : "", i);
		if (r < 0 || (size_t)r >= n - off)
			return;
		off += (size_t)r;
	}
}
