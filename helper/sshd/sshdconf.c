#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "run.h"
#include "sshd.h"
#include "sshdconf.h"

#define DUMP_MAX	(256 * 1024)
#define INCLUDE_DEPTH	8	/* sshd's own limit is 16; we need less */

/* One "Keyword value" line of a config file, split; false for blank
 * lines and comments.  sshd also accepts "Keyword=value". */
static bool split_line(char *s, char **kw, char **val)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0' || *s == '#')
		return false;
	*kw = s;
	while (*s && !isspace((unsigned char)*s) && *s != '=')
		s++;
	if (*s) {
		*s++ = '\0';
		while (isspace((unsigned char)*s) || *s == '=')
			s++;
	}
	*val = s;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return true;
}

/* An Include argument as a path in the tree: absolute ones re-rooted,
 * relative ones relative to /etc/ssh (sshd's SSHDIR). */
static int include_path(const char *root, const char *arg, char *buf,
			size_t len)
{
	char rel[FS_PATH_MAX];

	if (arg[0] == '/')
		return fs_rooted(buf, len, root, arg);
	if (snprintf(rel, sizeof(rel), "/etc/ssh/%s", arg) >= (int)sizeof(rel))
		return -ENAMETOOLONG;
	return fs_rooted(buf, len, root, rel);
}

/* Line by line through buf[0..len): each line copied into l (cut at
 * size - 1, no newline); returns the position after it, or NULL at the
 * end. */
static const char *next_line(const char *p, const char *end, char *l,
			     size_t size)
{
	const char *e;
	size_t n;

	if (p >= end)
		return NULL;
	e = memchr(p, '\n', (size_t)(end - p));
	if (!e)
		e = end;
	n = (size_t)(e - p) < size - 1 ? (size_t)(e - p) : size - 1;
	memcpy(l, p, n);
	l[n] = '\0';
	return e < end ? e + 1 : end;
}

static int scan(const struct sshd_tree *t, const char *path, int depth,
		const struct sshd_match *outer, sshd_walk_fn fn, void *ctx);

/* Each file of one Include line, in lexical order, inside the block cur. */
static int scan_include(const struct sshd_tree *t, char *val, int depth,
			const struct sshd_match *cur, sshd_walk_fn fn,
			void *ctx)
{
	char *arg, *s2 = NULL;
	int ret = 0;

	for (arg = strtok_r(val, " \t", &s2); arg && !ret;
	     arg = strtok_r(NULL, " \t", &s2)) {
		char pat[FS_PATH_MAX];
		glob_t g;

		if (include_path(t->root, arg, pat, sizeof(pat)) != 0)
			continue;
		if (glob(pat, 0, NULL, &g) != 0)
			continue;
		for (size_t i = 0; i < g.gl_pathc && !ret; i++)
			ret = scan(t, g.gl_pathv[i], depth + 1, cur, fn, ctx);
		globfree(&g);
	}
	return ret;
}

/* As sshd reads it (servconf.c): a Match block runs to the next Match
 * or the end of its file, and an included file starts inside the block
 * of its Include line and cannot change that block for the lines after
 * the Include. */
static int scan(const struct sshd_tree *t, const char *path, int depth,
		const struct sshd_match *outer, sshd_walk_fn fn, void *ctx)
{
	struct sshd_match m;
	const struct sshd_match *cur = outer;
	char *buf, line[4096];
	const char *p;
	size_t len;
	unsigned int n = 0;
	int ret = 0;

	if (depth > INCLUDE_DEPTH)
		return 0;
	if (fs_read(path, &buf, &len) != 0)
		return 0;	/* sshd -t is the judge of missing files */
	p = buf;
	while (!ret && (p = next_line(p, buf + len, line, sizeof(line)))) {
		char *kw, *val;

		n++;
		if (!split_line(line, &kw, &val))
			continue;
		if (strcasecmp(kw, "match") == 0) {
			m.file = path;
			m.line = n;
			/* "Match all" too: a block for every connection */
			snprintf(m.criteria, sizeof(m.criteria), "%s", val);
			cur = &m;
			continue;
		}
		if (strcasecmp(kw, "include") == 0)
			ret = scan_include(t, val, depth, cur, fn, ctx);
		else
			ret = fn(ctx, cur, path, n, kw, val);
	}
	free(buf);
	return ret;
}

int sshd_walk(const struct sshd_tree *t, sshd_walk_fn fn, void *ctx)
{
	return scan(t, t->main, 0, NULL, fn, ctx);
}

/* The main file with every Include argument re-rooted, for sshd. */
static int write_check_copy(struct sshd_tree *t)
{
	char *buf, line[4096];
	const char *p;
	size_t len;
	FILE *f;
	int fd, ret;

	ret = fs_read(t->main, &buf, &len);
	if (ret)
		return ret;
	snprintf(t->check, sizeof(t->check), "/tmp/vpsguard-sshd_config-XXXXXX");
	fd = mkstemp(t->check);
	if (fd < 0) {
		ret = -errno;
		free(buf);
		return ret;
	}
	t->check_is_temp = true;
	f = fdopen(fd, "w");
	if (!f) {
		ret = -errno;
		close(fd);
		free(buf);
		return ret;
	}
	p = buf;
	while ((p = next_line(p, buf + len, line, sizeof(line)))) {
		char copy[4096], *kw, *val, *arg, *s2 = NULL;

		snprintf(copy, sizeof(copy), "%s", line);
		if (!split_line(copy, &kw, &val) ||
		    strcasecmp(kw, "include") != 0) {
			fprintf(f, "%s\n", line);
			continue;
		}
		fputs("Include", f);
		for (arg = strtok_r(val, " \t", &s2); arg;
		     arg = strtok_r(NULL, " \t", &s2)) {
			char path[FS_PATH_MAX];

			if (include_path(t->root, arg, path, sizeof(path)) == 0)
				fprintf(f, " %s", path);
		}
		fputc('\n', f);
	}
	free(buf);
	ret = 0;
	if (fflush(f) != 0 || ferror(f))
		ret = -EIO;
	if (fclose(f) != 0 && !ret)
		ret = -errno;
	return ret;
}

/* "9.2p1, OpenSSL ..." -> 9, 2.  0, or -EINVAL. */
static int parse_version(const char *p, int *major, int *minor)
{
	unsigned long v[2];
	char *end;

	for (int i = 0; i < 2; i++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		errno = 0;
		v[i] = strtoul(p, &end, 10);
		if (errno || v[i] > 1000 || (i == 0 && *end != '.'))
			return -EINVAL;
		p = end + 1;
	}
	*major = (int)v[0];
	*minor = (int)v[1];
	return 0;
}

static void version(struct sshd_tree *t)
{
	const char *argv[] = { VG_PATH_SSHD, "-V", NULL };
	char out[256], err[256];
	const char *p;

	t->major = t->minor = 0;
	if (vg_run(argv, 10, out, sizeof(out), err, sizeof(err)) < 0)
		return;
	/* "OpenSSH_9.2, OpenSSL 3.0.19 ..." on stderr */
	p = strstr(err, "OpenSSH_");
	if (!p)
		p = strstr(out, "OpenSSH_");
	if (p && parse_version(p + strlen("OpenSSH_"), &t->major,
			       &t->minor) != 0)
		t->major = t->minor = 0;
}

bool sshd_at_least(const struct sshd_tree *t, int major, int minor)
{
	return t->major > major || (t->major == major && t->minor >= minor);
}

int sshd_tree_refresh(struct sshd_tree *t)
{
	if (t->check_is_temp) {
		unlink(t->check);
		t->check_is_temp = false;
	}
	if (fs_root_is_slash(t->root)) {
		snprintf(t->check, sizeof(t->check), "%s", t->main);
		return access(t->main, R_OK) == 0 ? 0 : -errno;
	}
	return write_check_copy(t);
}

int sshd_tree_open(struct sshd_tree *t, const char *root)
{
	int ret;

	memset(t, 0, sizeof(*t));
	t->root = fs_root_is_slash(root) ? NULL : root;
	if ((ret = fs_rooted(t->main, sizeof(t->main), t->root, SSHD_MAIN)) ||
	    (ret = fs_rooted(t->dropin_dir, sizeof(t->dropin_dir), t->root,
			     SSHD_DROPIN_DIR)) ||
	    (ret = fs_rooted(t->dropin, sizeof(t->dropin), t->root,
			     SSHD_DROPIN)))
		return ret;
	version(t);
	return sshd_tree_refresh(t);
}

void sshd_tree_close(struct sshd_tree *t)
{
	if (t->check_is_temp)
		unlink(t->check);
	t->check_is_temp = false;
}

int sshd_test(const struct sshd_tree *t, char *err, size_t len)
{
	const char *argv[] = { VG_PATH_SSHD, "-t", "-f", t->check, NULL };

	return vg_run(argv, 30, NULL, 0, err, len);
}

int sshd_dump(const struct sshd_tree *t, char **dump, char *err, size_t len)
{
	return sshd_dump_conn(t, NULL, dump, err, len);
}

int sshd_dump_conn(const struct sshd_tree *t, const char *spec, char **dump,
		   char *err, size_t len)
{
	const char *argv[] = { VG_PATH_SSHD, "-T", "-f", t->check, "-C", spec,
			       NULL };
	int ret;

	if (!spec)
		argv[4] = NULL;

	*dump = malloc(DUMP_MAX);
	if (!*dump)
		return -ENOMEM;
	ret = vg_run(argv, 30, *dump, DUMP_MAX, err, len);
	if (ret) {
		free(*dump);
		*dump = NULL;
	}
	return ret;
}

bool sshd_dump_get(const char *dump, const char *kw, char *val, size_t len)
{
	size_t n = strlen(kw);

	for (const char *p = dump; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p) {
		if (strncmp(p, kw, n) == 0 && p[n] == ' ') {
			const char *e = strchr(p + n + 1, '\n');
			size_t l = e ? (size_t)(e - p - n - 1) : strlen(p + n + 1);

			if (l >= len)
				l = len - 1;
			memcpy(val, p + n + 1, l);
			val[l] = '\0';
			return true;
		}
	}
	return false;
}

bool sshd_dump_has(const char *dump, const char *kw, const char *val)
{
	char want[512];
	size_t n;

	n = (size_t)snprintf(want, sizeof(want), "%s %s", kw, val);
	for (const char *p = dump; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (strncmp(p, want, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

bool sshd_includes_dropins(const struct sshd_tree *t)
{
	char *buf, line[4096];
	const char *p;
	size_t len, dl = strlen(t->dropin_dir);
	bool found = false;

	if (fs_read(t->main, &buf, &len) != 0)
		return false;
	p = buf;
	while (!found && (p = next_line(p, buf + len, line, sizeof(line)))) {
		char *kw, *val, *arg, *s2 = NULL;

		if (!split_line(line, &kw, &val))
			continue;
		if (strcasecmp(kw, "match") == 0)
			break;
		if (strcasecmp(kw, "include") != 0)
			continue;
		for (arg = strtok_r(val, " \t", &s2); arg && !found;
		     arg = strtok_r(NULL, " \t", &s2)) {
			char path[FS_PATH_MAX];

			if (include_path(t->root, arg, path, sizeof(path)) == 0 &&
			    strncmp(path, t->dropin_dir, dl) == 0 &&
			    path[dl] == '/')
				found = true;
		}
	}
	free(buf);
	return found;
}

struct who_ctx {
	const char *kw;
	const char *alias;
	struct sshd_origin *o;
};

static int who_fn(void *ctx, const struct sshd_match *m, const char *file,
		  unsigned int line, const char *kw, const char *val)
{
	struct who_ctx *w = ctx;

	if (m)
		return 0;
	if (strcasecmp(kw, w->kw) != 0 &&
	    !(w->alias && strcasecmp(kw, w->alias) == 0))
		return 0;
	snprintf(w->o->file, sizeof(w->o->file), "%s", file);
	w->o->line = line;
	snprintf(w->o->value, sizeof(w->o->value), "%s", val);
	return 1;
}

int sshd_who_sets(const struct sshd_tree *t, const char *kw,
		  struct sshd_origin *o)
{
	struct who_ctx w = { kw, NULL, o };

	/* The same option since OpenSSH 8.7 (servconf.c). */
	if (strcasecmp(kw, "kbdinteractiveauthentication") == 0)
		w.alias = "challengeresponseauthentication";
	memset(o, 0, sizeof(*o));
	return sshd_walk(t, who_fn, &w);
}

struct port_ctx {
	const char *skip;
	unsigned int n;
};

static int port_fn(void *ctx, const struct sshd_match *m, const char *file,
		   unsigned int line, const char *kw, const char *val)
{
	struct port_ctx *p = ctx;

	(void)line;
	(void)val;
	if (!m && strcasecmp(kw, "port") == 0 && strcmp(file, p->skip) != 0)
		p->n++;
	return 0;
}

unsigned int sshd_explicit_ports(const struct sshd_tree *t, const char *skip)
{
	struct port_ctx p = { skip, 0 };

	sshd_walk(t, port_fn, &p);
	return p.n;
}
