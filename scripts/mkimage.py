#!/usr/bin/env python3
"""Builds a tiny `docker save` archive of Debian's static busybox (nothing downloaded).

Usage: mkimage.py OUT.tar [NAME:TAG]   (default busybox:latest)

The image has one layer (/bin/busybox with the usual applet links, /etc/passwd and
/etc/group with root and nobody, /tmp), Cmd ["sh"], and PATH in Env, so that
`keel-containerizer images import OUT.tar` and the agent's image store can run it.
"""
import hashlib
import io
import json
import os
import sys
import tarfile
import time

APPLETS = ["sh", "echo", "cat", "ls", "sleep", "true", "false", "env", "id", "hostname",
           "date", "seq", "wc", "head", "tail", "grep", "ps", "uname", "mkdir", "rm"]


def add_file(tar, name, data, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def add_dir(tar, name, mode=0o755):
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    info.mtime = 0
    tar.addfile(info)


def add_link(tar, name, target):
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    info.mtime = 0
    tar.addfile(info)


def layer_bytes(busybox):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ["bin", "etc", "root", "tmp"]:
            add_dir(tar, d, 0o1777 if d == "tmp" else 0o755)
        with open(busybox, "rb") as f:
            add_file(tar, "bin/busybox", f.read(), 0o755)
        for a in APPLETS:
            add_link(tar, "bin/" + a, "busybox")
        add_file(tar, "etc/passwd",
                 b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n")
        add_file(tar, "etc/group", b"root:x:0:\nnogroup:x:65534:\n")
    return buf.getvalue()


def main():
    if len(sys.argv) not in (2, 3):
        sys.stderr.write(__doc__)
        return 2
    out = sys.argv[1]
    ref = sys.argv[2] if len(sys.argv) == 3 else "busybox:latest"
    busybox = "/bin/busybox"
    if not os.path.isfile(busybox):
        sys.stderr.write("mkimage.py: /bin/busybox is missing (apt-get install busybox-static)\n")
        return 1
    layer = layer_bytes(busybox)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(0)),
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }, sort_keys=True).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_dir = hashlib.sha256(layer).hexdigest()
    manifest = json.dumps([{"Config": config_name, "RepoTags": [ref],
                            "Layers": [layer_dir + "/layer.tar"]}]).encode()
    tmp = out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        add_dir(tar, layer_dir)
        add_file(tar, layer_dir + "/layer.tar", layer)
        add_file(tar, config_name, config)
        add_file(tar, "manifest.json", manifest)
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
