/*
 * test_control.c - the control request decoder and its command table:
 * every command with each kind of argument it takes or refuses, and the
 * scale rule the CLI shares with the master (control_parse_scale).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "clusterd.h"
#include "check.h"


/* Decode LINE (a whole request) and return the decoder's result. */
static int
parse(const char *line, struct control_request *req, char *msg, size_t len)
{
	memset(req, 0x5a, sizeof *req);
	msg[0] = '\0';
	return control_parse_request(line, strlen(line), req, msg, len);
}

static void
test_commands(void)
{
	static const struct {
		const char	*line;
		int		 r;
		enum control_op	 cmd;
		bool		 json;
		int		 scale;
		bool		 relative;
	} t[] = {
		{ "clusterd/1 status\n", 0, CONTROL_STATUS, false, 0, false },
		{ "clusterd/1 status json\n", 0, CONTROL_STATUS, true, 0, false },
		{ "clusterd/1 status json\r\n", 0, CONTROL_STATUS, true, 0, false },
		{ "clusterd/1 reload\n", 0, CONTROL_RELOAD, false, 0, false },
		{ "clusterd/1 stop\n", 0, CONTROL_STOP, false, 0, false },
		{ "clusterd/1 scale 4\n", 0, CONTROL_SCALE, false, 4, false },
		{ "clusterd/1 scale +2\n", 0, CONTROL_SCALE, false, 2, true },
		{ "clusterd/1 scale -1024\n", 0, CONTROL_SCALE, false, -1024, true },
		{ "clusterd/1 scale 1024\n", 0, CONTROL_SCALE, false, 1024, false },
		{ "clusterd/1 sockets\n", 0, CONTROL_SOCKETS, false, 0, false },
		{ "clusterd/1 sockets 3\n", 0, CONTROL_SOCKETS, false, 3, false },
		{ "clusterd/1 sockets all\n", -EDOM, 0, false, 0, false },
		{ "clusterd/1 sockets +1\n", -EDOM, 0, false, 0, false },
		{ "clusterd/1 sockets 0\n", -EDOM, 0, false, 0, false },
		{ "clusterd/1 sockets 1025\n", -EDOM, 0, false, 0, false },
		{ "clusterd/1 events\n", 0, CONTROL_EVENTS, false, 0, false },
		{ "clusterd/1 events json\n", 0, CONTROL_EVENTS, true, 0, false },
		{ "clusterd/1 events 3\n", -ENOSYS, 0, false, 0, false },
		{ "clusterd/1 status JSON\n", -ENOSYS, 0, false, 0, false },
		{ "clusterd/1 status \n", -ENOSYS, 0, false, 0, false },
		{ "clusterd/1 stop now\n", 0, CONTROL_STOP, false, 0, false },
		{ "clusterd/1 stop later\n", -ENOSYS, 0, false, 0, false },
		{ "clusterd/1 stop now now\n", -ENOSYS, 0, false, 0, false },
		{ "clusterd/1 reload json\n", -ENOSYS, 0, false, 0, false },
		{ "clusterd/1 scale\n", -ENOSYS, 0, false, 0, false },
		{ "clusterd/1 frob\n", -ENOSYS, 0, false, 0, false },
		{ "clusterd/1 \n", -ENOSYS, 0, false, 0, false },
		{ "clusterd/1 scale 1025\n", -EDOM, 0, false, 0, false },
		{ "clusterd/1 scale lots\n", -EDOM, 0, false, 0, false },
		{ "clusterd/1 scale \n", -EDOM, 0, false, 0, false },
		{ "clusterd/1 scale 2 3\n", -EDOM, 0, false, 0, false },
		{ "clusterd/2 status\n", -EPROTONOSUPPORT, 0, false, 0, false },
		{ "status\n", -EPROTO, 0, false, 0, false },
		{ "clusterd/1 status", -EAGAIN, 0, false, 0, false },
	};
	struct control_request req;
	char msg[256];
	size_t i;
	int r;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		r = parse(t[i].line, &req, msg, sizeof msg);
		CHECK(r == t[i].r, "'%s': %d, want %d", t[i].line, r, t[i].r);
		if (r != 0) {
			CHECK(r == -EAGAIN || strncmp(msg, "clusterd: ", 10) == 0,
			    "'%s': message '%s'", t[i].line, msg);
			continue;
		}
		CHECK(req.cmd == t[i].cmd, "'%s': command %d, want %d",
		    t[i].line, req.cmd, t[i].cmd);
		if (req.cmd == CONTROL_STATUS || req.cmd == CONTROL_EVENTS)
			CHECK(req.json == t[i].json, "'%s': json %d",
			    t[i].line, req.json);
		if (req.cmd == CONTROL_STOP)
			CHECK(req.now == (strstr(t[i].line, " now") != NULL),
			    "'%s': now %d", t[i].line, req.now);
		if (req.cmd == CONTROL_SCALE || req.cmd == CONTROL_SOCKETS)
			CHECK(req.scale == t[i].scale &&
			    req.relative == t[i].relative, "'%s': %d %d",
			    t[i].line, req.scale, req.relative);
	}
	r = parse("clusterd/1 scale lots\n", &req, msg, sizeof msg);
	CHECK(strcmp(msg, "clusterd: scale: 'lots' is not N, +N or -N") == 0,
	    "scale message '%s'", msg);
}

static void
test_scale(void)
{
	static const char *const good[] = { "0", "1", "+0", "-0", "1024",
	    "-1024", "007" };
	static const char *const bad[] = { "", "+", "1025", "-1025", "0x10",
	    "1 ", "1.5", "0000000000000001", "99999999999999999999" };
	bool rel;
	size_t i;
	int n;

	for (i = 0; i < sizeof good / sizeof good[0]; i++)
		CHECK(control_parse_scale(good[i], &n, &rel) == 0,
		    "scale '%s' refused", good[i]);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		n = 77;
		CHECK(control_parse_scale(bad[i], &n, &rel) == -EDOM &&
		    n == 77, "scale '%s' accepted or *ret_n touched", bad[i]);
	}
	CHECK(control_parse_scale("-3", &n, &rel) == 0 && n == -3 && rel,
	    "-3: %d %d", n, rel);
	CHECK(control_parse_scale("3", &n, &rel) == 0 && n == 3 && !rel,
	    "3: %d %d", n, rel);
}

int
main(void)
{
	test_commands();
	test_scale();
	printf("test_control: %d checks, %d failed\n", nchecks, nfailed);
	return nfailed ? 1 : 0;
}
