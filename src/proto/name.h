/*
 * name.h — the one rule for tenant and pool names, used by the store, the
 * daemon's config and admin requests, utmemctl, libutmem and the Redis
 * module: 1..63 bytes of [A-Za-z0-9._-], but not "." or ".." (a name
 * becomes a file name, NAME.sock, and must not read as a directory).
 */
#ifndef UTMEM_PROTO_NAME_H
#define UTMEM_PROTO_NAME_H

#include <stdbool.h>
#include <string.h>

#define UNAME_MAX 63u
/* The rule in words, for messages. */
#define UNAME_RULE "1..63 of A-Z a-z 0-9 . _ -, not . or .."

static inline bool uname_ok(const char *s)
{
	size_t n;

	if (!s)
		return false;
	for (n = 0; s[n]; n++) {
		char c = s[n];

		if (n >= UNAME_MAX ||
		    !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return n > 0 && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

#endif
