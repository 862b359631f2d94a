/* Output of the read commands: an aligned table or "label: value" lines
 * for people, JSON for programs, decided in this one place so that both
 * always carry the same facts.  A command describes each value once, as
 * an out_field, and never prints a value itself. */
#ifndef VG_OUTPUT_H
#define VG_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "table.h"

struct json_object;

enum out_kind { OUT_STR, OUT_INT, OUT_BOOL, OUT_NULL };

struct out_field {
	const char *key;	/* JSON member name; NULL: people only */
	const char *label;	/* column header or line label;
				 * NULL: JSON only */
	enum out_kind kind;
	const char *text;	/* people's text (NULL: from num / kind);
				 * also the JSON value of OUT_STR */
	long long num;		/* JSON value of OUT_INT and OUT_BOOL */
	const char *colour;	/* ANSI SGR parameters ("31"), or NULL */
	bool right;		/* right-align this table column */
};

struct out_cell {
	size_t off;		/* into out.text */
	const char *colour;
};

struct out {
	FILE *f;
	bool json;
	struct json_object *json_rows;	/* the array out_table_end() prints */
	bool colour;		/* stdout is a terminal and NO_COLOR unset */
	/* Table rows are kept until out_table_end() for people, because
	 * column widths are known only after the last row. */
	size_t rows, ncols;
	struct out_field *cols;	/* labels and alignment of the columns */
	struct out_cell *cells;
	size_t ncells, cells_cap;
	char *text;
	size_t text_len, text_cap;
	bool oom;
};

void out_init(struct out *o, bool json);
/* One object: "label:  text" lines, or a JSON object. */
void out_record(struct out *o, const struct out_field *f, size_t n);
/* A list of objects with the same fields: an aligned table with one
 * header line (nothing at all when there are no rows), or a JSON array.
 * Every row passes the same n fields in the same order. */
void out_table_begin(struct out *o);
void out_table_row(struct out *o, const struct out_field *f, size_t n);
void out_table_end(struct out *o);
/* Flush and free.  0, or -ENOMEM / -EIO (stdout full or closed). */
int out_finish(struct out *o);

/* For output out_record() and out_table_*() cannot give (audit's object
 * holding an array): the JSON object of the fields with a key, in their
 * order (json-c), or NULL on ENOMEM.  Strings that are not valid UTF-8
 * have U+FFFD for each bad byte, so the output always parses. */
struct json_object *out_json_object(const struct out_field *f, size_t n);
/* Print v in the one JSON layout of the CLI a newline, and release it; NULL (a
 * value that could not be made) sets o->oom for out_finish(). */
void out_json_emit(struct out *o, struct json_object *v);

/* Times.  span: the two largest units, rounded ("1h2m", "3d", "45s").
 * rel: a table time against now in words ("in 47m", "3d ago", "now";
 * "-" for 0 = never).  iso: the wall-clock time of a table time as
 * ISO 8601 UTC, given wall = time(NULL) taken together with now. */
void out_span(char *buf, size_t len, uint64_t secs);
void out_rel(char *buf, size_t len, vg_time_t t, vg_time_t now);
void out_iso(char *buf, size_t len, vg_time_t t, vg_time_t now, time_t wall);

#endif
