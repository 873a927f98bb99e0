/*
 * fuzz_config.c - libFuzzer target: whole configuration files through
 * config_load(), as the master (CONFIG_FULL) and as a client command
 * (CONFIG_CLIENT) reads them. Each input is written to one fixed file per
 * process under /tmp. Checks the parser's promises besides memory safety:
 * an error always reads "FILE:..." and fits the buffer; a parsed config is
 * complete (command, argv, listeners, control, pidfile) and a reload of the
 * same file needs no restart.
 */
#include <dlfcn.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clusterd.h"

static char	 path[64];

/*
 * Host names are resolved by getaddrinfo(): numeric only here, so that the
 * fuzzer sends no DNS queries (and stays fast). This definition takes the
 * place of libc's for config.o.
 */
int
getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
	static int (*real)(const char *, const char *,
	    const struct addrinfo *, struct addrinfo **);
	struct addrinfo h;

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
	if (hints != NULL)
		h = *hints;
	else
		memset(&h, 0, sizeof h);
	h.ai_flags |= AI_NUMERICHOST;
	return real(node, service, &h, res);
}

static void
cleanup(void)
{
	unlink(path);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(path, sizeof path, "/tmp/clusterd-fuzz-config.%ld.conf",
	    (long)getpid());
	atexit(cleanup);
	return 0;
}

static void
check_error(const char *err, size_t errlen)
{
	if (memchr(err, '\0', errlen) == NULL)
		abort();
	if (strncmp(err, path, strlen(path)) != 0 ||
	    err[strlen(path)] != ':') {
		fprintf(stderr, "error without FILE: '%s'\n", err);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c;
	char err[1024];
	FILE *f;
	int i;

	if ((f = fopen(path, "we")) == NULL)
		abort();
	if (size > 0 && fwrite(data, 1, size, f) != size)
		abort();
	if (fclose(f) != 0)
		abort();

	memset(err, 'x', sizeof err);
	if (config_load(path, CONFIG_FULL, &c, err, sizeof err) == 0) {
		if (c->command == NULL || c->argv == NULL ||
		    c->argv[0] == NULL || c->nlistens < 1 ||
		    c->control == NULL || c->pidfile == NULL ||
		    c->name == NULL || c->workers < 1 ||
		    c->workers > WORKERS_MAX ||
		    c->restart_delay_max < c->restart_delay)
			abort();
		for (i = 0; i < c->nlistens; i++)
			if (c->listens[i].address == NULL ||
			    c->listens[i].addrlen == 0 ||
			    (c->listens[i].family == AF_UNIX &&
			    c->listens[i].sockets != LISTEN_SHARED))
				abort();
		for (i = 0; i < c->nenv; i++)
			if (c->env[i] == NULL || strchr(c->env[i], '=') == NULL)
				abort();
		if (c->env != NULL && c->env[c->nenv] != NULL)
			abort();
		if (config_needs_restart(c, c) != NULL)
			abort();
		config_free(c);
	} else
		check_error(err, sizeof err);

	memset(err, 'x', sizeof err);
	if (config_load(path, CONFIG_CLIENT, &c, err, sizeof err) == 0) {
		if (c->control == NULL || c->pidfile == NULL ||
		    c->name == NULL)
			abort();
		config_free(c);
	} else
		check_error(err, sizeof err);
	return 0;
}
