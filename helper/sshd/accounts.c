#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "fsutil.h"

#define AK_DEFAULT	".ssh/authorized_keys .ssh/authorized_keys2"
#define ADMIN_GROUPS	3
static const char *const admin_groups[ADMIN_GROUPS] = { "sudo", "wheel",
							"admin" };

/* Field i (0-based) of a colon-separated line, into buf. */
static bool field(const char *line, int i, char *buf, size_t len)
{
	const char *p = line, *e;
	size_t n;

	while (i-- > 0) {
		p = strchr(p, ':');
		if (!p)
			return false;
		p++;
	}
	e = strpbrk(p, ":\n");
	n = e ? (size_t)(e - p) : strlen(p);
	if (n >= len)
		return false;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return true;
}

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

static bool login_shell(const char *shell)
{
	size_t n = strlen(shell);

	if (n == 0)
		return true;	/* empty = /bin/sh (passwd(5)) */
	return !(n >= 7 && strcmp(shell + n - 7, "nologin") == 0) &&
	       strcmp(shell, "/bin/false") != 0 &&
	       strcmp(shell, "/usr/bin/false") != 0;
}

int acct_check(const char *root, const char *akfile, struct acct_report *r)
{
	char path[FS_PATH_MAX], *pw = NULL, *gr = NULL;
	char gids[ADMIN_GROUPS][16] = { "", "", "" };
	const char *members[ADMIN_GROUPS] = { NULL, NULL, NULL };
	char mem[ADMIN_GROUPS][4096];
	size_t len;
	int ret;

	memset(r, 0, sizeof(*r));
	if ((ret = fs_rooted(path, sizeof(path), root, "/etc/passwd")) ||
	    (ret = fs_read(path, &pw, &len)))
		goto out;
	if (fs_rooted(path, sizeof(path), root, "/etc/group") == 0 &&
	    fs_read(path, &gr, &len) == 0) {
		for (char *l = gr; l && *l; ) {
			char *e = strchr(l, '\n');
			char name[64];

			for (int g = 0; g < ADMIN_GROUPS; g++) {
				if (!field(l, 0, name, sizeof(name)) ||
				    strcmp(name, admin_groups[g]) != 0)
					continue;
				if (field(l, 2, gids[g], sizeof(gids[g])) &&
				    field(l, 3, mem[g], sizeof(mem[g])))
					members[g] = mem[g];
			}
			l = e ? e + 1 : NULL;
		}
	}
	for (char *l = pw; l && *l; ) {
		char *e = strchr(l, '\n');
		char name[ACCT_NAME_MAX], uid[16], gid[16], home[1024];
		char shell[1024];
		bool sudo = false, key;

		if (!field(l, 0, name, sizeof(name)) ||
		    !field(l, 2, uid, sizeof(uid)) ||
		    !field(l, 3, gid, sizeof(gid)) ||
		    !field(l, 5, home, sizeof(home)) ||
		    !field(l, 6, shell, sizeof(shell)) ||
		    name[0] == '+' || name[0] == '-' ||
		    strcmp(uid, "0") == 0 || !login_shell(shell))
			goto next;
		for (int g = 0; g < ADMIN_GROUPS; g++)
			if (members[g] && (in_list(members[g], name) ||
					   strcmp(gids[g], gid) == 0))
				sudo = true;
		key = user_has_key(root, akfile, home, name);
		if (key && !r->key_users++)
			snprintf(r->key_user, sizeof(r->key_user), "%s", name);
		if (sudo && !r->sudo_users++)
			snprintf(r->sudo_user, sizeof(r->sudo_user), "%s", name);
		if (key && sudo && !r->admin[0])
			snprintf(r->admin, sizeof(r->admin), "%s", name);
next:
		l = e ? e + 1 : NULL;
	}
	ret = 0;
out:
	free(pw);
	free(gr);
	return ret;
}
