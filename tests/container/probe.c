/* Probe run inside test containers: reports what the task sees, or misbehaves on purpose. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

static int fail_usage(void)
{
	fprintf(stderr, "usage: ctr_probe status|fds|syscalls|cwd|alloc MB|forkbomb|sleep [MODE]|"
			"fifo PATH CODE|exit CODE|write PATH\n");
	return 2;
}

/* Prints the /proc/self/status lines the tests check. */
static int probe_status(void)
{
	static const char *const keys[] = {
	    "Uid:",    "Gid:",	      "Groups:",  "CapInh:", "CapPrm:", "CapEff:", "CapBnd:",
	    "CapAmb:", "NoNewPrivs:", "Seccomp:", "SigBlk:", "SigIgn:", NULL};
	char line[512];
	FILE *f = fopen("/proc/self/status", "r");
	size_t i;

	if (f == NULL)
		return 1;
	while (fgets(line, sizeof(line), f) != NULL) {
		for (i = 0; keys[i] != NULL; i++) {
			if (strncmp(line, keys[i], strlen(keys[i])) == 0)
				fputs(line, stdout);
		}
	}
	fclose(f);
	return 0;
}

/* Prints "fds: 0 1 2" (every open fd but the one used to list them). */
static int probe_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (d == NULL)
		return 1;
	printf("fds:");
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(d))
			continue;
		printf(" %s", de->d_name);
	}
	printf("\n");
	closedir(d);
	return 0;
}

static const char *err_name(int e)
{
	switch (e) {
	case 0:
		return "OK";
	case EPERM:
		return "EPERM";
	case ENOSYS:
		return "ENOSYS";
	case EACCES:
		return "EACCES";
	case EINVAL:
		return "EINVAL";
	case EFAULT:
		return "EFAULT";
	default:
		return "OTHER";
	}
}

/* Tries the syscalls the default profile denies and prints name=ERRNO for each. */
static int probe_syscalls(void)
{
	long r;

	r = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
	printf("keyctl=%s\n", err_name(r < 0 ? errno : 0));
	r = syscall(SYS_add_key, "user", "keel", "x", 1, KEY_SPEC_SESSION_KEYRING);
	printf("add_key=%s\n", err_name(r < 0 ? errno : 0));
	r = unshare(CLONE_NEWUSER);
	printf("unshare=%s\n", err_name(r < 0 ? errno : 0));
	r = mount("none", "/tmp", "tmpfs", 0, NULL);
	printf("mount=%s\n", err_name(r < 0 ? errno : 0));
	r = syscall(SYS_bpf, 0, NULL, 0);
	printf("bpf=%s\n", err_name(r < 0 ? errno : 0));
	r = syscall(SYS_io_uring_setup, 1, NULL);
	printf("io_uring_setup=%s\n", err_name(r < 0 ? errno : 0));
	r = syscall(SYS_clone3, NULL, 0);
	printf("clone3=%s\n", err_name(r < 0 ? errno : 0));
	r = syscall(SYS_reboot, 0, 0, 0, NULL);
	printf("reboot=%s\n", err_name(r < 0 ? errno : 0));
	r = syscall(SYS_getpid);
	printf("getpid=%s\n", err_name(r < 0 ? errno : 0));
	return 0;
}

/* Allocates and touches `mb` MiB, one MiB at a time; survives only under a big enough limit. */
static int probe_alloc(long mb)
{
	void *head = NULL;
	unsigned long sum = 0;
	long i;

	for (i = 0; i < mb; i++) {
		/* Chained through the chunks and summed at the end, so no compiler drops them. */
		void **p = malloc(1 << 20);
		if (p == NULL)
			return 3;
		memset(p, (int)(i & 0x7f) + 1, 1 << 20);
		*p = head;
		head = p;
	}
	for (; head != NULL; head = *(void **)head)
		sum += ((unsigned char *)head)[4096];
	printf("allocated %ld MiB (%lu)\n", mb, sum);
	return 0;
}

/* Forks children that wait forever until a fork fails; prints how many it got. */
static int probe_forkbomb(void)
{
	long n = 0;

	for (;;) {
		pid_t pid = fork();
		if (pid == 0) {
			pause();
			_exit(0);
		}
		if (pid < 0)
			break;
		n++;
	}
	printf("forks=%ld errno=%s\n", n, errno == EAGAIN ? "EAGAIN" : strerror(errno));
	fflush(stdout);
	/* Stay around with the children so the test can watch the cgroup at its limit. */
	pause();
	return 0;
}

static int exit_code_on_term = 0;

static void on_term(int sig)
{
	(void)sig;
	_exit(exit_code_on_term);
}

/* Waits forever: "ignore" ignores SIGTERM, "term-exit N" exits N on SIGTERM. */
static int probe_sleep(int argc, char **argv)
{
	if (argc >= 1 && strcmp(argv[0], "ignore") == 0)
		signal(SIGTERM, SIG_IGN);
	if (argc >= 2 && strcmp(argv[0], "term-exit") == 0) {
		exit_code_on_term = atoi(argv[1]);
		signal(SIGTERM, on_term);
	}
	if (argc >= 1 && strcmp(argv[0], "children") == 0) {
		int i;
		for (i = 0; i < 3; i++) {
			if (fork() == 0) {
				/* A child that even escapes its session. */
				setsid();
				for (;;)
					pause();
			}
		}
	}
	printf("sleeping\n");
	fflush(stdout);
	for (;;)
		pause();
	return 0;
}

/* Blocks on a fifo until the test writes a line, then exits with `code`. */
static int probe_fifo(const char *path, int code)
{
	char buf[64];
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return 4;
	if (read(fd, buf, sizeof(buf)) < 0)
		return 5;
	close(fd);
	return code;
}

static int probe_write(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	printf("write %s: %s\n", path, fd < 0 ? strerror(errno) : "ok");
	if (fd >= 0)
		close(fd);
	return fd < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	char cwd[4096];

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return fail_usage();
	if (strcmp(argv[1], "status") == 0)
		return probe_status();
	if (strcmp(argv[1], "fds") == 0)
		return probe_fds();
	if (strcmp(argv[1], "syscalls") == 0)
		return probe_syscalls();
	if (strcmp(argv[1], "cwd") == 0) {
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			return 1;
		printf("cwd=%s\n", cwd);
		return 0;
	}
	if (strcmp(argv[1], "alloc") == 0 && argc == 3)
		return probe_alloc(atol(argv[2]));
	if (strcmp(argv[1], "forkbomb") == 0)
		return probe_forkbomb();
	if (strcmp(argv[1], "sleep") == 0)
		return probe_sleep(argc - 2, argv + 2);
	if (strcmp(argv[1], "fifo") == 0 && argc == 4)
		return probe_fifo(argv[2], atoi(argv[3]));
	if (strcmp(argv[1], "exit") == 0 && argc == 3)
		return atoi(argv[2]);
	if (strcmp(argv[1], "write") == 0 && argc == 3)
		return probe_write(argv[2]);
	return fail_usage();
}
