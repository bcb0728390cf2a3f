/*
 * "apitokenctl user import FILE|-": bulk provisioning.
 *
 * The format is detected per file: JSON lines when the first non-blank
 * character is '{', else CSV (user,email,role[,unit;unit], header
 * optional, RFC 4180 quoting).  Users are written BATCH_SIZE at a time,
 * one transaction per batch (apitoken_user_add_batch), so a 1M-user
 * import costs 500 synchronous commits instead of 1M.  A bad
 * line is reported as "FILE:LINE: reason" and skipped; the others are
 * kept.  Reports come out in line order.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include <apitoken/error.h>

#include "admin_int.h"

#define BATCH_SIZE 2000
#define NAME_SLOTS (BATCH_SIZE * 2) /* open addressing, half full */
#define RECORD_MAX (64 * 1024)      /* longest accepted record */
#define FIELDS_MAX 8

enum format { FMT_CSV, FMT_JSON };

struct entry {
	size_t line;
	char *reason;         /* parse/validation failure, or NULL */
	apitoken_user_t user; /* owned strings when reason == NULL */
};

struct import {
	apitoken_store_t *store; /* NULL: check only, write nothing */
	const apitoken_config_t *cfg;
	const apitoken_admin_io_t *io;
	const char *display; /* FILE as the admin wrote it */
	FILE *in;
	enum format fmt;
	size_t line; /* last line read */
	bool first_record;
	struct entry batch[BATCH_SIZE];
	size_t n;
	/* The names of this batch's accepted entries: index + 1, 0 free.
	 * A linear search was a quarter of the CPU of a 1M-user import. */
	uint32_t names[NAME_SLOTS];
	size_t imported, rejected;
	bool store_failed;
};

static void
entry_clear(struct entry *e)
{
	free(e->reason);
	free(e->user.name);
	free(e->user.email);
	free(e->user.role);
	for (size_t i = 0; i < e->user.n_bus; i++)
		free(e->user.bus[i]);
	free(e->user.bus);
	memset(e, 0, sizeof(*e));
}

static void
entry_reject(struct entry *e, const char *reason)
{
	size_t line = e->line;

	entry_clear(e);
	e->line = line;
	e->reason = strdup(reason);
	/* A line rejected without memory for its reason says so. */
	if (e->reason == NULL)
		e->reason = strdup("out of memory");
}

static int
add_unit(apitoken_user_t *u, const char *s, size_t len)
{
	char **nb;

	nb = realloc(u->bus, (u->n_bus + 1) * sizeof(*nb));
	if (nb == NULL)
		return APITOKEN_ERR_NOMEM;
	u->bus = nb;
	u->bus[u->n_bus] = strndup(s, len);
	if (u->bus[u->n_bus] == NULL)
		return APITOKEN_ERR_NOMEM;
	u->n_bus++;
	return 0;
}

/* FNV-1a */
static size_t
name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* Check the fields and that the name is not earlier in this batch. */
static void
entry_validate(struct import *im, struct entry *e)
{
	apitoken_user_t *u = &e->user;
	char reason[600];

	if (admin_user_fields_valid(im->cfg, u->name, u->email, u->role,
	                            u->bus, u->n_bus) < 0) {
		entry_reject(e, apitoken_last_error());
		return;
	}
	for (size_t h = name_hash(u->name) % NAME_SLOTS;;
	     h = (h + 1) % NAME_SLOTS) {
		const struct entry *o;

		if (im->names[h] == 0) {
			im->names[h] = (uint32_t)(e - im->batch) + 1;
			return;
		}
		o = &im->batch[im->names[h] - 1];
		if (o->reason == NULL && o->user.name != NULL &&
		    strcmp(o->user.name, u->name) == 0) {
			(void)snprintf(reason, sizeof(reason),
			               "user %s appears again (first on "
			               "line %zu)",
			               u->name, o->line);
			entry_reject(e, reason);
			return;
		}
	}
}

/* ---- CSV --------------------------------------------------------------- */

static void
trim(const char **s, size_t *len)
{
	/* A quoted field may span lines: line breaks are blanks too. */
	while (*len > 0 && strchr(" \t\r\n", **s) != NULL) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && strchr(" \t\r\n", (*s)[*len - 1]) != NULL)
		(*len)--;
}

/*
 * Split one record into fields, unquoting in place into buf (which
 * outlives the fields).  Returns the number of fields or -1 with reason.
 */
static int
csv_split(char *rec, char **fields, const char **reason)
{
	char *r = rec, *w = rec;
	int n = 0;

	for (;;) {
		char *start = w;
		char sep;

		if (n == FIELDS_MAX) {
			*reason = "too many fields";
			return -1;
		}
		while (*r == ' ' || *r == '\t')
			r++;
		if (*r == '"') {
			r++;
			for (;;) {
				if (*r == '\0') {
					*reason = "unterminated quoted field";
					return -1;
				}
				if (*r == '"' && r[1] == '"') {
					*w++ = '"';
					r += 2;
				} else if (*r == '"') {
					r++;
					break;
				} else {
					*w++ = *r++;
				}
			}
			while (*r == ' ' || *r == '\t')
				r++;
			if (*r != ',' && *r != '\0') {
				*reason = "text after a closing quote";
				return -1;
			}
			sep = *r;
			*w = '\0';
			fields[n++] = start;
		} else {
			const char *s = r;
			size_t len;

			while (*r != ',' && *r != '\0') {
				if (*r == '"') {
					*reason = "quote inside an unquoted "
					          "field";
					return -1;
				}
				r++;
			}
			len = (size_t)(r - s);
			trim(&s, &len);
			sep = *r;
			memmove(w, s, len);
			w += len;
			*w = '\0';
			fields[n++] = start;
		}
		if (sep == '\0')
			return n;
		r++; /* ',' */
		w++; /* past the NUL just written */
	}
}

static bool
csv_is_header(char **f, int n)
{
	return n >= 3 && strcasecmp(f[0], "user") == 0 &&
	       strcasecmp(f[1], "email") == 0 && strcasecmp(f[2], "role") == 0;
}

/* Parse a CSV record (no line end) into e. */
static void
csv_entry(struct import *im, struct entry *e, char *rec)
{
	char *f[FIELDS_MAX];
	const char *reason = NULL;
	char msg[128];
	int n;

	n = csv_split(rec, f, &reason);
	if (n < 0) {
		entry_reject(e, reason);
		return;
	}
	if (n < 3 || n > 4) {
		(void)snprintf(msg, sizeof(msg),
		               "expected 3 or 4 fields (user,email,role,"
		               "unit;unit), found %d",
		               n);
		entry_reject(e, msg);
		return;
	}
	e->user.name = strdup(f[0]);
	e->user.email = strdup(f[1]);
	e->user.role = strdup(f[2]);
	e->user.api_access = true;
	if (e->user.name == NULL || e->user.email == NULL ||
	    e->user.role == NULL)
		goto nomem;
	if (n == 4) {
		const char *p = f[3];

		while (*p != '\0') {
			const char *s = p;
			size_t len = strcspn(p, ";");

			p += len;
			if (*p == ';')
				p++;
			trim(&s, &len);
			if (len > 0 && add_unit(&e->user, s, len) < 0)
				goto nomem;
		}
	}
	entry_validate(im, e);
	return;
nomem:
	entry_reject(e, "out of memory");
}

/* ---- JSON lines -------------------------------------------------------- */

static void
json_entry(struct import *im, struct entry *e, const char *rec, size_t len)
{
	cJSON *root, *item;
	char msg[160];
	const char *reason = NULL;

	root = cJSON_ParseWithLength(rec, len);
	if (root == NULL) {
		entry_reject(e, "not valid JSON");
		return;
	}
	if (!cJSON_IsObject(root)) {
		entry_reject(e, "expected a JSON object");
		goto out;
	}
	e->user.api_access = true;
	cJSON_ArrayForEach(item, root)
	{
		const char *k = item->string;
		char **dest = NULL;

		for (cJSON *o = root->child; o != item; o = o->next) {
			if (strcmp(o->string, k) == 0) {
				(void)snprintf(msg, sizeof(msg),
				               "key '%.40s' given twice", k);
				reason = msg;
				goto reject;
			}
		}
		if (strcmp(k, "user") == 0)
			dest = &e->user.name;
		else if (strcmp(k, "email") == 0)
			dest = &e->user.email;
		else if (strcmp(k, "role") == 0)
			dest = &e->user.role;
		if (dest != NULL) {
			if (!cJSON_IsString(item)) {
				(void)snprintf(msg, sizeof(msg),
				               "key '%s': expected a string",
				               k);
				reason = msg;
				goto reject;
			}
			*dest = strdup(item->valuestring);
			if (*dest == NULL)
				goto nomem;
		} else if (strcmp(k, "business_units") == 0) {
			cJSON *u;

			if (!cJSON_IsArray(item)) {
				reason = "key 'business_units': expected an "
				         "array of strings";
				goto reject;
			}
			cJSON_ArrayForEach(u, item)
			{
				if (!cJSON_IsString(u)) {
					reason =
					    "key 'business_units': "
					    "expected an array of strings";
					goto reject;
				}
				if (add_unit(&e->user, u->valuestring,
				             strlen(u->valuestring)) < 0)
					goto nomem;
			}
		} else if (strcmp(k, "api_access") == 0) {
			if (!cJSON_IsBool(item)) {
				reason = "key 'api_access': expected true or "
				         "false";
				goto reject;
			}
			e->user.api_access = cJSON_IsTrue(item);
		} else {
			(void)snprintf(msg, sizeof(msg),
			               "unknown key '%.40s' (expected user, "
			               "email, role, business_units, "
			               "api_access)",
			               k);
			reason = msg;
			goto reject;
		}
	}
	if (e->user.name == NULL || e->user.email == NULL ||
	    e->user.role == NULL) {
		(void)snprintf(msg, sizeof(msg), "missing key '%s'",
		               e->user.name == NULL    ? "user"
		               : e->user.email == NULL ? "email"
		                                       : "role");
		reason = msg;
		goto reject;
	}
	entry_validate(im, e);
	goto out;
nomem:
	reason = "out of memory";
reject:
	entry_reject(e, reason);
out:
	cJSON_Delete(root);
}

/* ---- reading ----------------------------------------------------------- */

/*
 * Read one record: a line, or for CSV several while a quoted field is
 * open.  *rec is malloc'ed (line ends removed, NUL-terminated; a quoted
 * line break is kept as '\n').  Returns 1 with a record, 0 at the end,
 * -1 on a read error.  *start gets the record's first line number.
 */
static int
read_record(struct import *im, char **rec, size_t *rec_len, size_t *start,
            const char **bad)
{
	char *line = NULL, *buf = NULL;
	size_t cap = 0, len = 0;
	bool in_quotes = false;
	ssize_t got;

	*bad = NULL;
	*rec = NULL;
	*start = im->line + 1;
	for (;;) {
		got = getline(&line, &cap, im->in);
		if (got < 0)
			break;
		im->line++;
		if (got > 0 && line[got - 1] == '\n')
			got--;
		if (got > 0 && line[got - 1] == '\r')
			got--;
		if (memchr(line, '\0', (size_t)got) != NULL) {
			*bad = "contains a NUL byte (not a text file?)";
		} else if (len + (size_t)got + 2 > RECORD_MAX) {
			*bad = "record longer than 64 KiB";
		} else {
			char *nb = realloc(buf, len + (size_t)got + 2);

			if (nb == NULL) {
				free(line);
				free(buf);
				return -1;
			}
			buf = nb;
			if (len > 0)
				buf[len++] = '\n';
			memcpy(buf + len, line, (size_t)got);
			len += (size_t)got;
			buf[len] = '\0';
		}
		if (im->fmt == FMT_CSV) {
			for (ssize_t i = 0; i < got; i++) {
				if (line[i] == '"')
					in_quotes = !in_quotes;
			}
		}
		if (!in_quotes || *bad != NULL)
			break;
	}
	free(line);
	if (ferror(im->in)) {
		free(buf);
		return -1;
	}
	if (buf == NULL && *bad == NULL)
		return 0; /* got < 0 at once: the end */
	if (buf == NULL) {
		buf = strdup("");
		if (buf == NULL)
			return -1;
	}
	*rec = buf;
	*rec_len = len;
	return 1;
}

static bool
blank(const char *s)
{
	return s[strspn(s, " \t\r\n")] == '\0';
}

/* ---- batches ----------------------------------------------------------- */

static void
report(struct import *im, size_t line, const char *reason)
{
	fprintf(im->io->err, "%s:%zu: %s\n", im->display, line, reason);
	im->rejected++;
}

/* Write the batch, report in line order, empty it. */
static int
flush(struct import *im)
{
	apitoken_actor_t ab;
	apitoken_user_t *users = NULL;
	size_t *idx = NULL, n_users = 0;
	int *results = NULL;
	char **errors = NULL;
	int rc = 0;

	if (im->n == 0)
		return 0;
	users = calloc(im->n, sizeof(*users));
	idx = calloc(im->n, sizeof(*idx));
	results = calloc(im->n, sizeof(*results));
	errors = calloc(im->n, sizeof(*errors));
	if (users == NULL || idx == NULL || results == NULL ||
	    errors == NULL) {
		rc = apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < im->n; i++) {
		if (im->batch[i].reason == NULL) {
			idx[n_users] = i;
			users[n_users++] = im->batch[i].user;
		}
	}
	if (n_users > 0 && im->store != NULL) {
		rc = apitoken_user_add_batch_as(im->store, users, n_users,
		                                admin_actor(im->io, &ab),
		                                results, errors);
		if (rc < 0)
			goto fail;
	}
	for (size_t j = 0; j < n_users; j++) {
		struct entry *e = &im->batch[idx[j]];

		if (results[j] == 0) {
			im->imported++;
			continue;
		}
		e->reason =
		    strdup(errors[j] != NULL ? errors[j]
		                             : apitoken_strerror(results[j]));
		if (e->reason == NULL)
			e->reason = strdup("rejected");
	}
	for (size_t i = 0; i < im->n; i++) {
		if (im->batch[i].reason != NULL)
			report(im, im->batch[i].line, im->batch[i].reason);
	}
	goto out;
fail:
	/* Lines already rejected are still reported; the rest is lost. */
	for (size_t i = 0; i < im->n; i++) {
		if (im->batch[i].reason != NULL)
			report(im, im->batch[i].line, im->batch[i].reason);
	}
	admin_errorf(im->io, "%s: %s; lines %zu to %zu were not imported",
	             im->display, apitoken_last_error(), im->batch[0].line,
	             im->batch[im->n - 1].line);
	im->store_failed = true;
out:
	for (size_t i = 0; i < im->n; i++) {
		if (errors != NULL && i < n_users)
			free(errors[i]);
		entry_clear(&im->batch[i]);
	}
	im->n = 0;
	memset(im->names, 0, sizeof(im->names));
	free(users);
	free(idx);
	free(results);
	free(errors);
	if (im->io->tty) {
		fprintf(im->io->err, "\rimported %zu users, rejected %zu...",
		        im->imported, im->rejected);
		fflush(im->io->err);
	}
	return rc;
}

/*
 * JSON lines if the first non-blank character is '{', else CSV.  Skips a
 * UTF-8 byte order mark and leading blank lines (counting them).
 */
static void
detect_format(struct import *im)
{
	int c = getc(im->in);

	if (c == 0xEF) {
		int c2 = getc(im->in), c3 = getc(im->in);

		if (c2 != 0xBB || c3 != 0xBF) {
			/* Not a BOM: garbage that the CSV parser rejects. */
			im->fmt = FMT_CSV;
			if (c3 != EOF)
				ungetc(c3, im->in);
			return;
		}
		c = getc(im->in);
	}
	while (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
		if (c == '\n')
			im->line++;
		c = getc(im->in);
	}
	im->fmt = c == '{' ? FMT_JSON : FMT_CSV;
	if (c != EOF)
		ungetc(c, im->in);
}

static int
import_stream(struct import *im)
{
	char *rec = NULL;
	size_t rec_len, start;
	const char *bad;
	int got, rc = 0;

	im->first_record = true;
	detect_format(im);
	for (;;) {
		struct entry *e;

		got = read_record(im, &rec, &rec_len, &start, &bad);
		if (got <= 0)
			break;
		if (bad == NULL && blank(rec)) {
			free(rec);
			continue;
		}
		e = &im->batch[im->n];
		memset(e, 0, sizeof(*e));
		e->line = start;
		if (bad != NULL) {
			entry_reject(e, bad);
		} else if (im->fmt == FMT_JSON) {
			json_entry(im, e, rec, rec_len);
		} else {
			char *f[FIELDS_MAX];
			const char *reason;
			char *copy = strdup(rec);
			int nf;

			nf = copy != NULL ? csv_split(copy, f, &reason) : -1;
			if (im->first_record && nf > 0 &&
			    csv_is_header(f, nf)) {
				free(copy);
				free(rec);
				im->first_record = false;
				continue;
			}
			free(copy);
			csv_entry(im, e, rec);
		}
		im->first_record = false;
		free(rec);
		rec = NULL;
		im->n++;
		if (im->n == BATCH_SIZE) {
			rc = flush(im);
			if (rc < 0)
				return rc;
		}
	}
	free(rec);
	if (got < 0) {
		(void)flush(im);
		return apitoken_error(APITOKEN_ERR_IO, "cannot read %s: %s",
		                      im->display, strerror(errno));
	}
	return flush(im);
}

int
admin_import_check(const apitoken_config_t *cfg, FILE *in, FILE *err,
                   const char *display, size_t *valid_out,
                   size_t *rejected_out)
{
	apitoken_admin_io_t io = {.in = in, .out = NULL, .err = err};
	struct import *im = calloc(1, sizeof(*im));
	int rc;

	if (im == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	im->cfg = cfg;
	im->io = &io;
	im->in = in;
	im->display = display;
	rc = import_stream(im);
	*valid_out = im->imported;
	*rejected_out = im->rejected;
	free(im);
	return rc;
}

int
admin_cmd_import(apitoken_store_t *store, int argc, char **argv,
                 const apitoken_admin_io_t *io, unsigned flags)
{
	struct import *im = NULL;
	const char *pos[1];
	size_t n_pos;
	FILE *f = NULL;
	int rc;

	rc = admin_parse_opts(io, "user import", argc, argv, 2, NULL, 0, pos,
	                      1, &n_pos);
	if (rc != 0)
		return rc;
	if (n_pos != 1) {
		admin_errorf(io, "user import: missing FILE (or - for "
		                 "standard input)");
		return EX_USAGE;
	}
	im = calloc(1, sizeof(*im));
	if (im == NULL) {
		admin_errorf(io, "out of memory");
		return EX_OSERR;
	}
	im->store = store;
	im->cfg = apitoken_store_config(store);
	im->io = io;
	if (strcmp(pos[0], "-") == 0) {
		im->display = "stdin";
		im->in = io->in;
	} else if ((flags & ADMIN_RUN_IN_IS_FILE) != 0) {
		im->display = pos[0];
		im->in = io->in;
	} else {
		im->display = pos[0];
		f = fopen(pos[0], "r");
		if (f == NULL) {
			admin_errorf(io, "user import: cannot open %s: %s",
			             pos[0], strerror(errno));
			rc = EX_NOINPUT;
			goto out;
		}
		im->in = f;
	}
	if (im->in == NULL) {
		admin_errorf(io, "user import: no standard input");
		rc = EX_NOINPUT;
		goto out;
	}
	rc = import_stream(im);
	if (io->tty)
		fputc('\n', io->err);
	if (rc < 0 && !im->store_failed)
		admin_errorf(io, "%s", apitoken_last_error());
	if (io->json) {
		cJSON *o = cJSON_CreateObject();

		if (o != NULL &&
		    (cJSON_AddNumberToObject(o, "imported",
		                             (double)im->imported) == NULL ||
		     cJSON_AddNumberToObject(o, "rejected",
		                             (double)im->rejected) == NULL)) {
			cJSON_Delete(o);
			o = NULL;
		}
		(void)admin_print_json(io, o);
	} else {
		fprintf(io->out, "imported %zu users, rejected %zu\n",
		        im->imported, im->rejected);
	}
	if (rc < 0)
		rc = admin_exit_code(rc);
	else
		rc = im->rejected > 0 ? EX_DATAERR : EX_OK;
out:
	if (f != NULL)
		fclose(f);
	free(im);
	return rc;
}
