/*
 * json.c - a small JSON reader for what the CLI gets back from a master
 * (`status json`): the whole text into a tree, strictly (RFC 8259), with
 * the nesting bounded. Whatever the bytes, it returns a tree or an error,
 * never reads past len; strings come out as NUL-terminated UTF-8 with an
 * escaped NUL turned into U+FFFD, so that C strings stay whole.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd.h"

#define JSON_DEPTH_MAX	32

struct reader {
	const char	*p, *end;
	int		 depth;
};

static int	 parse_value(struct reader *, struct json **);

static void
skip_ws(struct reader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' ||
	    *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static bool
take(struct reader *r, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return false;
	r->p += n;
	return true;
}

static struct json *
node_new(enum json_type type)
{
	struct json *j = calloc(1, sizeof *j);

	if (j != NULL)
		j->type = type;
	return j;
}

static void
put_utf8(char *out, size_t *o, unsigned cp)
{
	if (cp < 0x80) {
		out[(*o)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*o)++] = (char)(0xc0 | cp >> 6);
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		out[(*o)++] = (char)(0xe0 | cp >> 12);
		out[(*o)++] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	} else {
		out[(*o)++] = (char)(0xf0 | cp >> 18);
		out[(*o)++] = (char)(0x80 | (cp >> 12 & 0x3f));
		out[(*o)++] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	}
}

static int
hex4(struct reader *r, unsigned *ret)
{
	unsigned v = 0;
	int i;
	char c;

	if (r->end - r->p < 4)
		return -EINVAL;
	for (i = 0; i < 4; i++) {
		c = *r->p++;
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -EINVAL;
	}
	*ret = v;
	return 0;
}

/* A string at r->p (on its opening quote), decoded into a malloc'd copy.
 * Each escape decodes to no more bytes than it takes, so the input's
 * length bounds the output. */
static int
parse_string(struct reader *r, char **ret)
{
	const char *start = ++r->p;
	unsigned cp, lo;
	size_t o = 0;
	char *out;

	while (r->p < r->end && *r->p != '"')
		r->p += *r->p == '\\' && r->p + 1 < r->end ? 2 : 1;
	if (r->p >= r->end)
		return -EINVAL;
	if ((out = malloc((size_t)(r->p - start) + 1)) == NULL)
		return -ENOMEM;
	r->p = start;
	while (*r->p != '"') {
		unsigned char c = (unsigned char)*r->p++;

		if (c < 0x20)
			goto bad;
		if (c != '\\') {
			out[o++] = (char)c;
			continue;
		}
		switch (*r->p++) {
		case '"': out[o++] = '"'; break;
		case '\\': out[o++] = '\\'; break;
		case '/': out[o++] = '/'; break;
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'u':
			if (hex4(r, &cp) < 0)
				goto bad;
			/* A surrogate pair is 12 bytes in, 4 out; a lone
			 * half (or NUL) becomes U+FFFD: 3 out of 6 in. */
			if (cp >= 0xd800 && cp < 0xdc00 && r->end - r->p >= 6 &&
			    r->p[0] == '\\' && r->p[1] == 'u') {
				r->p += 2;
				if (hex4(r, &lo) < 0)
					goto bad;
				if (lo >= 0xdc00 && lo < 0xe000)
					cp = 0x10000 + ((cp - 0xd800) << 10) +
					    (lo - 0xdc00);
				else {
					put_utf8(out, &o, 0xfffd);
					cp = lo >= 0xd800 && lo < 0xe000 ?
					    0xfffd : lo;
				}
			}
			if (cp == 0 || (cp >= 0xd800 && cp < 0xe000))
				cp = 0xfffd;
			put_utf8(out, &o, cp);
			break;
		default:
			goto bad;
		}
	}
	r->p++;
	out[o] = '\0';
	*ret = out;
	return 0;
bad:
	free(out);
	return -EINVAL;
}

/* The number grammar checked by hand, then strtod on a bounded copy (the
 * CLI never sets LC_NUMERIC: '.' is the decimal point). */
static int
parse_number(struct reader *r, double *ret)
{
	const char *s = r->p;
	char tmp[64], *end;
	size_t n;

	if (r->p < r->end && *r->p == '-')
		r->p++;
	if (r->p < r->end && *r->p == '0')
		r->p++;
	else if (r->p < r->end && *r->p >= '1' && *r->p <= '9')
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	else
		return -EINVAL;
	if (r->p < r->end && *r->p == '.') {
		if (++r->p >= r->end || *r->p < '0' || *r->p > '9')
			return -EINVAL;
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	}
	if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
		r->p++;
		if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
			r->p++;
		if (r->p >= r->end || *r->p < '0' || *r->p > '9')
			return -EINVAL;
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	}
	if ((n = (size_t)(r->p - s)) >= sizeof tmp)
		return -EINVAL;		/* no status number is that long */
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	*ret = strtod(tmp, &end);
	return isfinite(*ret) ? 0 : -EINVAL;	/* 1e999: no number of ours */
}

/* The members of an array or an object, after its opening bracket. */
static int
parse_members(struct reader *r, struct json *j, char close)
{
	struct json **tail = &j->child, *v;
	char *key = NULL;
	int e;

	skip_ws(r);
	if (r->p < r->end && *r->p == close) {
		r->p++;
		return 0;
	}
	for (;;) {
		skip_ws(r);
		if (close == '}') {
			if (r->p >= r->end || *r->p != '"')
				return -EINVAL;
			if ((e = parse_string(r, &key)) < 0)
				return e;
			skip_ws(r);
			if (r->p >= r->end || *r->p++ != ':') {
				free(key);
				return -EINVAL;
			}
		}
		if ((e = parse_value(r, &v)) < 0) {
			free(key);
			return e;
		}
		v->key = key;
		key = NULL;
		*tail = v;
		tail = &v->next;
		skip_ws(r);
		if (r->p >= r->end)
			return -EINVAL;
		if (*r->p == close) {
			r->p++;
			return 0;
		}
		if (*r->p++ != ',')
			return -EINVAL;
	}
}

static int
parse_value(struct reader *r, struct json **ret)
{
	struct json *j;
	int e = 0;

	skip_ws(r);
	if (r->p >= r->end)
		return -EINVAL;
	switch (*r->p) {
	case '{':
	case '[':
		if (++r->depth > JSON_DEPTH_MAX)
			return -EINVAL;
		if ((j = node_new(*r->p == '{' ? JSON_OBJECT : JSON_ARRAY)) ==
		    NULL)
			return -ENOMEM;
		r->p++;
		e = parse_members(r, j, j->type == JSON_OBJECT ? '}' : ']');
		r->depth--;
		break;
	case '"':
		if ((j = node_new(JSON_STRING)) == NULL)
			return -ENOMEM;
		e = parse_string(r, &j->string);
		break;
	case 't':
	case 'f':
	case 'n':
		if ((j = node_new(*r->p == 'n' ? JSON_NULL : JSON_BOOL)) ==
		    NULL)
			return -ENOMEM;
		if (take(r, "true"))
			j->boolean = true;
		else if (!take(r, "false") && !take(r, "null"))
			e = -EINVAL;
		break;
	default:
		if ((j = node_new(JSON_NUMBER)) == NULL)
			return -ENOMEM;
		e = parse_number(r, &j->number);
		break;
	}
	if (e < 0) {
		json_free(j);
		return e;
	}
	*ret = j;
	return 0;
}

int
json_parse(const char *buf, size_t len, struct json **ret)
{
	struct reader r = { buf, buf + len, 0 };
	struct json *j;
	int e;

	if ((e = parse_value(&r, &j)) < 0)
		return e;
	skip_ws(&r);
	if (r.p != r.end) {
		json_free(j);
		return -EINVAL;
	}
	*ret = j;
	return 0;
}

void
json_free(struct json *j)
{
	struct json *next;

	for (; j != NULL; j = next) {
		next = j->next;
		json_free(j->child);
		free(j->key);
		free(j->string);
		free(j);
	}
}

const struct json *
json_get(const struct json *obj, const char *key)
{
	const struct json *m;

	if (obj == NULL || obj->type != JSON_OBJECT)
		return NULL;
	for (m = obj->child; m != NULL; m = m->next)
		if (strcmp(m->key, key) == 0)
			return m;
	return NULL;
}

const char *
json_str(const struct json *obj, const char *key)
{
	const struct json *m = json_get(obj, key);

	return m != NULL && m->type == JSON_STRING ? m->string : NULL;
}

bool
json_num(const struct json *obj, const char *key, double *ret)
{
	const struct json *m = json_get(obj, key);

	if (m == NULL || m->type != JSON_NUMBER)
		return false;
	*ret = m->number;
	return true;
}

/* A string as JSON: quotes, backslashes and control characters escaped,
 * other bytes as they are. */
void
json_buf_str(struct buf *b, const char *s)
{
	const unsigned char *p;

	if (s == NULL) {
		buf_append(b, "null", 4);
		return;
	}
	buf_append(b, "\"", 1);
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p == '"' || *p == '\\')
			buf_printf(b, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			buf_printf(b, "\\u%04x", *p);
		else
			buf_append(b, (const char *)p, 1);
	buf_append(b, "\"", 1);
}

/* A number that is a whole one a long holds on every platform we build
 * on (|v| < 2^53): what a master sends for pids, slots and sizes. */
bool
json_long(const struct json *obj, const char *key, long *ret)
{
	double v;

	if (!json_num(obj, key, &v) || v != floor(v) ||
	    fabs(v) >= 9007199254740992.0)
		return false;
	*ret = (long)v;
	return true;
}
