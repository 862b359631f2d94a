/*
 * STATE.crowdsec: what the CrowdSec link must not lose.  Text, like the
 * state file, so an admin can read it:
 *
 *   pam_vpsguard-crowdsec 1
 *   link BASELINE LAST_PULL LAST_PUSH FAILS ERROR_AT
 *   error TEXT
 *   d ID UNTIL CIDR                       a decision pulled
 *   p pending|done KEY BANNED_AT UNTIL BAN_COUNT
 *   end N                                 N = number of d and p lines
 *
 * Written with vg_state_replace() (temp + fsync + rename); a file
 * without its trailer is corrupt, kept aside, and loads nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "crowdsec.h"
#include "log.h"
#include "state.h"

#define CS_MAGIC	"pam_vpsguard-crowdsec 1"
#define CS_LINE_MAX	512

int cs_path(const struct vg_config *c, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s.crowdsec", c->state_path);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int write_link(FILE *f, void *arg)
{
	const struct cs_link *l = arg;
	char a[VG_ADDR_STRLEN];
	size_t n = 0;

	fprintf(f, "%s\nlink %d %" PRId64 " %" PRId64 " %u %" PRId64 "\n",
		CS_MAGIC, l->baseline, l->last_pull, l->last_push, l->fails,
		l->error_at);
	if (l->error[0])
		fprintf(f, "error %s\n", l->error);
	for (size_t i = 0; i < l->n_dec; i++, n++) {
		vg_addr_format(&l->dec[i].net, a, sizeof(a));
		fprintf(f, "d %" PRId64 " %" PRId64 " %s\n", l->dec[i].id,
			l->dec[i].until, a);
	}
	for (size_t i = 0; i < l->n_push; i++, n++) {
		const struct cs_push *p = &l->push[i];

		vg_addr_format(&p->key, a, sizeof(a));
		fprintf(f, "p %s %s %" PRId64 " %" PRId64 " %u\n",
			p->done ? "done" : "pending", a, p->banned_at,
			p->until, p->ban_count);
	}
	fprintf(f, "end %zu\n", n);
	return 0;
}

int cs_save(struct cs_link *l, const struct vg_config *c, char *err,
	    size_t errlen)
{
	char path[VG_PATH_MAX + 16];
	int ret = cs_path(c, path, sizeof(path));

	if (ret) {
		snprintf(err, errlen, "state.path too long");
		return ret;
	}
	ret = vg_state_replace(path, write_link, l, err, errlen);
	if (!ret)
		l->dirty = false;
	return ret;
}

void cs_save_if_needed(struct cs_link *l, const struct vg_config *c,
		       int64_t now)
{
	char err[VG_ERR_MAX];

	if (!l->dirty && now - l->saved_at < 60)
		return;
	if (cs_save(l, c, err, sizeof(err)) == 0)
		l->saved_at = now;
	else
		vg_log(LOG_ERR, "crowdsec: %s", err);
}

static int grow(void **p, size_t *cap, size_t need, size_t size, size_t max)
{
	size_t ncap;
	void *q;

	if (need <= *cap)
		return 0;
	if (need > max)
		return -E2BIG;
	ncap = *cap ? *cap * 2 : 64;
	while (ncap < need)
		ncap *= 2;
	if (ncap > max)
		ncap = max;
	q = realloc(*p, ncap * size);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = ncap;
	return 0;
}

static int add_dec(struct cs_link *l, const struct cs_decision *d)
{
	int r = grow((void **)&l->dec, &l->cap_dec, l->n_dec + 1,
		     sizeof(*l->dec), CS_DECISIONS_MAX);

	if (!r)
		l->dec[l->n_dec++] = *d;
	return r;
}

static int add_push(struct cs_link *l, const struct cs_push *p)
{
	int r = grow((void **)&l->push, &l->cap_push, l->n_push + 1,
		     sizeof(*l->push), CS_PUSH_MAX);

	if (!r)
		l->push[l->n_push++] = *p;
	return r;
}

int cs_add_decision(struct cs_link *l, const struct cs_decision *d)
{
	return add_dec(l, d);
}

int cs_add_push(struct cs_link *l, const struct cs_push *p)
{
	return add_push(l, p);
}

/* Split a line ending in '\n' into at most max fields separated by
 * single spaces: the file is ours, so anything looser is corruption.
 * The number of fields, or -EINVAL. */
static int split(char *line, char **f, int max)
{
	char *nl = strchr(line, '\n');
	int n = 0;

	if (!nl || nl[1] != '\0')
		return -EINVAL;
	*nl = '\0';
	for (char *p = line; ; p++) {
		if (n == max || *p == ' ' || *p == '\0')
			return -EINVAL;
		f[n++] = p;
		p += strcspn(p, " ");
		if (*p == '\0')
			return n;
		*p = '\0';
	}
}

/* Plain decimal only (strtoll would also take " 3", "+3" and clamp an
 * overflow; sscanf's %d would make it undefined). */
static int num(const char *s, int64_t min, int64_t max, int64_t *v)
{
	char *end;
	long long x;

	if (!((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' &&
					   s[1] <= '9')))
		return -EINVAL;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno || *end || x < min || x > max)
		return -EINVAL;
	*v = x;
	return 0;
}

static int parse_line(struct cs_link *l, char *line, size_t *count)
{
	struct cs_decision d = { 0 };
	struct cs_push p = { 0 };
	char *f[8];
	int64_t v[2];
	int n;

	if (strncmp(line, "error ", 6) == 0) {
		line[strcspn(line, "\n")] = '\0';
		vg_sanitize(l->error, sizeof(l->error), line + 6);
		return 0;
	}
	n = split(line, f, 8);
	if (n < 1)
		return -EINVAL;
	if (strcmp(f[0], "link") == 0) {
		if (n != 6 || num(f[1], 0, 1, &v[0]) ||
		    num(f[2], 0, INT64_MAX, &l->last_pull) ||
		    num(f[3], 0, INT64_MAX, &l->last_push) ||
		    num(f[4], 0, UINT32_MAX, &v[1]) ||
		    num(f[5], 0, INT64_MAX, &l->error_at))
			return -EINVAL;
		l->baseline = v[0] == 1;
		l->fails = (unsigned int)v[1];
		return 0;
	}
	if (strcmp(f[0], "d") == 0) {
		if (n != 4 || num(f[1], INT64_MIN, INT64_MAX, &d.id) ||
		    num(f[2], 0, INT64_MAX, &d.until) ||
		    vg_cidr_parse(f[3], &d.net) != 0)
			return -EINVAL;
		(*count)++;
		return add_dec(l, &d);
	}
	if (strcmp(f[0], "p") == 0) {
		if (n != 6 || (strcmp(f[1], "done") && strcmp(f[1], "pending")) ||
		    vg_cidr_parse(f[2], &p.key) != 0 ||
		    num(f[3], 0, INT64_MAX, &p.banned_at) ||
		    num(f[4], 0, INT64_MAX, &p.until) ||
		    num(f[5], 0, UINT32_MAX, &v[0]))
			return -EINVAL;
		p.ban_count = (uint32_t)v[0];
		p.done = strcmp(f[1], "done") == 0;
		(*count)++;
		return add_push(l, &p);
	}
	return -EINVAL;
}

static int load_file(struct cs_link *l, FILE *f)
{
	char line[CS_LINE_MAX];
	size_t count = 0;
	bool ended = false;
	int64_t end_n;

	if (!fgets(line, sizeof(line), f) || strcmp(line, CS_MAGIC "\n"))
		return -EBADMSG;
	while (fgets(line, sizeof(line), f)) {
		if (ended || !strchr(line, '\n'))
			return -EBADMSG;
		if (strncmp(line, "end ", 4) == 0) {
			line[strcspn(line, "\n")] = '\0';
			if (num(line + 4, 0, INT64_MAX, &end_n) ||
			    (size_t)end_n != count)
				return -EBADMSG;
			ended = true;
			continue;
		}
		if (parse_line(l, line, &count))
			return -EBADMSG;
	}
	return ended ? 0 : -EBADMSG;
}

void cs_free(struct cs_link *l)
{
	free(l->dec);
	free(l->push);
	memset(l, 0, sizeof(*l));
}

int cs_load(struct cs_link *l, const struct vg_config *c, bool readonly)
{
	char path[VG_PATH_MAX + 16], aside[VG_PATH_MAX + 64];
	FILE *f;
	int ret;

	cs_free(l);
	l->loaded = true;
	if (cs_path(c, path, sizeof(path)))
		return -ENAMETOOLONG;
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	ret = load_file(l, f);
	fclose(f);
	if (ret == 0)
		return 0;
	/* Start empty (the next pull is a full one); never lose the file. */
	cs_free(l);
	l->loaded = true;
	if (readonly)
		return ret;
	if (vg_state_quarantine(path, aside, sizeof(aside)) == 0)
		vg_log(LOG_ERR, "crowdsec: %s is corrupt; kept as %s, "
		       "starting without it", path, aside);
	else
		vg_log(LOG_ERR, "crowdsec: %s is corrupt; starting without "
		       "it", path);
	l->dirty = true;
	return 0;
}
