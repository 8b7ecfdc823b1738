#!/usr/bin/env bash
# Installs the build into a scratch DESTDIR and compiles and runs a program against libkeel-sched via pkg-config alone.
# Usage: it_install.sh BUILD_DIR [CC] [SANITIZE]   (SANITIZE: the build's b_sanitize, e.g. address,undefined)
set -euo pipefail
B=$(realpath "$1")
CC=${2:-cc}
san=()
if [ -n "${3:-}" ] && [ "$3" != none ]; then san=(-fsanitize="$3"); fi
D=$(mktemp -d "$B/install-test.XXXXXX")
trap 'rm -rf "$D"' EXIT
meson install -C "$B" --destdir "$D" --no-rebuild --quiet >/dev/null
pc=$(dirname "$(find "$D" -name libkeel-sched.pc | head -1)")
[ -n "$pc" ] || { echo "libkeel-sched.pc was not installed"; exit 1; }
export PKG_CONFIG_PATH=$pc PKG_CONFIG_SYSROOT_DIR=$D
cat >"$D/client.c" <<'C'
#include <stdio.h>
#include <keel/scheduler.h>

int main(void)
{
	Mesos__V1__Resource **r = NULL;
	size_t n = 0;
	char msg[256];

	if (keel_sched_resources_parse("cpus:0.5;mem:128", &r, &n, msg) != 0 || n != 2) {
		fprintf(stderr, "parse failed: %s\n", msg);
		return 1;
	}
	keel_sched_resources_free(r, n);
	printf("ok\n");
	return 0;
}
C
# shellcheck disable=SC2046
"$CC" "${san[@]}" -o "$D/client" "$D/client.c" $(pkg-config --cflags --libs libkeel-sched)
out=$(LD_LIBRARY_PATH=$(dirname "$(find "$D" -name 'libkeel-sched.so' | head -1)") "$D/client")
[ "$out" = ok ] || { echo "client printed: $out"; exit 1; }
echo "ok: a program built from pkg-config alone links and runs against the installed libkeel-sched"
