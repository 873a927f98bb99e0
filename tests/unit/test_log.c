/*
 * test_log.c - the escapers of log lines: log_json_escape (the inside of a
 * JSON string for any bytes: valid JSON and valid UTF-8 out, invalid
 * sequences as U+FFFD, never half an escape or a character at the limit)
 * and log_escape (control characters as \xHH for text lines).
 */
#include <stdio.h>
#include <string.h>

#include "clusterd.h"
#include "check.h"

static void
json(const char *in, size_t len, size_t max, const char *want)
{
	char out[256];
	size_t n;

	n = log_json_escape(out, max, in, len);
	out[n] = '\0';
	CHECK(n <= max && strcmp(out, want) == 0,
	    "json(%zu bytes, max %zu): '%s', want '%s'", len, max, out, want);
}

#define J(in, want)	json(in, sizeof in - 1, 200, want)

static void
text(const char *in, size_t len, const char *want)
{
	char out[256];
	size_t n;

	n = log_escape(out, sizeof out - 1, in, len);
	out[n] = '\0';
	CHECK(strcmp(out, want) == 0, "text: '%s', want '%s'", out, want);
}

int
main(void)
{
	J("plain text", "plain text");
	J("\"q\" back\\slash", "\\\"q\\\" back\\\\slash");
	J("a\nb\tc\r\x01\x1f\x7f", "a\\u000ab\\u0009c\\u000d\\u0001\\u001f\\u007f");
	J("nul\0end", "nul\\u0000end");
	/* Valid UTF-8 passes: 2, 3 and 4 bytes. */
	J("\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	/* Invalid: a lead byte without its continuation, a lone continuation,
	 * overlong forms, a surrogate, beyond U+10FFFF, 0xff. */
	J("\xc3\x28", "\\ufffd(");
	J("\x80", "\\ufffd");
	J("\xc0\xaf", "\\ufffd\\ufffd");
	J("\xe0\x80\xaf", "\\ufffd\\ufffd\\ufffd");
	J("\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd");
	J("\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd");
	J("\xff", "\\ufffd");
	J("\xe2\x82", "\\ufffd\\ufffd");	/* cut short at the end */
	/* At the limit: whole escapes and characters only. */
	json("ab\x01", 3, 7, "ab");
	json("ab\x01", 3, 8, "ab\\u0001");
	json("a\xc3\xa9", 3, 2, "a");
	json("a\"", 2, 2, "a");
	json("\xff", 1, 5, "");

	text("esc \x1b[31m bell \x07 tab\t", 21, "esc \\x1b[31m bell \\x07 tab\t");
	text("crlf\r", 5, "crlf");
	text("del \x7f", 5, "del \\x7f");

	printf("test_log: %d checks, %d failed\n", nchecks, nfailed);
	return nfailed != 0;
}
