/* Images: OCI layouts and docker-save archives, config applied, shared layers, bad archives
 * refused. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctr_fixture.h"
#include "ctr_image_builder.h"
#include "harness.h"

/* The test image's config: what Docker would run, as user app from /work. */
#define CONFIG                                                                                     \
	"\"Entrypoint\":[\"/bin/sh\",\"-c\"],"                                                     \
	"\"Cmd\":[\"echo \\\"$GREETING uid=$(id -u) gid=$(id -g) groups=$(id -G) cwd=$(pwd)\\\"; " \
	"cat /hello.txt; ls /removeme 2>&1 | head -1; ls /opaque\"],"                              \
	"\"Env\":[\"GREETING=hi\",\"PATH=/bin\"],\"WorkingDir\":\"/work\",\"User\":\"app\""

#define EXPECTED                                                                                   \
	"hi uid=1000 gid=1000 groups=1000 2000 cwd=/work\nhello from layer 2\n"                    \
	"ls: /removeme: No such file or directory\nupper\n"

static const struct tib_entry top_entries[] = {
    {"hello.txt", 'f', "hello from layer 2\n", 0, 0, 0},
    {".wh.removeme", 'f', "", 0, 0, 0},
    {"opaque/", 'd', NULL, 0755, 0, 0},
    {"opaque/.wh..wh..opq", 'f', "", 0, 0, 0},
    {"opaque/upper", 'f', "from layer 2\n", 0, 0, 0},
    {"work/", 'd', NULL, 0755, 1000, 1000},
};

/* The two-layer test image (busybox base + a layer with whiteouts). */
static struct tib_image test_image(const char *ref, bool gzip, struct tib_layer layers[2])
{
	struct tib_image img = {0};

	layers[0] = tib_busybox_layer();
	layers[1].entries = top_entries;
	layers[1].n = KEEL_ARRAY_SIZE(top_entries);
	img.layers = layers;
	img.n_layers = 2;
	img.config_json = CONFIG;
	img.ref = ref;
	img.gzip = gzip;
	return img;
}

/* A path under the case's work dir. */
static const char *wpath(const char *name)
{
	static char buf[4][PATH_MAX];
	static int k;

	k = (k + 1) % 4;
	ASSERT_INT_LT(snprintf(buf[k], sizeof(buf[k]), "%s/%s", fx.work_dir, name),
		      (int)sizeof(buf[k]));
	return buf[k];
}

static void import_ok(const char *path, const char *ref, char id[KEEL_CTR_IMAGE_ID_SIZE])
{
	char msg[256] = "";
	int rv = keel_ctr_image_import(keel_ctr_image_dir(fx.ctx), path, ref, NULL, id, msg);

	TH_CONTEXT("import %s: %s", path, msg);
	ASSERT_OK(rv);
	TH_CONTEXT(NULL);
	ASSERT_INT_EQ(strncmp(id, "sha256:", 7), 0);
}

/* Runs an image and returns its stdout (static). */
static const char *run_image(struct keel_ctr_spec *spec, int want_exit)
{
	static char out[4096];
	char err[1024] = "", id[KEEL_CTR_ID_SIZE];
	struct keel_ctr_status st;

	ASSERT_INT_LT(snprintf(id, sizeof(id), "%s", fx_launch(spec)), (int)sizeof(id));
	st = fx_wait(id, 30000);
	fx_read_sandbox(id, "stderr", err, sizeof(err));
	TH_CONTEXT("%s: %s; stderr: %s", keel_ctr_reason_name(st.reason), st.message, err);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_EXITED);
	ASSERT_INT_EQ(st.exit_code, want_exit);
	TH_CONTEXT(NULL);
	ASSERT_INT_GE(fx_read_sandbox(id, "stdout", out, sizeof(out)), 0);
	ASSERT_OK(keel_ctr_destroy(fx.ctx, id));
	/* The container's rootfs (upper dir or copy) went with it. */
	char root[PATH_MAX];
	ASSERT_INT_LT(snprintf(root, sizeof(root), "rootfs/%s", id), (int)sizeof(root));
	ASSERT_FALSE(fx_exists(wpath(root)));
	return out;
}

static size_t count_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void open_images(bool copy)
{
	fx_require_root();
	if (access("/bin/busybox", X_OK) < 0)
		TH_SKIP("needs /bin/busybox (apt-get install busybox-static)");
	fx_open_image_mode(copy);
}

TEST(oci_layout_runs_with_entrypoint_cmd_env_user_workdir)
{
	struct tib_layer layers[2];
	struct tib_image img;
	char id[KEEL_CTR_IMAGE_ID_SIZE];
	struct keel_ctr_spec spec = {0};

	open_images(false);
	img = test_image("keel/busybox:1.0", true, layers);
	ASSERT_OK(tib_write_oci_dir(wpath("oci"), &img));
	import_ok(wpath("oci"), NULL, id);
	spec.image = "keel/busybox:1.0";
	ASSERT_STR_EQ(run_image(&spec, 0), EXPECTED);
	/* By ID too. */
	spec.image = id;
	ASSERT_STR_EQ(run_image(&spec, 0), EXPECTED);
	ASSERT_UINT_EQ(count_dir(wpath("rootfs")), 0);
	fx_cleanup();
}

TEST(docker_save_archive_runs_the_same)
{
	struct tib_layer layers[2];
	struct tib_image img;
	char id[KEEL_CTR_IMAGE_ID_SIZE];
	struct keel_ctr_spec spec = {0};

	open_images(false);
	img = test_image("keel/busybox:docker", false, layers);
	ASSERT_OK(tib_write_docker_archive(wpath("docker.tar"), &img));
	import_ok(wpath("docker.tar"), "local/other", id);
	spec.image = "keel/busybox:docker";
	ASSERT_STR_EQ(run_image(&spec, 0), EXPECTED);
	/* The extra reference given at import, tagged latest. */
	spec.image = "local/other:latest";
	ASSERT_STR_EQ(run_image(&spec, 0), EXPECTED);
	fx_cleanup();
}

TEST(oci_archive_in_copy_mode_runs_the_same)
{
	struct tib_layer layers[2];
	struct tib_image img;
	char id[KEEL_CTR_IMAGE_ID_SIZE];
	struct keel_ctr_spec spec = {0};

	/* Without overlayfs the layers are copied, whiteouts and opaque dirs applied. */
	open_images(true);
	img = test_image("keel/busybox:archive", true, layers);
	ASSERT_OK(tib_write_oci_archive(wpath("oci.tar"), &img));
	import_ok(wpath("oci.tar"), NULL, id);
	spec.image = "keel/busybox:archive";
	ASSERT_STR_EQ(run_image(&spec, 0), EXPECTED);
	ASSERT_UINT_EQ(count_dir(wpath("rootfs")), 0);
	fx_cleanup();
}

TEST(spec_overrides_cmd_env_user_and_writes_stay_private)
{
	struct tib_layer layers[2];
	struct tib_image img;
	char id[KEEL_CTR_IMAGE_ID_SIZE], path[PATH_MAX], layer_copy[64];
	const char *argv[] = {"echo $GREETING-$EXTRA uid=$(id -u); echo changed > /hello.txt; "
			      "cat /hello.txt",
			      NULL};
	const char *env[] = {"GREETING=override", "EXTRA=x", NULL};
	struct keel_ctr_spec spec = {.argv = argv, .env = env, .user = "root"};
	struct dirent *de;
	DIR *d;

	open_images(false);
	img = test_image("keel/busybox:1.0", true, layers);
	ASSERT_OK(tib_write_oci_dir(wpath("oci"), &img));
	import_ok(wpath("oci"), NULL, id);
	spec.image = "keel/busybox:1.0";
	/* argv replaces Cmd, the Entrypoint stays; env adds and overrides; user replaced. */
	ASSERT_STR_EQ(run_image(&spec, 0), "override-x uid=0\nchanged\n");
	/* The write went to the container's upper dir: the layer is untouched. */
	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/layers", keel_ctr_image_dir(fx.ctx)),
		      (int)sizeof(path));
	d = opendir(path);
	ASSERT_NOT_NULL(d);
	layer_copy[0] = '\0';
	while ((de = readdir(d)) != NULL) {
		char file[PATH_MAX + 300], buf[64];

		if (de->d_name[0] == '.')
			continue;
		ASSERT_INT_LT(snprintf(file, sizeof(file), "%s/%s/hello.txt", path, de->d_name),
			      (int)sizeof(file));
		if (fx_read_file(file, buf, sizeof(buf)) > 0) {
			ASSERT_STR_EQ(buf, "hello from layer 2\n");
			ASSERT_INT_LT(snprintf(layer_copy, sizeof(layer_copy), "found"),
				      (int)sizeof(layer_copy));
		}
	}
	closedir(d);
	ASSERT_STR_EQ(layer_copy, "found");
	/* A numeric user without a passwd entry gets gid 0, as in Docker. */
	const char *idargv[] = {"id -u; id -g", NULL};
	struct keel_ctr_spec s2 = {.argv = idargv, .image = "keel/busybox:1.0", .user = "4321"};
	ASSERT_STR_EQ(run_image(&s2, 0), "4321\n0\n");
	fx_cleanup();
}

TEST(layers_are_shared_between_images_by_digest)
{
	struct tib_layer layers[2];
	struct tib_image img;
	char id1[KEEL_CTR_IMAGE_ID_SIZE], id2[KEEL_CTR_IMAGE_ID_SIZE], path[PATH_MAX];
	struct stat before, after;
	struct dirent *de;
	DIR *d;

	open_images(false);
	img = test_image("keel/busybox:oci", true, layers);
	ASSERT_OK(tib_write_oci_dir(wpath("oci"), &img));
	img = test_image("keel/busybox:docker", false, layers);
	ASSERT_OK(tib_write_docker_archive(wpath("docker.tar"), &img));
	import_ok(wpath("oci"), NULL, id1);
	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/layers", keel_ctr_image_dir(fx.ctx)),
		      (int)sizeof(path));
	ASSERT_UINT_EQ(count_dir(path), 2);
	d = opendir(path);
	ASSERT_NOT_NULL(d);
	while ((de = readdir(d)) != NULL && de->d_name[0] == '.')
		;
	ASSERT_NOT_NULL(de);
	char one[PATH_MAX + 300];
	ASSERT_INT_LT(snprintf(one, sizeof(one), "%s/%s", path, de->d_name), (int)sizeof(one));
	closedir(d);
	ASSERT_OK(stat(one, &before));
	/* The same layers (same diff IDs) in another format: unpacked once, reused. */
	import_ok(wpath("docker.tar"), NULL, id2);
	ASSERT_STR_EQ(id1, id2);
	ASSERT_UINT_EQ(count_dir(path), 2);
	ASSERT_OK(stat(one, &after));
	ASSERT_UINT_EQ(before.st_ino, after.st_ino);
	ASSERT_UINT_EQ(before.st_ctim.tv_nsec, after.st_ctim.tv_nsec);
	fx_cleanup();
}

/* Imports (with `limits`, may be NULL) must fail with `want` and `needle` and leave nothing. */
static void import_fails_with(const char *path, const struct keel_ctr_import_limits *limits,
			      int want, const char *needle)
{
	char msg[256] = "", id[KEEL_CTR_IMAGE_ID_SIZE], dir[PATH_MAX];
	int rv = keel_ctr_image_import(keel_ctr_image_dir(fx.ctx), path, NULL, limits, id, msg);

	TH_CONTEXT("import %s: %s", path, msg);
	if (want != 0)
		ASSERT_INT_EQ(rv, want);
	ASSERT_INT_LT(rv, 0);
	ASSERT_STR_CONTAINS(msg, needle);
	ASSERT_INT_LT(snprintf(dir, sizeof(dir), "%s/layers", keel_ctr_image_dir(fx.ctx)),
		      (int)sizeof(dir));
	ASSERT_UINT_EQ(count_dir(dir), 0);
	ASSERT_INT_LT(snprintf(dir, sizeof(dir), "%s/images", keel_ctr_image_dir(fx.ctx)),
		      (int)sizeof(dir));
	ASSERT_UINT_EQ(count_dir(dir), 0);
	ASSERT_INT_LT(snprintf(dir, sizeof(dir), "%s/tmp", keel_ctr_image_dir(fx.ctx)),
		      (int)sizeof(dir));
	ASSERT_UINT_EQ(count_dir(dir), 0);
	TH_CONTEXT(NULL);
}

/* Imports must fail with `needle` in the message and leave nothing in the store. */
static void import_fails(const char *path, const char *needle)
{
	import_fails_with(path, NULL, 0, needle);
}

TEST(malicious_layers_are_refused)
{
	static const struct tib_entry absolute[] = {{"/tmp/keel-abs-escape", 'f', "x", 0, 0, 0}};
	static const struct tib_entry dotdot[] = {
	    {"a/../../../../tmp/keel-dotdot-escape", 'f', "x", 0, 0, 0}};
	static const struct tib_entry hardlink[] = {
	    {"evil", 'h', "../../../../etc/passwd", 0, 0, 0}};
	static const struct tib_entry hardlink_abs[] = {{"evil", 'h', "/etc/passwd", 0, 0, 0}};
	static const struct tib_entry symlink_out[] = {{"evil", 'l', "../../../../etc", 0, 0, 0}};
	static const struct tib_entry through_symlink[] = {
	    {"lnk", 'l', "/tmp", 0, 0, 0}, {"lnk/keel-through-escape", 'f', "x", 0, 0, 0}};
	static const struct {
		const char *what;	   /* row label */
		const struct tib_entry *e; /* the hostile layer */
		size_t n;		   /* entries */
		const char *needle;	   /* expected in the error */
	} rows[] = {
	    {"absolute path", absolute, 1, "absolute path"},
	    {"dotdot", dotdot, 1, "'..' in path"},
	    {"hard link out", hardlink, 1, "'..' in path"},
	    {"absolute hard link", hardlink_abs, 1, "absolute path"},
	    {"symlink out", symlink_out, 1, "points outside the rootfs"},
	    {"write through a symlink", through_symlink, 2, "passes through a symlink"},
	};
	size_t i;

	open_images(false);
	for (i = 0; i < KEEL_ARRAY_SIZE(rows); i++) {
		struct tib_layer l = {rows[i].e, rows[i].n};
		struct tib_image img = {
		    .layers = &l, .n_layers = 1, .config_json = "", .gzip = true};
		char name[64];

		TH_CONTEXT("%s", rows[i].what);
		ASSERT_INT_LT(snprintf(name, sizeof(name), "bad%zu", i), (int)sizeof(name));
		ASSERT_OK(tib_write_oci_dir(wpath(name), &img));
		import_fails(wpath(name), rows[i].needle);
		ASSERT_INT_LT(snprintf(name, sizeof(name), "bad%zu.tar", i), (int)sizeof(name));
		ASSERT_OK(tib_write_docker_archive(wpath(name), &img));
		import_fails(wpath(name), rows[i].needle);
	}
	TH_CONTEXT(NULL);
	ASSERT_FALSE(fx_exists("/tmp/keel-abs-escape"));
	ASSERT_FALSE(fx_exists("/tmp/keel-dotdot-escape"));
	ASSERT_FALSE(fx_exists("/tmp/keel-through-escape"));
	fx_cleanup();
}

TEST(import_limits_stop_decompression_bombs)
{
	static struct tib_entry many[64];
	static char names[64][16];
	char zeros_path[PATH_MAX], id[KEEL_CTR_IMAGE_ID_SIZE], msg[256] = "";
	struct keel_ctr_import_limits small_bytes = {.max_bytes = 1 << 20};
	struct keel_ctr_import_limits few_entries = {.max_entries = 32};
	struct keel_ctr_import_limits roomy = {.max_bytes = 64 << 20, .max_entries = 1000};
	size_t i;
	int fd;

	open_images(false);
	/* 8 MiB of zeros: its gzip'd layer is a few KiB, a bomb in miniature. */
	ASSERT_INT_LT(snprintf(zeros_path, sizeof(zeros_path), "%s", wpath("zeros")),
		      (int)sizeof(zeros_path));
	fd = open(zeros_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ASSERT_INT_GE(fd, 0);
	ASSERT_OK(ftruncate(fd, 8 << 20));
	close(fd);
	struct tib_entry big[] = {{"big", 'F', zeros_path, 0644, 0, 0}};
	struct tib_layer big_layer = {big, 1};
	struct tib_image big_img = {
	    .layers = &big_layer, .n_layers = 1, .config_json = "", .gzip = true};
	for (i = 0; i < KEEL_ARRAY_SIZE(many); i++) {
		snprintf(names[i], sizeof(names[i]), "f%zu", i);
		many[i] = (struct tib_entry){names[i], 'f', "x", 0644, 0, 0};
	}
	struct tib_layer many_layer = {many, KEEL_ARRAY_SIZE(many)};
	struct tib_image many_img = {
	    .layers = &many_layer, .n_layers = 1, .config_json = "", .gzip = true};

	/* As an OCI layout (the layer is unpacked) and a docker archive (extracted first). */
	ASSERT_OK(tib_write_oci_dir(wpath("big"), &big_img));
	import_fails_with(wpath("big"), &small_bytes, -EFBIG, "more than 1048576 bytes");
	ASSERT_OK(tib_write_docker_archive(wpath("big.tar"), &big_img));
	import_fails_with(wpath("big.tar"), &small_bytes, -EFBIG, "more than 1048576 bytes");
	ASSERT_OK(tib_write_oci_dir(wpath("many"), &many_img));
	import_fails_with(wpath("many"), &few_entries, -EFBIG, "more than 32 entries");
	ASSERT_OK(tib_write_docker_archive(wpath("many.tar"), &many_img));
	import_fails_with(wpath("many.tar"), &few_entries, -EFBIG, "more than 32 entries");
	/* Within the limits (or with the defaults) the same images import. */
	ASSERT_OK(keel_ctr_image_import(keel_ctr_image_dir(fx.ctx), wpath("big.tar"), NULL, &roomy,
					id, msg));
	ASSERT_OK(
	    keel_ctr_image_import(keel_ctr_image_dir(fx.ctx), wpath("many"), NULL, NULL, id, msg));
	fx_cleanup();
}

/* Flips one byte in the middle of a file. */
static void corrupt(const char *path)
{
	struct stat st;
	char c;
	int fd = open(path, O_RDWR);

	ASSERT_INT_GE(fd, 0);
	ASSERT_OK(fstat(fd, &st));
	ASSERT_INT_EQ(pread(fd, &c, 1, st.st_size / 2), 1);
	c ^= 0x55;
	ASSERT_INT_EQ(pwrite(fd, &c, 1, st.st_size / 2), 1);
	close(fd);
}

/* The largest (or smallest) blob of an OCI layout: the busybox layer (or the manifest). */
static void pick_blob(const char *layout, char *out, size_t n, bool largest)
{
	char dir[PATH_MAX];
	off_t best = largest ? -1 : (off_t)1 << 40;
	struct dirent *de;
	DIR *d;

	ASSERT_INT_LT(snprintf(dir, sizeof(dir), "%s/blobs/sha256", layout), (int)sizeof(dir));
	d = opendir(dir);
	ASSERT_NOT_NULL(d);
	while ((de = readdir(d)) != NULL) {
		char p[PATH_MAX + 300];
		struct stat st;

		ASSERT_INT_LT(snprintf(p, sizeof(p), "%s/%s", dir, de->d_name), (int)sizeof(p));
		if (de->d_name[0] != '.' && stat(p, &st) == 0 &&
		    (largest ? st.st_size > best : st.st_size < best)) {
			best = st.st_size;
			ASSERT_INT_LT(snprintf(out, n, "%s", p), (int)n);
		}
	}
	closedir(d);
}

static void largest_blob(const char *layout, char *out, size_t n)
{
	pick_blob(layout, out, n, true);
}

static void smallest_blob(const char *layout, char *out, size_t n)
{
	pick_blob(layout, out, n, false);
}

TEST(missing_or_corrupted_images_give_clear_errors)
{
	struct tib_layer layers[2];
	struct tib_image img;
	char blob[PATH_MAX], id[KEEL_CTR_ID_SIZE];
	struct keel_ctr_spec spec = {0};
	FILE *f;

	open_images(false);
	/* Launch of an image that is not in the store: refused before anything exists. */
	spec.image = "nothing/here:1.0";
	ASSERT_INT_EQ(keel_ctr_launch(fx.ctx, &spec, id), -ENOENT);
	ASSERT_STR_CONTAINS(keel_ctr_errmsg(fx.ctx), "no image 'nothing/here:1.0'");
	ASSERT_UINT_EQ(keel_ctr_list(fx.ctx, NULL, 0), 0);
	spec.image = "Bad Ref";
	ASSERT_INT_EQ(keel_ctr_launch(fx.ctx, &spec, id), -EINVAL);
	spec.image = "x";
	spec.rootfs = "/";
	ASSERT_INT_EQ(keel_ctr_launch(fx.ctx, &spec, id), -EINVAL);
	ASSERT_STR_CONTAINS(keel_ctr_errmsg(fx.ctx), "one or the other");

	import_fails("/nonexistent/image.tar", "No such file");
	import_fails("/etc/passwd", "not a tar archive");
	ASSERT_OK(mkdir(wpath("empty"), 0755));
	import_fails(wpath("empty"), "neither an OCI image layout nor a docker save archive");

	/* A flipped byte in a layer blob: its digest no longer matches. */
	img = test_image("keel/busybox:1.0", true, layers);
	ASSERT_OK(tib_write_oci_dir(wpath("oci"), &img));
	largest_blob(wpath("oci"), blob, sizeof(blob));
	corrupt(blob);
	import_fails(wpath("oci"), "corrupt layer");
	/* A missing blob. */
	ASSERT_OK(unlink(blob));
	import_fails(wpath("oci"), "No such file");
	/* index.json that is not JSON. */
	f = fopen(wpath("oci/index.json"), "w");
	ASSERT_NOT_NULL(f);
	fputs("{\"manifests\": [", f);
	fclose(f);
	import_fails(wpath("oci"), "bad JSON");

	/* A docker archive cut in half. */
	img = test_image("keel/busybox:cut", false, layers);
	ASSERT_OK(tib_write_docker_archive(wpath("docker.tar"), &img));
	struct stat st;
	ASSERT_OK(stat(wpath("docker.tar"), &st));
	ASSERT_OK(truncate(wpath("docker.tar"), st.st_size / 2));
	import_fails(wpath("docker.tar"), "Truncated tar archive");
	/* A config blob with extra bytes: digest mismatch. */
	ASSERT_OK(tib_write_oci_dir(wpath("oci2"), &img));
	char cfg[PATH_MAX];
	smallest_blob(wpath("oci2"), cfg, sizeof(cfg));
	f = fopen(cfg, "a");
	ASSERT_NOT_NULL(f);
	fputs("  ", f);
	fclose(f);
	import_fails(wpath("oci2"), "digest mismatch");
	/* A config whose diff_ids do not describe the layers. */
	img.bad_diff_id = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
	ASSERT_OK(tib_write_docker_archive(wpath("docker2.tar"), &img));
	import_fails(wpath("docker2.tar"), "the config says");
	fx_cleanup();
}

TEST(cli_imports_lists_and_runs_images)
{
	struct tib_layer layers[2];
	struct tib_image img;
	char cmd[PATH_MAX * 3], out[4096];
	FILE *p;
	int rc;

	open_images(false);
	img = test_image("keel/busybox:cli", false, layers);
	ASSERT_OK(tib_write_docker_archive(wpath("docker.tar"), &img));
	snprintf(cmd, sizeof(cmd),
		 "%s --work_dir %s --cgroup_parent %s images import %s --ref mine:v1 && "
		 "%s --work_dir %s images ls && "
		 "%s --work_dir %s --cgroup_parent %s launch --image mine:v1 --wait -- "
		 "'echo from-cli' 2>&1",
		 fx_cli(), fx.work_dir, fx.cg_parent, wpath("docker.tar"), fx_cli(), fx.work_dir,
		 fx_cli(), fx.work_dir, fx.cg_parent);
	p = popen(cmd, "r");
	ASSERT_NOT_NULL(p);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	rc = pclose(p);
	TH_CONTEXT("%s", out);
	ASSERT_INT_EQ(rc, 0);
	ASSERT_STR_CONTAINS(out, "sha256:");
	ASSERT_STR_CONTAINS(out, "mine:v1");
	ASSERT_STR_CONTAINS(out, "keel/busybox:cli");
	ASSERT_STR_CONTAINS(out, "reason=exited exit_code=0");
	TH_CONTEXT(NULL);
	fx_cleanup();
}
