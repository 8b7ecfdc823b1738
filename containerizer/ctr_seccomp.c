/* Default seccomp deny list, compiled once per capability profile and installed before exec. */
#include "ctr_seccomp.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/err.h"

/* A syscall denied with EPERM unless the task may hold capability `cap` (-1: always denied). */
struct deny_rule {
	const char *name; /* syscall name as libseccomp knows it */
	int cap;	  /* relaxing capability, or -1 */
	int err;	  /* errno returned */
};

#define ALWAYS (-1)

static const struct deny_rule deny_rules[] = {
    /* Kernel keyrings are not namespaced. */
    {"keyctl", ALWAYS, EPERM},
    {"add_key", ALWAYS, EPERM},
    {"request_key", ALWAYS, EPERM},
    /* Replacing or rebooting the kernel. */
    {"kexec_load", ALWAYS, EPERM},
    {"kexec_file_load", ALWAYS, EPERM},
    {"reboot", CAP_SYS_BOOT, EPERM},
    /* io_uring bypasses this filter for the operations it runs. */
    {"io_uring_setup", ALWAYS, EPERM},
    {"io_uring_enter", ALWAYS, EPERM},
    {"io_uring_register", ALWAYS, EPERM},
    /* Obsolete or host-wide interfaces. */
    {"uselib", ALWAYS, EPERM},
    {"ustat", ALWAYS, EPERM},
    {"sysfs", ALWAYS, EPERM},
    {"_sysctl", ALWAYS, EPERM},
    {"nfsservctl", ALWAYS, EPERM},
    {"create_module", ALWAYS, EPERM},
    {"get_kernel_syms", ALWAYS, EPERM},
    {"query_module", ALWAYS, EPERM},
    {"vm86", ALWAYS, EPERM},
    {"vm86old", ALWAYS, EPERM},
    {"lookup_dcookie", CAP_SYS_ADMIN, EPERM},
    /* Mounts and namespaces. */
    {"mount", CAP_SYS_ADMIN, EPERM},
    {"umount2", CAP_SYS_ADMIN, EPERM},
    {"pivot_root", CAP_SYS_ADMIN, EPERM},
    {"move_mount", CAP_SYS_ADMIN, EPERM},
    {"open_tree", CAP_SYS_ADMIN, EPERM},
    {"fsopen", CAP_SYS_ADMIN, EPERM},
    {"fsconfig", CAP_SYS_ADMIN, EPERM},
    {"fsmount", CAP_SYS_ADMIN, EPERM},
    {"fspick", CAP_SYS_ADMIN, EPERM},
    {"mount_setattr", CAP_SYS_ADMIN, EPERM},
    {"unshare", CAP_SYS_ADMIN, EPERM},
    {"setns", CAP_SYS_ADMIN, EPERM},
    {"swapon", CAP_SYS_ADMIN, EPERM},
    {"swapoff", CAP_SYS_ADMIN, EPERM},
    {"quotactl", CAP_SYS_ADMIN, EPERM},
    {"quotactl_fd", CAP_SYS_ADMIN, EPERM},
    {"fanotify_init", CAP_SYS_ADMIN, EPERM},
    /* clone3 passes its flags in memory a filter cannot read: ENOSYS makes libc fall back to clone.
     */
    {"clone3", CAP_SYS_ADMIN, ENOSYS},
    /* Tracing and introspection of the kernel and other processes. */
    {"bpf", CAP_SYS_ADMIN, EPERM},
    {"perf_event_open", CAP_SYS_ADMIN, EPERM},
    {"userfaultfd", CAP_SYS_PTRACE, EPERM},
    {"process_vm_readv", CAP_SYS_PTRACE, EPERM},
    {"process_vm_writev", CAP_SYS_PTRACE, EPERM},
    {"kcmp", CAP_SYS_PTRACE, EPERM},
    {"syslog", CAP_SYSLOG, EPERM},
    /* Kernel modules. */
    {"init_module", CAP_SYS_MODULE, EPERM},
    {"finit_module", CAP_SYS_MODULE, EPERM},
    {"delete_module", CAP_SYS_MODULE, EPERM},
    /* The clock is not namespaced. */
    {"settimeofday", CAP_SYS_TIME, EPERM},
    {"clock_settime", CAP_SYS_TIME, EPERM},
    {"clock_adjtime", CAP_SYS_TIME, EPERM},
    {"adjtimex", CAP_SYS_TIME, EPERM},
    {"stime", CAP_SYS_TIME, EPERM},
    /* Raw I/O ports, NUMA policy, accounting, terminals, file handles. */
    {"iopl", CAP_SYS_RAWIO, EPERM},
    {"ioperm", CAP_SYS_RAWIO, EPERM},
    {"mbind", CAP_SYS_NICE, EPERM},
    {"set_mempolicy", CAP_SYS_NICE, EPERM},
    {"move_pages", CAP_SYS_NICE, EPERM},
    {"migrate_pages", CAP_SYS_NICE, EPERM},
    {"acct", CAP_SYS_PACCT, EPERM},
    {"vhangup", CAP_SYS_TTY_CONFIG, EPERM},
    {"open_by_handle_at", CAP_DAC_READ_SEARCH, EPERM},
};

/* clone(2) flags that create namespaces: denied without CAP_SYS_ADMIN, like unshare. */
static const unsigned long clone_ns_flags[] = {
    CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,	 CLONE_NEWUSER,
    CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP,
};

uint64_t ctr_seccomp_relevant_caps(void)
{
	uint64_t m = 0;
	size_t i;

	for (i = 0; i < KEEL_ARRAY_SIZE(deny_rules); i++) {
		if (deny_rules[i].cap >= 0)
			m |= 1ULL << deny_rules[i].cap;
	}
	return m;
}

static bool has_cap(uint64_t caps, int cap)
{
	return cap >= 0 && (caps & (1ULL << cap)) != 0;
}

/* Exports the compiled filter into a heap copy through a memfd (libseccomp 2.5 writes to fds). */
static int export_bpf(scmp_filter_ctx sc, struct sock_fprog *out, char *errmsg)
{
	off_t size;
	void *mem;
	ssize_t n;
	int fd, rv;

	fd = memfd_create("keel-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return keel_errno_f(errmsg, -errno, "seccomp: memfd_create");
	rv = seccomp_export_bpf(sc, fd);
	if (rv < 0) {
		close(fd);
		return keel_errno_f(errmsg, rv, "seccomp: export");
	}
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0 ||
	    size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS) {
		close(fd);
		return keel_errf(errmsg, -EINVAL, "seccomp: exported program has a bad size");
	}
	mem = keel_malloc((size_t)size);
	if (mem == NULL) {
		close(fd);
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	}
	n = pread(fd, mem, (size_t)size, 0);
	close(fd);
	if (n != size) {
		keel_free(mem);
		return keel_errf(errmsg, -EIO, "seccomp: short read of the exported program");
	}
	out->filter = mem;
	out->len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
	return 0;
}

int ctr_seccomp_build(uint64_t caps, struct sock_fprog *out, char *errmsg)
{
	scmp_filter_ctx sc;
	size_t i;
	int rv = 0;

	memset(out, 0, sizeof(*out));
	sc = seccomp_init(SCMP_ACT_ALLOW);
	if (sc == NULL)
		return keel_errf(errmsg, -ENOMEM, "seccomp: init failed");
	rv = seccomp_attr_set(sc, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (rv < 0) {
		keel_errno_f(errmsg, rv, "seccomp: bad-arch action");
		goto out;
	}
	/* We set no_new_privs ourselves, right before loading. */
	seccomp_attr_set(sc, SCMP_FLTATR_CTL_NNP, 0);
	for (i = 0; i < KEEL_ARRAY_SIZE(deny_rules); i++) {
		const struct deny_rule *r = &deny_rules[i];
		int nr;

		if (r->cap >= 0 && has_cap(caps, r->cap))
			continue;
		nr = seccomp_syscall_resolve_name(r->name);
		if (nr == __NR_SCMP_ERROR || nr < 0)
			continue; /* not a syscall on this architecture */
		rv = seccomp_rule_add(sc, SCMP_ACT_ERRNO(r->err), nr, 0);
		if (rv < 0) {
			keel_errno_f(errmsg, rv, "seccomp: rule for %s", r->name);
			goto out;
		}
	}
	if (!has_cap(caps, CAP_SYS_ADMIN)) {
		for (i = 0; i < KEEL_ARRAY_SIZE(clone_ns_flags); i++) {
			rv = seccomp_rule_add(
			    sc, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
			    SCMP_A0(SCMP_CMP_MASKED_EQ, clone_ns_flags[i], clone_ns_flags[i]));
			if (rv < 0) {
				keel_errno_f(errmsg, rv, "seccomp: rule for clone");
				goto out;
			}
		}
	}
	rv = export_bpf(sc, out, errmsg);
out:
	seccomp_release(sc);
	return rv;
}

void ctr_seccomp_free(struct sock_fprog *p)
{
	keel_free(p->filter);
	p->filter = NULL;
	p->len = 0;
}
