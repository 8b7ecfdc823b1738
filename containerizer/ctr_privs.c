/* The task's privilege drop: groups and ids, capability sets, no_new_privs, then seccomp. */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "ctr_plan.h"
#include "ctr_sys.h"
#include "runtime/err.h"

/*
 * Order matters (docs/containerizer.md):
 *  1. setgroups + setresgid while we still have CAP_SETGID;
 *  2. drop the bounding set while we still have CAP_SETPCAP;
 *  3. setresuid with PR_SET_KEEPCAPS, so the permitted set survives leaving uid 0;
 *  4. capset the final effective/permitted/inheritable sets;
 *  5. raise the ambient set (needs each cap permitted and inheritable);
 *  6. no_new_privs, then the seccomp filter (last: it may deny what came before);
 *  7. the parent-death signal (credential changes above reset it).
 */
int ctr_privs_apply(const struct ctr_plan *p, char *errmsg)
{
	unsigned c;

	if (p->set_user) {
		if (setgroups(p->ngroups, p->groups) < 0)
			return keel_errno_f(errmsg, -errno, "setgroups");
		if (setresgid(p->gid, p->gid, p->gid) < 0)
			return keel_errno_f(errmsg, -errno, "setresgid %u", (unsigned)p->gid);
	}
	if (p->privileged) {
		for (c = 0; c <= p->cap_last && c < 64; c++) {
			if (p->caps.bounding & (1ULL << c))
				continue;
			if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
				return keel_errno_f(errmsg, -errno,
						    "drop capability %u from the "
						    "bounding set",
						    c);
		}
	}
	if (p->set_user) {
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
			return keel_errno_f(errmsg, -errno, "PR_SET_KEEPCAPS");
		if (setresuid(p->uid, p->uid, p->uid) < 0)
			return keel_errno_f(errmsg, -errno, "setresuid %u", (unsigned)p->uid);
		if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
			return keel_errno_f(errmsg, -errno, "PR_SET_KEEPCAPS");
	}
	if (ctr_capset(p->caps.effective, p->caps.permitted, p->caps.inheritable) < 0)
		return keel_errno_f(errmsg, -errno, "capset");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return keel_errno_f(errmsg, -errno, "clear the ambient capability set");
	for (c = 0; c <= p->cap_last && c < 64; c++) {
		if (!(p->caps.ambient & (1ULL << c)))
			continue;
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
			return keel_errno_f(errmsg, -errno, "raise ambient capability %u", c);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return keel_errno_f(errmsg, -errno, "PR_SET_NO_NEW_PRIVS");
	int rv = ctr_seccomp_install(&p->seccomp);
	if (rv < 0)
		return keel_errno_f(errmsg, rv, "install the seccomp filter");
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return keel_errno_f(errmsg, -errno, "PR_SET_PDEATHSIG");
	return 0;
}
