#!/usr/bin/env python3
# Builds the keel-ctr-supervisor program with musl-gcc as a static PIE (see meson.build: why musl).
#
# musl_supervisor.py MUSL_GCC OUTPUT DEPFILE [cflags...] -- sources...
#
# musl-gcc searches musl's headers only; the kernel's (<linux/*.h>, <asm/*.h>)
# come from a directory of links to the host's, searched last. Each source is
# compiled on its own (its dependencies go to one depfile for ninja), then all
# are linked against musl's start file for static PIEs (rcrt1.o: it relocates
# the program itself), which Debian's musl-gcc specs do not pick by themselves.
import os
import re
import shutil
import subprocess
import sys


def run(cmd):
    r = subprocess.run(cmd)
    if r.returncode != 0:
        sys.exit(r.returncode)


def output_of(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def kernel_headers(musl_gcc, into):
    """Makes `into` hold links to the host's linux/, asm/ and asm-generic/ headers."""
    multiarch = output_of([musl_gcc, '-print-multiarch']) or 'x86_64-linux-gnu'
    dirs = {
        'linux': ['/usr/include/linux'],
        'asm-generic': ['/usr/include/asm-generic'],
        'asm': ['/usr/include/%s/asm' % multiarch, '/usr/include/asm'],
    }
    os.makedirs(into, exist_ok=True)
    for name, candidates in dirs.items():
        found = next((d for d in candidates if os.path.isdir(d)), None)
        if found is None:
            sys.exit('musl_supervisor.py: no kernel headers for <%s/...> (install linux-libc-dev)'
                     % name)
        link = os.path.join(into, name)
        if os.path.islink(link) and os.readlink(link) == found:
            continue
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(found, link)


def musl_lib_dir(musl_gcc):
    """musl's crt files are beside the specs file its wrapper names (gcc would find glibc's)."""
    path = shutil.which(musl_gcc) or musl_gcc
    with open(path, errors='replace') as f:
        m = re.search(r'-specs[ =]"?([^"\s]+)', f.read())
    lib = os.path.dirname(m.group(1)) if m else ''
    if not os.path.isfile(os.path.join(lib, 'rcrt1.o')):
        sys.exit('musl_supervisor.py: cannot find musl\'s rcrt1.o through %s' % path)
    return lib


def main():
    args = sys.argv[1:]
    if '--' not in args or len(args) < 4:
        sys.exit('usage: musl_supervisor.py MUSL_GCC OUTPUT DEPFILE [cflags...] -- sources...')
    sep = args.index('--')
    musl_gcc, output, depfile = args[0], args[1], args[2]
    cflags, sources = args[3:sep], args[sep + 1:]
    work = output + '.p'
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    kernel_headers(musl_gcc, os.path.join(work, 'kernel-include'))

    objects, deps = [], []
    for i, src in enumerate(sources):
        obj = os.path.join(work, '%d-%s.o' % (i, os.path.basename(src)))
        dep = obj + '.d'
        run([musl_gcc] + cflags + ['-idirafter', os.path.join(work, 'kernel-include'),
                                   '-MD', '-MF', dep, '-MT', output, '-c', src, '-o', obj])
        objects.append(obj)
        deps.append(dep)

    lib = musl_lib_dir(musl_gcc)
    crt = os.path.join(lib, 'rcrt1.o')
    gcc_file = lambda name: output_of([musl_gcc, '-print-file-name=' + name])
    run([musl_gcc, '-static-pie', '-nostartfiles',
         '-Wl,-static,-pie,--no-dynamic-linker,-z,text,--gc-sections,-z,relro,-z,now,-S',
         crt, os.path.join(lib, 'crti.o'), gcc_file('crtbeginS.o')] + objects +
        [gcc_file('crtendS.o'), os.path.join(lib, 'crtn.o'), '-o', output])

    with open(depfile, 'w') as out:
        for dep in deps:
            with open(dep) as f:
                out.write(f.read())


main()
