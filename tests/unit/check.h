/*
 * check.h - the unit tests' CHECK: count a check, and on failure print
 * FILE:LINE and the printf-style message, then go on. main() reports
 * nchecks and nfailed and exits non-zero if nfailed.
 */
#ifndef CHECK_H
#define CHECK_H

#include <stdio.h>

static int	 nchecks, nfailed;

#define CHECK(cond, ...) do {						\
	nchecks++;							\
	if (!(cond)) {							\
		nfailed++;						\
		printf("FAIL %s:%d: ", __FILE__, __LINE__);		\
		printf(__VA_ARGS__);					\
		printf("\n");						\
	}								\
} while (0)

#endif
