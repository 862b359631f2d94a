#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "output.h"

/* Every JSON the CLI prints: one key per line ("key": value), the same
 * for every command, so that a script may read it with a line tool too
 * (tests/adversary, tests/pkg); '/' is not escaped, so paths stay
 * greppable. */
#define OUT_JSON_FLAGS	(JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | \
			 JSON_C_TO_STRING_NOSLASHESCAPE)

void out_init(struct out *o, bool json)
{
	const char *nc = getenv("NO_COLOR");

	memset(o, 0, sizeof(*o));
	o->f = stdout;
	o->json = json;
	/* https://no-color.org: set and not empty means no colour. */
	o->colour = !json && isatty(STDOUT_FILENO) && !(nc && *nc);
}

/* Length of the valid UTF-8 sequence at s, or 0 (overlong forms,
 * surrogates and code points past U+10FFFF are invalid too). */
static size_t utf8_len(const unsigned char *s)
{
	size_t n, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

/* json-c escapes but copies bytes >= 0x80 as they are, so a path or a
 * user name that is not UTF-8 would make output no JSON parser takes.
 * Each byte of an invalid sequence becomes U+FFFD first. */
static struct json_object *json_string(const char *s)
{
	static const unsigned char fffd[3] = { 0xef, 0xbf, 0xbd };
	const unsigned char *p = (const unsigned char *)s;
	struct json_object *v;
	size_t n, len = 0;
	char *fixed;

	while (*p && (n = utf8_len(p)) > 0)
		p += n;
	if (!*p)
		return json_object_new_string(s);
	/* at most sizeof(fffd) bytes out per byte in */
	fixed = reallocarray(NULL, strlen(s) + 1, sizeof(fffd));
	if (!fixed)
		return NULL;
	for (p = (const unsigned char *)s; *p; p += n ? n : 1) {
		n = utf8_len(p);
		if (n) {
			memcpy(fixed + len, p, n);
			len += n;
		} else {
			memcpy(fixed + len, fffd, sizeof(fffd));
			len += sizeof(fffd);
		}
	}
	v = json_object_new_string_len(fixed, (int)len);
	free(fixed);
	return v;
}

/* The JSON value of a field: NULL is JSON null, so *oom tells a value
 * that could not be made apart from null. */
static struct json_object *json_value(const struct out_field *fl, bool *oom)
{
	struct json_object *v = NULL;

	switch (fl->kind) {
	case OUT_STR:
		if (!fl->text)
			return NULL;
		v = json_string(fl->text);
		break;
	case OUT_NULL:
		return NULL;
	case OUT_INT:
		v = json_object_new_int64(fl->num);
		break;
	case OUT_BOOL:
		v = json_object_new_boolean(fl->num != 0);
		break;
	}
	if (!v)
		*oom = true;
	return v;
}

struct json_object *out_json_object(const struct out_field *f, size_t n)
{
	struct json_object *obj = json_object_new_object(), *v;
	bool oom = false;

	for (size_t i = 0; obj && i < n && !oom; i++) {
		if (!f[i].key)
			continue;
		v = json_value(&f[i], &oom);
		if (oom || json_object_object_add(obj, f[i].key, v) != 0) {
			json_object_put(v);
			oom = true;
		}
	}
	if (oom) {
		json_object_put(obj);
		return NULL;
	}
	return obj;
}

void out_json_emit(struct out *o, struct json_object *v)
{
	const char *s;

	if (!v) {
		o->oom = true;
		return;
	}
	s = json_object_to_json_string_ext(v, OUT_JSON_FLAGS);
	if (s)
		fprintf(o->f, "%s\n", s);
	else
		o->oom = true;
	json_object_put(v);
}

/* People's text of a field; buf is used when it has to be made. */
static const char *human_text(const struct out_field *fl, char *buf,
			      size_t len)
{
	if (fl->text)
		return fl->text;
	switch (fl->kind) {
	case OUT_INT:
		snprintf(buf, len, "%lld", fl->num);
		return buf;
	case OUT_BOOL:
		return fl->num ? "yes" : "-";
	default:
		return "-";
	}
}

static void put_coloured(struct out *o, const char *s, const char *colour)
{
	if (o->colour && colour)
		fprintf(o->f, "\033[%sm%s\033[0m", colour, s);
	else
		fputs(s, o->f);
}

void out_record(struct out *o, const struct out_field *f, size_t n)
{
	size_t i, w = 0;
	char num[32];

	if (o->json) {
		out_json_emit(o, out_json_object(f, n));
		return;
	}
	for (i = 0; i < n; i++)
		if (f[i].label && strlen(f[i].label) > w)
			w = strlen(f[i].label);
	for (i = 0; i < n; i++) {
		if (!f[i].label)
			continue;
		fprintf(o->f, "%s:%*s", f[i].label,
			(int)(w + 2 - strlen(f[i].label)), "");
		put_coloured(o, human_text(&f[i], num, sizeof(num)),
			     f[i].colour);
		fputc('\n', o->f);
	}
}

void out_table_begin(struct out *o)
{
	o->rows = 0;
	if (o->json) {
		json_object_put(o->json_rows);
		o->json_rows = json_object_new_array();
		if (!o->json_rows)
			o->oom = true;
	}
}

static bool grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 64;
	void *q;

	if (need <= *cap)
		return true;
	while (n < need)
		n *= 2;
	q = reallocarray(*p, n, size);
	if (!q)
		return false;
	*p = q;
	*cap = n;
	return true;
}

static void keep_cell(struct out *o, const char *s, const char *colour)
{
	size_t len = strlen(s) + 1;

	if (o->oom ||
	    !grow((void **)&o->cells, &o->cells_cap, o->ncells + 1,
		  sizeof(*o->cells)) ||
	    !grow((void **)&o->text, &o->text_cap, o->text_len + len, 1)) {
		o->oom = true;
		return;
	}
	memcpy(o->text + o->text_len, s, len);
	o->cells[o->ncells].off = o->text_len;
	o->cells[o->ncells].colour = colour;
	o->ncells++;
	o->text_len += len;
}

void out_table_row(struct out *o, const struct out_field *f, size_t n)
{
	char num[32];

	if (o->json) {
		struct json_object *obj;

		if (!o->json_rows)
			return;
		obj = out_json_object(f, n);
		if (!obj || json_object_array_add(o->json_rows, obj) != 0) {
			json_object_put(obj);
			o->oom = true;
		}
		o->rows++;
		return;
	}
	if (o->rows == 0) {
		free(o->cols);
		o->cols = calloc(n, sizeof(*o->cols));
		if (!o->cols) {
			o->oom = true;
			return;
		}
		for (size_t i = 0; i < n; i++)
			if (f[i].label)
				o->cols[o->ncols++] = f[i];
	}
	for (size_t i = 0; i < n; i++)
		if (f[i].label)
			keep_cell(o, human_text(&f[i], num, sizeof(num)),
				  f[i].colour);
	o->rows++;
}

static void print_cell(struct out *o, const char *s, const char *colour,
		       size_t w, bool right, bool last)
{
	int pad = (int)(w - strlen(s));

	if (right)
		fprintf(o->f, "%*s", pad, "");
	put_coloured(o, s, colour);
	if (!last)
		fprintf(o->f, "%*s", right ? 2 : pad + 2, "");
}

void out_table_end(struct out *o)
{
	size_t *w = NULL, r, c, nc = o->ncols;

	if (o->json) {
		if (o->json_rows && !o->oom)
			out_json_emit(o, o->json_rows);
		else
			json_object_put(o->json_rows);
		o->json_rows = NULL;
		return;
	}
	if (o->rows == 0 || o->oom || o->ncells != o->rows * nc)
		return;
	w = calloc(nc, sizeof(*w));
	if (!w) {
		o->oom = true;
		return;
	}
	for (c = 0; c < nc; c++)
		w[c] = strlen(o->cols[c].label);
	for (r = 0; r < o->rows; r++)
		for (c = 0; c < nc; c++) {
			size_t l = strlen(o->text + o->cells[r * nc + c].off);

			if (l > w[c])
				w[c] = l;
		}
	for (c = 0; c < nc; c++)
		print_cell(o, o->cols[c].label, o->colour ? "1" : NULL, w[c],
			   o->cols[c].right, c + 1 == nc);
	fputc('\n', o->f);
	for (r = 0; r < o->rows; r++) {
		for (c = 0; c < nc; c++) {
			const struct out_cell *cell = &o->cells[r * nc + c];

			print_cell(o, o->text + cell->off, cell->colour, w[c],
				   o->cols[c].right, c + 1 == nc);
		}
		fputc('\n', o->f);
	}
	free(w);
}

int out_finish(struct out *o)
{
	int ret = 0;

	if (o->oom)
		ret = -ENOMEM;
	else if (fflush(o->f) != 0 || ferror(o->f))
		ret = -EIO;
	json_object_put(o->json_rows);
	free(o->cols);
	free(o->cells);
	free(o->text);
	o->json_rows = NULL;
	o->cols = NULL;
	o->cells = NULL;
	o->text = NULL;
	return ret;
}

static const struct {
	char suffix;
	uint64_t secs;
} units[] = {
	{ 'w', 604800 }, { 'd', 86400 }, { 'h', 3600 }, { 'm', 60 },
	{ 's', 1 },
};

#define N_UNITS	(sizeof(units) / sizeof(units[0]))

static size_t largest_unit(uint64_t secs)
{
	size_t u = 0;

	while (u + 1 < N_UNITS && secs < units[u].secs)
		u++;
	return u;
}

/* Exact to the second unit, so "1h2m" and never "1h2m3s": people read
 * the first two numbers anyway.  Rounding can carry into a larger unit
 * (6d23h40m -> 1w), so the unit is chosen again afterwards; the carried
 * value then has nothing left in the smaller unit. */
void out_span(char *buf, size_t len, uint64_t secs)
{
	size_t u = largest_unit(secs);
	uint64_t step, a, b;

	if (u + 1 < N_UNITS) {
		step = units[u + 1].secs;
		secs = (secs + step / 2) / step * step;
		u = largest_unit(secs);
	}
	a = secs / units[u].secs;
	b = u + 1 < N_UNITS ? secs % units[u].secs / units[u + 1].secs : 0;
	if (b)
		snprintf(buf, len, "%llu%c%llu%c", (unsigned long long)a,
			 units[u].suffix, (unsigned long long)b,
			 units[u + 1].suffix);
	else
		snprintf(buf, len, "%llu%c", (unsigned long long)a,
			 units[u].suffix);
}

void out_rel(char *buf, size_t len, vg_time_t t, vg_time_t now)
{
	char span[32];

	if (t == 0) {
		snprintf(buf, len, "-");
	} else if (t == now) {
		snprintf(buf, len, "now");
	} else if (t > now) {
		out_span(span, sizeof(span), t - now);
		snprintf(buf, len, "in %s", span);
	} else {
		out_span(span, sizeof(span), now - t);
		snprintf(buf, len, "%s ago", span);
	}
}

void out_iso(char *buf, size_t len, vg_time_t t, vg_time_t now, time_t wall)
{
	time_t at = wall + ((time_t)t - (time_t)now);
	struct tm tm;

	if (t == 0 || !gmtime_r(&at, &tm) ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "-");
}
