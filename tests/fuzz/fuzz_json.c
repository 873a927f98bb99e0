/*
 * fuzz_json.c - libFuzzer target: any bytes as a master's answer, through
 * json_parse(), the reader `top` and `list` use. Besides memory safety: a
 * tree comes back exactly when the result is 0; every string in it is
 * NUL-terminated with no NUL inside; a text that parsed parses again to
 * the same shape when written back out with json_buf_str for its strings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd.h"

/* Write the tree back as JSON (numbers with %.17g). */
static void
put(struct buf *b, const struct json *j)
{
	const struct json *c;

	switch (j->type) {
	case JSON_NULL: buf_append(b, "null", 4); break;
	case JSON_BOOL: buf_printf(b, "%s", j->boolean ? "true" : "false"); break;
	case JSON_NUMBER: buf_printf(b, "%.17g", j->number); break;
	case JSON_STRING: json_buf_str(b, j->string); break;
	case JSON_ARRAY:
	case JSON_OBJECT:
		buf_append(b, j->type == JSON_ARRAY ? "[" : "{", 1);
		for (c = j->child; c != NULL; c = c->next) {
			if (c != j->child)
				buf_append(b, ",", 1);
			if (j->type == JSON_OBJECT) {
				if (c->key == NULL)
					abort();
				json_buf_str(b, c->key);
				buf_append(b, ":", 1);
			}
			put(b, c);
		}
		buf_append(b, j->type == JSON_ARRAY ? "]" : "}", 1);
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json *j = (struct json *)1, *j2 = NULL;
	struct buf b = { 0 }, b2 = { 0 };
	char *copy;
	int r;

	/* An exact-size copy: ASan sees any read past len. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	r = json_parse(copy, size, &j);
	if (r != 0) {
		if (j != (struct json *)1)
			abort();	/* untouched on failure */
		free(copy);
		return 0;
	}
	put(&b, j);
	if (b.overflow || b.data == NULL || json_parse(b.data, b.len, &j2) != 0)
		abort();
	put(&b2, j2);
	if (b2.len != b.len || memcmp(b.data, b2.data, b.len) != 0)
		abort();
	json_free(j);
	json_free(j2);
	buf_free(&b);
	buf_free(&b2);
	free(copy);
	return 0;
}
