/*
 * Window handles (table.c, rule 12): the buckets one locked section
 * touches, read with pread() into the handle and written back with
 * pwrite() before the lock is released, so a process that lives for one
 * connection maps no more than the header page.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "table_internal.h"

static off_t bucket_off(uint32_t b)
{
	return (off_t)VG_HDR_SIZE + (off_t)b * VG_BUCKET *
	       (off_t)sizeof(struct vg_entry);
}

static struct win_chunk *win_chunk(struct win *w, uint32_t k)
{
	return k == 0 ? &w->first : w->more[k - 1];
}

/* Bucket b as read in this locked section (read now if it was not).
 * On a failed read, a zeroed stand-in whose writes are discarded, and
 * the operation fails at table_unlock(). */
struct vg_entry *table_win_bucket(struct vg_table *t, uint32_t b)
{
	struct win *w = &t->win;
	struct win_chunk *c;
	uint32_t k, i;
	ssize_t got;

	for (k = 0; k < w->n; k++) {
		c = win_chunk(w, k / VG_WIN_CHUNK);
		if (c->idx[k % VG_WIN_CHUNK] == b)
			return c->cur[k % VG_WIN_CHUNK];
	}
	if (w->err || w->n >= VG_WIN_CHUNK * VG_WIN_CHUNKS)
		goto fail;
	k = w->n / VG_WIN_CHUNK;
	i = w->n % VG_WIN_CHUNK;
	if (k > 0 && !w->more[k - 1]) {
		w->more[k - 1] = malloc(sizeof(struct win_chunk));
		if (!w->more[k - 1]) {
			w->err = -ENOMEM;
			goto fail;
		}
	}
	c = win_chunk(w, k);
	got = pread(t->fd, c->cur[i], sizeof(c->cur[i]), bucket_off(b));
	if (got != (ssize_t)sizeof(c->cur[i])) {
		w->err = got < 0 ? -errno : -EIO;
		goto fail;
	}
	memcpy(c->orig[i], c->cur[i], sizeof(c->orig[i]));
	c->idx[i] = b;
	w->n++;
	return c->cur[i];
fail:
	if (!w->err)
		w->err = -ENOSPC;
	memset(w->scratch, 0, sizeof(w->scratch));
	return w->scratch;
}

/* Write back the entries of bucket k that changed since they were read
 * (one pwrite from the first changed to the last). */
static int win_write(struct vg_table *t, uint32_t k)
{
	struct win_chunk *c = win_chunk(&t->win, k / VG_WIN_CHUNK);
	uint32_t i = k % VG_WIN_CHUNK, lo = VG_BUCKET, hi = 0;
	size_t len;

	for (uint32_t j = 0; j < VG_BUCKET; j++)
		if (memcmp(&c->cur[i][j], &c->orig[i][j],
			   sizeof(struct vg_entry))) {
			if (lo == VG_BUCKET)
				lo = j;
			hi = j;
		}
	if (lo == VG_BUCKET)
		return 0;
	len = (hi - lo + 1) * sizeof(struct vg_entry);
	if (pwrite(t->fd, &c->cur[i][lo], len, bucket_off(c->idx[i]) +
		   (off_t)(lo * sizeof(struct vg_entry))) != (ssize_t)len)
		return -EIO;
	memcpy(&c->orig[i][lo], &c->cur[i][lo], len);
	return 0;
}

/* Everything read since table_lock(), written back and forgotten. */
int table_win_flush(struct vg_table *t)
{
	struct win *w = &t->win;
	int ret = w->err;

	for (uint32_t k = 0; k < w->n && ret == 0; k++)
		ret = win_write(t, k);
	w->n = 0;
	w->err = 0;
	return ret;
}

/* An entry moved by make_room(): written through at once (rule 12). */
void table_win_sync(struct vg_table *t, uint32_t slot)
{
	struct win *w = &t->win;
	uint32_t b = slot / VG_BUCKET, j = slot % VG_BUCKET;

	if (t->ent || w->err)
		return;
	for (uint32_t k = 0; k < w->n; k++) {
		struct win_chunk *c = win_chunk(w, k / VG_WIN_CHUNK);
		uint32_t i = k % VG_WIN_CHUNK;

		if (c->idx[i] != b)
			continue;
		if (pwrite(t->fd, &c->cur[i][j], sizeof(struct vg_entry),
			   bucket_off(b) + (off_t)(j * sizeof(struct vg_entry)))
		    != (ssize_t)sizeof(struct vg_entry))
			w->err = -EIO;
		else
			c->orig[i][j] = c->cur[i][j];
		return;
	}
}

/* --- without the lock ----------------------------------------------------- */

/* A copy of k's entry as it is, read without the lock: a writer may be
 * half way through it (rule 4: every field is checked where it is
 * used), which is good enough to keep a ban that stands.  true if
 * found. */
static bool peek_key(struct vg_table *t, const struct vg_key *k,
		     struct vg_entry *out)
{
	struct vg_entry buf[VG_BUCKET];
	uint32_t b[2];

	table_key_buckets(t, k, b);
	for (int j = 0; j < 2; j++) {
		if (t->ent)
			memcpy(buf, &t->ent[b[j] * VG_BUCKET], sizeof(buf));
		else if (pread(t->fd, buf, sizeof(buf), bucket_off(b[j])) !=
			 (ssize_t)sizeof(buf))
			continue;
		for (int i = 0; i < (int)VG_BUCKET; i++) {
			if (entry_valid(&buf[i]) &&
			    entry_key_match(&buf[i], k)) {
				*out = buf[i];
				return true;
			}
		}
	}
	return false;
}

int vg_table_peek_ban(struct vg_table *t, const struct vg_config *c,
		      const struct vg_addr *key, vg_time_t now,
		      bool *trusted)
{
	struct vg_key k = table_source_key(key), pk;
	struct vg_entry e;
	int banned = 0;

	*trusted = false;
	if (peek_key(t, &k, &e)) {
		*trusted = vg_entry_trusted(&e, c, now);
		if (vg_entry_banned(&e, now))
			banned = 1;
	}
	if (!banned && table_prefix_key(key, table_agg_bits(key),
					VG_KIND_PREFIX, &pk) &&
	    pk.a.prefix != key->prefix && peek_key(t, &pk, &e) &&
	    vg_entry_banned(&e, now))
		banned = 1;
	return banned;
}
