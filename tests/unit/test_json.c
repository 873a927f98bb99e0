/*
 * test_json.c - the CLI's JSON reader: a status answer as the master
 * writes it, the grammar's edge cases (accepted and refused), string
 * escapes into UTF-8, the nesting bound, and the writer's escapes read
 * back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd.h"
#include "check.h"

static int
parse(const char *s, struct json **ret)
{
	*ret = NULL;
	return json_parse(s, strlen(s), ret);
}

static void
test_status(void)
{
	const char *s = "{\"name\":\"app\",\"file\":\"/etc/a.conf\","
	    "\"master_pid\":42,\"generation\":3,\"uptime_s\":12.5,"
	    "\"state\":\"running\",\"reloading\":false,\"wanted\":2,"
	    "\"ready\":1,\"listen\":[\"127.0.0.1:80\"],\"workers\":["
	    "{\"slot\":0,\"pid\":100,\"generation\":3,\"uptime_s\":1.0,"
	    "\"state\":\"ready\",\"restarts\":0,\"last_exit\":null,"
	    "\"rss_bytes\":1048576,\"receiving\":true,\"cpu_s\":0.25,"
	    "\"queued\":null},"
	    "{\"slot\":1,\"pid\":null,\"generation\":null,\"uptime_s\":null,"
	    "\"state\":\"backoff\",\"restarts\":4,"
	    "\"last_exit\":\"code 3\",\"rss_bytes\":0,\"receiving\":false}"
	    "]}\n";
	const struct json *w, *m;
	struct json *j;
	double v;
	int n = 0;

	CHECK(parse(s, &j) == 0 && j->type == JSON_OBJECT, "status parses");
	if (j == NULL)
		return;
	CHECK(strcmp(json_str(j, "name"), "app") == 0, "name");
	CHECK(json_num(j, "master_pid", &v) && v == 42, "master_pid");
	CHECK(json_num(j, "uptime_s", &v) && v == 12.5, "uptime_s");
	CHECK(json_str(j, "master_pid") == NULL, "a number is no string");
	CHECK(!json_num(j, "name", &v), "a string is no number");
	CHECK(json_get(j, "nothing") == NULL, "absent key");
	m = json_get(j, "reloading");
	CHECK(m != NULL && m->type == JSON_BOOL && !m->boolean, "reloading");
	w = json_get(j, "workers");
	CHECK(w != NULL && w->type == JSON_ARRAY, "workers");
	for (w = w->child; w != NULL; w = w->next)
		n++;
	CHECK(n == 2, "two workers, got %d", n);
	w = json_get(j, "workers")->child;
	CHECK(json_num(w, "cpu_s", &v) && v == 0.25, "cpu_s");
	CHECK(!json_num(w, "queued", &v), "queued null is no number");
	CHECK(json_get(w->next, "cpu_s") == NULL, "cpu_s absent");
	CHECK(!json_num(w->next, "pid", &v), "pid null");
	CHECK(strcmp(json_str(w->next, "last_exit"), "code 3") == 0, "exit");
	{
		long lv = -7;

		CHECK(json_long(w, "pid", &lv) && lv == 100, "pid as long");
		CHECK(!json_long(w, "cpu_s", &lv) && lv == 100,
		    "0.25 is no long, *ret untouched");
		CHECK(!json_long(w->next, "pid", &lv), "null is no long");
	}
	json_free(j);
}

static void
test_grammar(void)
{
	static const char *const good[] = {
		"0", "-0", "1.5e3", "-12.25E-2", "true", "false", "null",
		"\"\"", "[]", "{}", " [ 1 , [ ] , { \"a\" : { } } ] ",
		"{\"a\":1,\"a\":2}", "1e+2",
	};
	static const char *const bad[] = {
		"", " ", "01", "1.", ".5", "-", "+1", "1e", "1e+", "tru",
		"nul", "truex", "[1,]", "[,1]", "{\"a\"}", "{\"a\":}",
		"{a:1}", "{\"a\":1,}", "[1 2]", "\"abc", "\"\\x\"",
		"\"\\u12\"", "\"\\u12G4\"", "\"a\nb\"", "[1]]", "{} {}",
		"'a'", "[\"\\", "\"\\", "NaN", "Infinity", "0x10", "1e999",
		"1111111111111111111111111111111111111111111111111111111111111111111111",
	};
	struct json *j;
	size_t i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		CHECK(parse(good[i], &j) == 0, "accepts '%s'", good[i]);
		json_free(j);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK(parse(bad[i], &j) == -EINVAL, "refuses '%s'", bad[i]);
		CHECK(j == NULL, "nothing returned for '%s'", bad[i]);
	}
	/* A length, not a NUL, ends the text. */
	CHECK(json_parse("[1]xyz", 3, &j) == 0, "len bounds the text");
	json_free(j);
	CHECK(json_parse("\"ab\"", 3, &j) == -EINVAL, "cut string");
}

static void
test_strings(void)
{
	static const struct { const char *in, *out; } t[] = {
		{ "\"a\\\"b\\\\c\\/\"", "a\"b\\c/" },
		{ "\"\\n\\t\\r\\b\\f\"", "\n\t\r\b\f" },
		{ "\"\\u00e9\"", "\xc3\xa9" },
		{ "\"\\u20AC\"", "\xe2\x82\xac" },
		{ "\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80" },
		{ "\"\\u0000x\"", "\xef\xbf\xbdx" },	/* no NUL inside */
		{ "\"\\ud800\"", "\xef\xbf\xbd" },	/* lone half */
		{ "\"\\udc00\"", "\xef\xbf\xbd" },
		{ "\"\\ud800\\u0041\"", "\xef\xbf\xbd" "A" },
		{ "\"\xc3\xa9\"", "\xc3\xa9" },
	};
	struct json *j;
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		CHECK(parse(t[i].in, &j) == 0 && j->type == JSON_STRING &&
		    strcmp(j->string, t[i].out) == 0, "string %s", t[i].in);
		json_free(j);
	}
}

/* Numbers too big for a long (a master gone wrong) are refused, not cast. */
static void
test_long(void)
{
	struct json *j;
	long v = 1;

	CHECK(parse("{\"a\":1e300,\"b\":-9007199254740992,\"c\":"
	    "9007199254740991,\"d\":-0}", &j) == 0, "big numbers parse");
	CHECK(!json_long(j, "a", &v) && v == 1, "1e300 is no long");
	CHECK(!json_long(j, "b", &v), "-2^53 is no long");
	CHECK(json_long(j, "c", &v) && v == 9007199254740991L, "2^53-1 is");
	CHECK(json_long(j, "d", &v) && v == 0, "-0 is 0");
	json_free(j);
}

static void
test_depth(void)
{
	char deep[200];
	struct json *j;
	int i;

	for (i = 0; i < 32; i++)
		deep[i] = '[';
	for (i = 0; i < 32; i++)
		deep[32 + i] = ']';
	deep[64] = '\0';
	CHECK(parse(deep, &j) == 0, "32 deep is fine");
	json_free(j);
	for (i = 0; i < 33; i++)
		deep[i] = '[';
	for (i = 0; i < 33; i++)
		deep[33 + i] = ']';
	deep[66] = '\0';
	CHECK(parse(deep, &j) == -EINVAL, "33 deep is refused");
}

static void
test_writer(void)
{
	struct buf b = { 0 };
	struct json *j;

	json_buf_str(&b, "q\"b\\s\x01\x1f\x7f\ttab\xc3\xa9");
	CHECK(parse(b.data, &j) == 0 && j->type == JSON_STRING &&
	    strcmp(j->string, "q\"b\\s\x01\x1f\x7f\ttab\xc3\xa9") == 0,
	    "written and read back: %s", b.data);
	json_free(j);
	buf_free(&b);
	json_buf_str(&b, NULL);
	CHECK(strcmp(b.data, "null") == 0, "NULL is null");
	buf_free(&b);
}

int
main(void)
{
	test_status();
	test_grammar();
	test_strings();
	test_long();
	test_depth();
	test_writer();
	printf("test_json: %d checks, %d failed\n", nchecks, nfailed);
	return nfailed ? 1 : 0;
}
