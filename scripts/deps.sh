#!/usr/bin/env bash
# Installs every Debian 12 package keel needs to build, test and benchmark (idempotent; run as root).
set -euo pipefail

# One list. Build: toolchain and libraries. Test: clang (libFuzzer), services
# the integration suite starts by hand (zookeeper, etcd-server), container
# tooling. Bench: wrk, nginx, runc. docs/dependencies.md says why each is here.
packages=(
	build-essential pkg-config meson ninja-build python3 git
	clang libclang-rt-14-dev clang-format
	liburing-dev libprotobuf-c-dev protobuf-c-compiler liblmdb-dev lmdb-utils
	libzookeeper-mt-dev libcurl4-openssl-dev libjansson-dev
	libseccomp-dev libarchive-dev libcap-dev busybox-static runc crun musl-tools
	curl iproute2 procps
	wrk nginx-light
	zookeeper etcd-server
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: these packages are missing and installing them needs root: ${missing[*]}" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
