#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "accounts.h"
#include "fsutil.h"

#define AK_DEFAULT	".ssh/authorized_keys .ssh/authorized_keys2"
#define ADMIN_GROUPS	3
static const char *const admin_groups[ADMIN_GROUPS] = { "sudo", "wheel",
							"admin" };

/* Is name in a comma-separated member list? */
static bool in_list(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; *p; ) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l == n && strncmp(p, name, n) == 0)
			return true;
		if (!e)
			break;
		p = e + 1;
	}
	return false;
}

/* Any line that could be a key (not blank, not a comment)? */
static bool has_key(const char *path)
{
	char *buf;
	size_t len;
	bool found = false;

	if (fs_read(path, &buf, &len) != 0)
		return false;
	for (char *l = buf; l && *l && !found; ) {
		char *e = strchr(l, '\n');

		while (*l == ' ' || *l == '\t')
			l++;
		if (*l && *l != '\n' && *l != '#' && *l != '\r')
			found = true;
		l = e ? e + 1 : NULL;
	}
	free(buf);
	return found;
}

/* One AuthorizedKeysFile token for a user, expanded. */
static int expand(const char *tok, const char *home, const char *user,
		  char *buf, size_t len)
{
	size_t o = 0;

	if (tok[0] != '/' && tok[0] != '%') {
		int n = snprintf(buf, len, "%s/", home);

		if (n < 0 || (size_t)n >= len)
			return -ENAMETOOLONG;
		o = (size_t)n;
	}
	for (const char *p = tok; *p; p++) {
		const char *add = NULL;
		char one[2] = { *p, '\0' };

		if (*p == '%' && p[1]) {
			p++;
			add = *p == 'h' ? home : *p == 'u' ? user : "%";
		} else {
			add = one;
		}
		for (; *add; add++) {
			if (o + 1 >= len)
				return -ENAMETOOLONG;
			buf[o++] = *add;
		}
	}
	buf[o] = '\0';
	return 0;
}

static bool user_has_key(const char *root, const char *akfile,
			 const char *home, const char *user)
{
	char toks[1024], *tok, *save = NULL;

	snprintf(toks, sizeof(toks), "%s", akfile ? akfile : AK_DEFAULT);
	for (tok = strtok_r(toks, " \t", &save); tok;
	     tok = strtok_r(NULL, " \t", &save)) {
		char p[FS_PATH_MAX], rooted[FS_PATH_MAX];

		if (strcmp(tok, "none") == 0)
			continue;
		if (expand(tok, home, user, p, sizeof(p)) == 0 &&
		    fs_rooted(rooted, sizeof(rooted), root, p) == 0 &&
		    has_key(rooted))
			return true;
	}
	return false;
}

/* As sshd decides (auth.c, allowed_user()): the shell, /bin/sh when
 * empty (passwd(5)), must be a regular file someone may execute, here in
 * the tree.  A shell glibc reads as "/usr/sbin/nologin:" (a stray colon
 * at the end of the line) does not exist, so sshd refuses that user and
 * so must we.  nologin and false exist and are executable, and refuse. */
static bool login_shell(const char *root, const char *shell)
{
	char path[FS_PATH_MAX];
	struct stat st;
	size_t n;

	if (shell[0] == '\0')
		shell = "/bin/sh";
	n = strlen(shell);
	if ((n >= 7 && strcmp(shell + n - 7, "nologin") == 0) ||
	    strcmp(shell, "/bin/false") == 0 ||
	    strcmp(shell, "/usr/bin/false") == 0)
		return false;
	if (fs_rooted(path, sizeof(path), root, shell) != 0 ||
	    stat(path, &st) != 0)
		return false;
	return S_ISREG(st.st_mode) &&
	       (st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) != 0;
}

/* fgetpwent_r and fgetgrent_r parse a given stream and never ask NSS:
 * under --root the host's users are not the tree's.  The file is read
 * whole by fs_read (a regular file, bounded), then parsed from memory.
 * The entry buffer grows on ERANGE (the stream is rewound to the line). */
#define ENT_BUF_MAX	(1024 * 1024)

struct ent_file {
	char *data;
	FILE *f;
	char *buf;
	size_t cap;
};

static int ent_open(struct ent_file *e, const char *root, const char *name)
{
	char path[FS_PATH_MAX];
	size_t len;
	int ret;

	memset(e, 0, sizeof(*e));
	if ((ret = fs_rooted(path, sizeof(path), root, name)) ||
	    (ret = fs_read(path, &e->data, &len)))
		return ret;
	e->f = fmemopen(e->data, len, "r");
	if (!e->f)
		return -errno;
	e->cap = 1024;
	e->buf = malloc(e->cap);
	return e->buf ? 0 : -ENOMEM;
}

/* After fgetpwent_r or fgetgrent_r returned err: 1 an entry, 0 the end,
 * 2 call again (the buffer grew), -errno. */
static int ent_result(struct ent_file *e, int err)
{
	char *b;

	if (err == 0)
		return 1;
	if (err == ENOENT)
		return 0;
	if (err != ERANGE)
		return -err;
	if (e->cap >= ENT_BUF_MAX)
		return -ERANGE;
	b = realloc(e->buf, e->cap * 2);
	if (!b)
		return -ENOMEM;
	e->buf = b;
	e->cap *= 2;
	return 2;
}

static int next_group(struct ent_file *e, struct group *gr)
{
	struct group *res;
	int ret;

	do
		ret = ent_result(e, fgetgrent_r(e->f, gr, e->buf, e->cap,
						&res));
	while (ret == 2);
	return ret;
}

static int next_user(struct ent_file *e, struct passwd *pw)
{
	struct passwd *res;
	int ret;

	do
		ret = ent_result(e, fgetpwent_r(e->f, pw, e->buf, e->cap,
						&res));
	while (ret == 2);
	return ret;
}

static void ent_close(struct ent_file *e)
{
	if (e->f)
		fclose(e->f);
	free(e->buf);
	free(e->data);
}

/* The members of one admin group, joined by commas as in the file. */
struct admin_group {
	bool found;
	gid_t gid;
	char members[4096];
};

static bool join_members(char *const *mem, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; mem && mem[i]; i++) {
		int n = snprintf(buf + o, len - o, "%s%s", i ? "," : "",
				 mem[i]);

		if (n < 0 || (size_t)n >= len - o)
			return false;
		o += (size_t)n;
	}
	return true;
}

/* The admin groups of the tree's /etc/group; none found if it cannot
 * be read (then only the users' own group cannot make them admins). */
static void read_admin_groups(const char *root,
			      struct admin_group g[ADMIN_GROUPS])
{
	struct ent_file e;
	struct group gr;

	memset(g, 0, sizeof(*g) * ADMIN_GROUPS);
	if (ent_open(&e, root, "/etc/group") == 0)
		while (next_group(&e, &gr) == 1)
			for (int i = 0; i < ADMIN_GROUPS; i++)
				if (strcmp(gr.gr_name, admin_groups[i]) == 0) {
					g[i].gid = gr.gr_gid;
					g[i].found = join_members(
						gr.gr_mem, g[i].members,
						sizeof(g[i].members));
				}
	ent_close(&e);
}

/* Users a guard could count: not root, not a NIS +/- line, a login
 * shell, and names and paths that fit the old fixed buffers. */
static bool counted_user(const char *root, const struct passwd *pw)
{
	return pw->pw_name && pw->pw_dir && pw->pw_shell &&
	       strlen(pw->pw_name) < ACCT_NAME_MAX &&
	       strlen(pw->pw_dir) < 1024 && strlen(pw->pw_shell) < 1024 &&
	       pw->pw_name[0] != '+' && pw->pw_name[0] != '-' &&
	       pw->pw_uid != 0 && login_shell(root, pw->pw_shell);
}

int acct_check(const char *root, const char *akfile, struct acct_report *r)
{
	struct admin_group g[ADMIN_GROUPS];
	struct ent_file e;
	struct passwd pw;
	int ret;

	memset(r, 0, sizeof(*r));
	read_admin_groups(root, g);
	ret = ent_open(&e, root, "/etc/passwd");
	while (!ret && (ret = next_user(&e, &pw)) == 1) {
		bool sudo = false, key;

		ret = 0;
		if (!counted_user(root, &pw))
			continue;
		for (int i = 0; i < ADMIN_GROUPS; i++)
			if (g[i].found && (in_list(g[i].members, pw.pw_name) ||
					   g[i].gid == pw.pw_gid))
				sudo = true;
		key = user_has_key(root, akfile, pw.pw_dir, pw.pw_name);
		if (key && !r->key_users++)
			snprintf(r->key_user, sizeof(r->key_user), "%s",
				 pw.pw_name);
		if (sudo && !r->sudo_users++)
			snprintf(r->sudo_user, sizeof(r->sudo_user), "%s",
				 pw.pw_name);
		if (key && sudo && !r->admin[0])
			snprintf(r->admin, sizeof(r->admin), "%s", pw.pw_name);
	}
	ent_close(&e);
	return ret;
}
