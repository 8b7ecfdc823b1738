#!/usr/bin/env bash
# bench/container: launch-to-exec latency and launch throughput of keel beside runc (and crun), same rootfs, same run.
#
# What is measured, for each launcher, in rounds that interleave the launchers
# (so that the load of other work on the machine falls on all of them alike):
#   latency     launch call -> first instruction after exec: the task is a static
#               /bin/stamp that prints CLOCK_MONOTONIC; p50 and p99 over N_LAT launches
#   seq         launch + exit (+ destroy) of /bin/true one after another, launches/s
#   par         the same with PAR launches in flight
# Launchers: fork (fork+exec+wait of the same binaries on the host, no container: the
# floor), spawn (the same with posix_spawn, which copies no page table: a lower floor),
# keel (the containerizer library, linux launcher, work dir on disk under $WORK),
# keel-tmpfs (the same with its work dir on tmpfs: no inode allocation or fsync cost,
# which shows what the filesystem adds), runc (`runc run` of an OCI bundle of the same
# rootfs), crun (same bundles; Debian's crun 1.8 may refuse this machine's hybrid cgroup
# layout: then it is reported and skipped).
# Besides launches/s, throughput runs report CPU time per launch (user + system of the
# driver and every process it reaped, descendants included): less noisy than wall time
# when other work loads the machine. The end also prints the fork and spawn floors' scaling
# (rate and CPU per launch one at a time and PAR in flight) and a "machine ceiling" line: what
# process creation on this machine allows at all, by the floors' measured scaling.
# Containers: busybox rootfs, pid+mount+uts+ipc namespaces, memory (64 MiB) and cpu
# (1 core: shares 1024, CFS quota 100000/100000) cgroups under keel/bench-<pid>,
# a default seccomp deny list and no_new_privs.
#
# Environment: ROUNDS (3), N_LAT (200), N_SEQ (300), N_PAR (600), PAR (8),
# N_RT (40: launches per measurement for runc/crun, which are ~100x slower),
# RSS (0B: memory the keel/fork driver touches first, e.g. 1GB, to show fork cost),
# BUILD (build/release), WORK (/tmp: where the work dirs go), PEERS ("runc crun"),
# BASE_BUILD (unset: another build dir whose driver runs as one more launcher, keel-base, with
# its work dir on tmpfs: an A/B of two versions of keel in the same run, e.g. a build with
# -Dctr_supervisor_libc=glibc).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
rounds=${ROUNDS:-3}
n_lat=${N_LAT:-200}
n_seq=${N_SEQ:-300}
n_par=${N_PAR:-600}
par=${PAR:-8}
n_rt=${N_RT:-40}
rss=${RSS:-0B}
build=${BUILD:-build/release}
peers=${PEERS:-runc crun}

[ "$(id -u)" -eq 0 ] || { echo "bench/container: needs root (namespaces, cgroups)" >&2; exit 1; }
bash scripts/deps.sh
[ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=release >/dev/null
ninja -C "$build" bench/keel-ctr-bench >/dev/null
driver=$top/$build/bench/keel-ctr-bench
base_build=${BASE_BUILD:-}
if [ -n "$base_build" ]; then
	[ -f "$base_build/build.ninja" ] || { echo "bench/container: BASE_BUILD=$base_build is not a build dir" >&2; exit 1; }
	ninja -C "$base_build" bench/keel-ctr-bench >/dev/null
fi

work=$(mktemp -d "${WORK:-/tmp}/keel-bench-ctr.XXXXXX")
chmod 755 "$work"
state=$(mktemp -d /run/keel-bench-ctr.XXXXXX)
shm=$(mktemp -d /dev/shm/keel-bench-ctr.XXXXXX)
cgp=keel/bench-$$
driver_pid=
cleanup() {
	if [ -n "$driver_pid" ]; then kill "$driver_pid" 2>/dev/null || true; fi
	wait 2>/dev/null || true
	for rt in runc crun; do
		command -v "$rt" >/dev/null || continue
		for c in $("$rt" --root "$state/$rt" list -q 2>/dev/null); do
			"$rt" --root "$state/$rt" delete -f "$c" >/dev/null 2>&1 || true
		done
	done
	for d in /sys/fs/cgroup/*/"$cgp"; do
		if [ -d "$d" ]; then find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
	done
	for d in /sys/fs/cgroup/*/keel; do rmdir "$d" 2>/dev/null || true; done
	rm -rf "$work" "$state" "$shm"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The rootfs: Debian's static busybox, a static stamp program, passwd and group.
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,etc,proc,sys,dev,tmp,mnt,root}
chmod 1777 "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
for a in sh true cat ls echo sleep; do ln -s busybox "$rootfs/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
cc -O2 -static -o "$rootfs/bin/stamp" bench/container/stamp.c

# One OCI bundle per slot: b0 runs /bin/stamp, b1..b$par run /bin/true, each in its own cgroup.
deny='"keyctl","add_key","request_key","kexec_load","kexec_file_load","io_uring_setup",
"io_uring_enter","io_uring_register","uselib","ustat","sysfs","_sysctl","nfsservctl",
"reboot","mount","umount2","pivot_root","move_mount","open_tree","fsopen","fsconfig","fsmount",
"fspick","mount_setattr","unshare","setns","swapon","swapoff","quotactl","fanotify_init",
"bpf","perf_event_open","userfaultfd","process_vm_readv","process_vm_writev","kcmp","syslog",
"init_module","finit_module","delete_module","settimeofday","clock_settime","clock_adjtime",
"adjtimex","iopl","ioperm","mbind","set_mempolicy","move_pages","migrate_pages","acct",
"vhangup","open_by_handle_at"'
caps='"CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_NET_RAW","CAP_SETGID",
"CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_KILL",
"CAP_AUDIT_WRITE"'
bundle() { # dir prog
	mkdir -p "$1"
	cat >"$1/config.json" <<JSON
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["$2"],
    "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "cwd": "/",
    "capabilities": {"bounding": [$caps], "effective": [$caps], "permitted": [$caps]},
    "noNewPrivileges": true
  },
  "root": {"path": "$rootfs", "readonly": false},
  "hostname": "bench",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid","noexec","nodev"]},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid","strictatime","mode=755","size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid","noexec","nodev","mode=1777","size=65536k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid","noexec","nodev","ro"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid","nodev","mode=1777"]}
  ],
  "linux": {
    "cgroupsPath": "/$cgp/rt-$(basename "$1")",
    "resources": {
      "memory": {"limit": 67108864},
      "cpu": {"shares": 1024, "quota": 100000, "period": 100000}
    },
    "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}, {"type": "ipc"}],
    "seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
      "syscalls": [{"names": [$deny], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]},
    "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list"],
    "readonlyPaths": ["/proc/bus", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
}
JSON
}
bundle "$work/bundles/b0" /bin/stamp
for i in $(seq "$par"); do bundle "$work/bundles/b$i" /bin/true; done

run_driver() { # args... -> prints the driver's one line
	local d=$driver
	if [ "$1" = --base ]; then d=$top/$base_build/bench/keel-ctr-bench; shift; fi
	"$d" --rootfs="$rootfs" "$@" &
	driver_pid=$!
	wait "$driver_pid"
	driver_pid=
}
keel_args=(--mode=keel --work_dir="$work/keel" --cgroup_parent="$cgp/keel" --rss="$rss")
keel_tmpfs_args=(--mode=keel --work_dir="$shm/keel" --cgroup_parent="$cgp/keel" --rss="$rss")
fork_args=(--mode=fork --rss="$rss")
spawn_args=(--mode=spawn --rss="$rss")
rt_args() { echo "--mode=runtime --runtime=$(command -v "$1") --runtime_root=$state/$1 --bundles=$work/bundles"; }

# Which peers run here at all.
launchers=(fork spawn keel keel-tmpfs)
if [ -n "$base_build" ]; then launchers+=(keel-base); fi
for rt in $peers; do
	if ! command -v "$rt" >/dev/null; then
		echo "bench/container: $rt is not installed; skipped" >&2
		continue
	fi
	# shellcheck disable=SC2046
	if out=$("$driver" --rootfs="$rootfs" $(rt_args "$rt") --n=1 --warmup=0 2>&1 >/dev/null); then
		launchers+=("$rt")
	else
		err=$(KEEL_BENCH_VERBOSE=1 "$(command -v "$rt")" --root "$state/$rt" run --bundle "$work/bundles/b1" probe-$$ 2>&1 | tail -1 || true)
		echo "bench/container: $rt does not run here, skipped: ${err:-$out}" >&2
		"$rt" --root "$state/$rt" delete -f probe-$$ >/dev/null 2>&1 || true
	fi
done

declare -A lat50 lat99 seq parv cpu pcpu
for r in $(seq "$rounds"); do
	# Odd rounds in one order, even rounds in the other: a load that drifts during the run
	# then falls on every launcher alike.
	order=("${launchers[@]}")
	if [ $((r % 2)) -eq 0 ]; then
		for ((i = ${#launchers[@]} - 1, j = 0; i >= 0; i--, j++)); do order[j]=${launchers[i]}; done
	fi
	for l in "${order[@]}"; do
		case $l in
		fork) args=("${fork_args[@]}") nl=$n_lat ns=$n_seq np=$n_par ;;
		spawn) args=("${spawn_args[@]}") nl=$n_lat ns=$n_seq np=$n_par ;;
		keel) args=("${keel_args[@]}") nl=$n_lat ns=$n_seq np=$n_par ;;
		keel-tmpfs) args=("${keel_tmpfs_args[@]}") nl=$n_lat ns=$n_seq np=$n_par ;;
		keel-base) args=(--base --mode=keel --work_dir="$shm/keel-base" --cgroup_parent="$cgp/keel-base" --rss="$rss") nl=$n_lat ns=$n_seq np=$n_par ;;
		*) read -r -a args <<<"$(rt_args "$l")"; nl=$n_rt ns=$n_rt np=$n_rt ;;
		esac
		read -r p50 p99 < <(run_driver "${args[@]}" --measure=latency --n="$nl")
		read -r s c < <(run_driver "${args[@]}" --measure=throughput --n="$ns" --parallel=1)
		read -r p pc < <(run_driver "${args[@]}" --measure=throughput --n="$np" --parallel="$par")
		lat50[$l]+="$p50 " lat99[$l]+="$p99 " seq[$l]+="$s " parv[$l]+="$p " cpu[$l]+="$c " pcpu[$l]+="$pc "
		printf 'round %d %-10s latency p50 %8.1f us  p99 %8.1f us | seq %7.1f/s  cpu %6d us/launch | par(%d) %7.1f/s | load %s\n' \
			"$r" "$l" "$p50" "$p99" "$s" "$c" "$par" "$p" "$(cut -d' ' -f1 /proc/loadavg)"
	done
done

# shellcheck disable=SC2086 # $1 is a list of numbers, split on purpose
median() { printf '%s\n' $1 | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "bench/container: /bin/true in a busybox rootfs, pid+mount+uts+ipc namespaces, memory+cpu cgroups;"
echo "  $rounds rounds, medians; latency = launch call -> first instruction after exec; load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '  %-10s %12s %12s %12s %14s %16s\n' "" "p50 (us)" "p99 (us)" "seq (/s)" "par $par (/s)" "cpu/launch (us)"
declare -A m50 m99 mseq mpar mcpu mpcpu
for l in "${launchers[@]}"; do
	m50[$l]=$(median "${lat50[$l]}") m99[$l]=$(median "${lat99[$l]}")
	mseq[$l]=$(median "${seq[$l]}") mpar[$l]=$(median "${parv[$l]}") mcpu[$l]=$(median "${cpu[$l]}")
	mpcpu[$l]=$(median "${pcpu[$l]}")
	printf '  %-10s %12.1f %12.1f %12.1f %14.1f %16d\n' "$l" "${m50[$l]}" "${m99[$l]}" "${mseq[$l]}" "${mpar[$l]}" "${mcpu[$l]}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
for floor in fork spawn; do
	for k in keel keel-tmpfs; do
		echo "  $k vs $floor floor: p50 latency x$(ratio "${m50[$k]}" "${m50[$floor]}"), seq x$(ratio "${mseq[$k]}" "${mseq[$floor]}"), par x$(ratio "${mpar[$k]}" "${mpar[$floor]}"), cpu/launch x$(ratio "${mcpu[$k]}" "${mcpu[$floor]}")"
	done
done
for l in "${launchers[@]}"; do
	case $l in fork | spawn | keel | keel-tmpfs | keel-base) continue ;; esac
	echo "  keel vs $l: p50 latency x$(ratio "${m50[keel]}" "${m50[$l]}") (lower is better), seq throughput x$(ratio "${mseq[keel]}" "${mseq[$l]}"), par x$(ratio "${mpar[keel]}" "${mpar[$l]}"), cpu/launch x$(ratio "${mcpu[keel]}" "${mcpu[$l]}")"
done
if [ -n "$base_build" ]; then
	echo "  keel-tmpfs vs keel-base ($base_build, tmpfs): p50 latency x$(ratio "${m50[keel-tmpfs]}" "${m50[keel-base]}"), seq x$(ratio "${mseq[keel-tmpfs]}" "${mseq[keel-base]}"), par x$(ratio "${mpar[keel-tmpfs]}" "${mpar[keel-base]}"), cpu/launch x$(ratio "${mcpu[keel-tmpfs]}" "${mcpu[keel-base]}")"
fi

# The verdict on issue 7's goal, plainly: the best keel throughput measured in this run, and
# what its CPU per launch allows on this machine's cores (wall-clock rates are what other load
# steals first; CPU per launch is what it inflates least).
cores=$(nproc)
best=0 best_how=
for k in keel keel-tmpfs; do
	for m in seq par; do
		if [ "$m" = seq ]; then v=${mseq[$k]}; how="$k, one at a time"; else v=${mpar[$k]}; how="$k, $par in flight"; fi
		if awk -v a="$v" -v b="$best" 'BEGIN {exit !(a > b)}'; then best=$v best_how=$how; fi
	done
done
cap() { awk -v c="$1" -v n="$cores" 'BEGIN {printf "%.0f", n * 1e6 / c}'; }
echo
echo "  CPU per launch allows at most: keel $(cap "${mcpu[keel]}")/s, keel-tmpfs $(cap "${mcpu[keel-tmpfs]}")/s, fork floor $(cap "${mcpu[fork]}")/s on $cores cores"
# What this machine allows: whether process creation scales with launches in flight at all
# (in a VM whose page-table updates trap to the hypervisor it may not: two launches in flight
# then cost twice the CPU each). The scaling is the floors' best rate with $par in flight
# over their rate one at a time; the ceiling of a launcher is then its rate one at a time by
# CPU (1 / CPU per launch) times that scaling, when it is above 1.
scale=1 scale_how="none measured above 1"
for f in fork spawn; do
	printf '  %s floor scaling: one at a time %.1f/s, %d us/launch; %d in flight %.1f/s, %d us/launch (rate x%s, cpu/launch x%s)\n' \
		"$f" "${mseq[$f]}" "${mcpu[$f]}" "$par" "${mpar[$f]}" "${mpcpu[$f]}" \
		"$(ratio "${mpar[$f]}" "${mseq[$f]}")" "$(ratio "${mpcpu[$f]}" "${mcpu[$f]}")"
	s=$(ratio "${mpar[$f]}" "${mseq[$f]}")
	if awk -v a="$s" -v b="$scale" 'BEGIN {exit !(a > b)}'; then scale=$s scale_how="$f, x$s"; fi
done
ceil() { awk -v c="$1" -v s="$scale" 'BEGIN {printf "%.0f", s * 1e6 / c}'; }
fbest=${mseq[spawn]} fbest_how="spawn, one at a time"
for f in fork spawn; do
	for m in seq par; do
		if [ "$m" = seq ]; then v=${mseq[$f]}; how="$f, one at a time"; else v=${mpar[$f]}; how="$f, $par in flight"; fi
		if awk -v a="$v" -v b="$fbest" 'BEGIN {exit !(a > b)}'; then fbest=$v fbest_how=$how; fi
	done
done
echo "  machine ceiling: process creation scales x$scale past one launch in flight here ($scale_how); the floors' best is $fbest/s ($fbest_how); by CPU one at a time x that scaling: keel $(ceil "${mcpu[keel]}")/s, keel-tmpfs $(ceil "${mcpu[keel-tmpfs]}")/s, fork floor $(ceil "${mcpu[fork]}")/s, spawn floor $(ceil "${mcpu[spawn]}")/s"
if awk -v b="$best" 'BEGIN {exit !(b >= 300)}'; then
	echo "VERDICT: 300 launches/s goal MET: $best/s ($best_how)"
else
	echo "VERDICT: 300 launches/s goal NOT MET here: best $best/s ($best_how); load average $(cut -d' ' -f1-3 /proc/loadavg)"
fi
