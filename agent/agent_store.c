/* The agent's LMDB checkpoint store with one open write transaction per batch. */
#include "agent/agent_store.h"

#include <errno.h>
#include <lmdb.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/alloc.h"
#include "runtime/err.h"

/* An open store. */
struct agent_store {
	MDB_env *env;	       /* the environment */
	MDB_dbi dbi;	       /* the one database */
	MDB_txn *txn;	       /* the open write transaction, or NULL */
	unsigned long commits; /* commits made */
};

static int store_err(int rc)
{
	if (rc > 0)
		return -rc;
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc == MDB_MAP_FULL)
		return -ENOSPC;
	return -EIO;
}

int agent_store_open(const char *dir, struct agent_store **out, char *errmsg)
{
	struct agent_store *s;
	MDB_txn *txn;
	int rc;

	*out = NULL;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return keel_errwrap(errmsg, -errno, "mkdir %s", dir);
	s = keel_calloc(1, sizeof(*s));
	if (!s)
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	if ((rc = mdb_env_create(&s->env)) != 0 ||
	    (rc = mdb_env_set_mapsize(s->env, (size_t)1 << 30)) != 0 ||
	    (rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600)) != 0) {
		int err = store_err(rc);

		if (s->env)
			mdb_env_close(s->env);
		keel_free(s);
		return keel_errf(errmsg, err, "open the checkpoint store %s: %s", dir,
				 mdb_strerror(rc));
	}
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, NULL, 0, &s->dbi)) != 0 || (rc = mdb_txn_commit(txn)) != 0) {
		mdb_env_close(s->env);
		keel_free(s);
		return keel_errf(errmsg, store_err(rc), "open the checkpoint database: %s",
				 mdb_strerror(rc));
	}
	*out = s;
	return 0;
}

void agent_store_close(struct agent_store *s)
{
	if (!s)
		return;
	agent_store_commit(s, NULL);
	mdb_env_close(s->env);
	keel_free(s);
}

static int store_txn(struct agent_store *s, char *errmsg)
{
	int rc;

	if (s->txn)
		return 0;
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &s->txn)) != 0) {
		s->txn = NULL;
		return keel_errf(errmsg, store_err(rc), "begin a write: %s", mdb_strerror(rc));
	}
	return 0;
}

int agent_store_put(struct agent_store *s, const char *key, const void *val, size_t len,
		    char *errmsg)
{
	MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)val};
	int rc;

	if ((rc = store_txn(s, errmsg)) < 0)
		return rc;
	if ((rc = mdb_put(s->txn, s->dbi, &k, &v, 0)) != 0)
		return keel_errf(errmsg, store_err(rc), "checkpoint %s: %s", key, mdb_strerror(rc));
	return 0;
}

int agent_store_del(struct agent_store *s, const char *key, char *errmsg)
{
	MDB_val k = {strlen(key), (void *)key};
	int rc;

	if ((rc = store_txn(s, errmsg)) < 0)
		return rc;
	rc = mdb_del(s->txn, s->dbi, &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return keel_errf(errmsg, store_err(rc), "delete %s: %s", key, mdb_strerror(rc));
	return 0;
}

int agent_store_get(struct agent_store *s, const char *key, struct keel_buf *out, char *errmsg)
{
	MDB_val k = {strlen(key), (void *)key}, v;
	int rc;

	if ((rc = store_txn(s, errmsg)) < 0)
		return rc;
	rc = mdb_get(s->txn, s->dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc != 0)
		return keel_errf(errmsg, store_err(rc), "read %s: %s", key, mdb_strerror(rc));
	return keel_buf_append(out, v.mv_data, v.mv_size);
}

int agent_store_scan(struct agent_store *s, const char *prefix,
		     int (*fn)(void *arg, const char *key, const void *val, size_t len), void *arg,
		     char *errmsg)
{
	size_t plen = strlen(prefix);
	MDB_val k = {plen, (void *)prefix}, v;
	MDB_cursor *cur;
	int rc, ret = 0;

	if ((rc = store_txn(s, errmsg)) < 0)
		return rc;
	if ((rc = mdb_cursor_open(s->txn, s->dbi, &cur)) != 0)
		return keel_errf(errmsg, store_err(rc), "scan: %s", mdb_strerror(rc));
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		char key[512];

		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		if (k.mv_size >= sizeof(key))
			continue;
		memcpy(key, k.mv_data, k.mv_size);
		key[k.mv_size] = '\0';
		if ((ret = fn(arg, key, v.mv_data, v.mv_size)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (ret != 0)
		return ret < 0 ? ret : 0;
	if (rc != 0 && rc != MDB_NOTFOUND)
		return keel_errf(errmsg, store_err(rc), "scan: %s", mdb_strerror(rc));
	return 0;
}

int agent_store_commit(struct agent_store *s, char *errmsg)
{
	int rc;

	if (!s->txn)
		return 0;
	rc = mdb_txn_commit(s->txn);
	s->txn = NULL;
	if (rc != 0)
		return keel_errf(errmsg, store_err(rc), "commit checkpoints: %s", mdb_strerror(rc));
	s->commits++;
	return 0;
}

unsigned long agent_store_commits(const struct agent_store *s)
{
	return s->commits;
}
