/* keelctl: the operator CLI; each subcommand is one function taking the arguments after its name.
 */
#ifndef KEEL_CLI_KEELCTL_H
#define KEEL_CLI_KEELCTL_H

/*
 * Exit codes every subcommand follows: 0 done, 1 failed (message on stderr),
 * 2 usage error, 3 the answer is "nothing" (e.g. no leader elected).
 */
#define KEELCTL_OK 0
#define KEELCTL_FAIL 1
#define KEELCTL_USAGE 2
#define KEELCTL_NONE 3

/* `keelctl coord leader|members URL [flags]`; argv[0] is "coord". */
int keelctl_coord(int argc, char **argv);

/*
 * `keelctl leader|agents|frameworks|tasks|roles|task|agent|completion ...`: the operator API
 * v1 on the leading master; argv[0] is the command.
 */
int keelctl_master(int argc, char **argv);

/* `keelctl log dump --work_dir=DIR`: a stopped master's registry log; argv[0] is "log". */
int keelctl_log(int argc, char **argv);

/* `keelctl cluster up|down|url|masters|agents`: a local cluster; argv[0] is "cluster". */
int keelctl_cluster(int argc, char **argv);

#endif
