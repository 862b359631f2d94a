#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output.h"

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

void out_json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	fputc('"', f);
	while (*p) {
		n = utf8_len(p);
		if (n == 0) {
			fputs("\\ufffd", f);
			p++;
			continue;
		}
		if (n > 1) {
			fwrite(p, 1, n, f);
		} else if (*p == '"' || *p == '\\') {
			fputc('\\', f);
			fputc(*p, f);
		} else if (*p == '\n') {
			fputs("\\n", f);
		} else if (*p == '\t') {
			fputs("\\t", f);
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\u%04x", *p);
		} else {
			fputc(*p, f);
		}
		p += n;
	}
	fputc('"', f);
}

static void json_value(FILE *f, const struct out_field *fl)
{
	switch (fl->kind) {
	case OUT_STR:
		if (fl->text) {
			out_json_string(f, fl->text);
			break;
		}
		/* fall through */
	case OUT_NULL:
		fputs("null", f);
		break;
	case OUT_INT:
		fprintf(f, "%lld", fl->num);
		break;
	case OUT_BOOL:
		fputs(fl->num ? "true" : "false", f);
		break;
	}
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

static void json_object(struct out *o, const struct out_field *f, size_t n,
			const char *indent, const char *sep)
{
	bool first = true;

	fputc('{', o->f);
	for (size_t i = 0; i < n; i++) {
		if (!f[i].key)
			continue;
		fprintf(o->f, "%s%s", first ? "" : ",", sep);
		fputs(indent, o->f);
		out_json_string(o->f, f[i].key);
		fputs(": ", o->f);
		json_value(o->f, &f[i]);
		first = false;
	}
	fprintf(o->f, "%s}", sep);
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
		json_object(o, f, n, "  ", "\n");
		fputc('\n', o->f);
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
	if (o->json)
		fputc('[', o->f);
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
		fputs(o->rows ? ",\n  " : "\n  ", o->f);
		json_object(o, f, n, "", "");
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
		fputs(o->rows ? "\n]\n" : "]\n", o->f);
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
	free(o->cols);
	free(o->cells);
	free(o->text);
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
