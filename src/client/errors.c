/*
 * errors.c — describing libutmem's errors and its version.
 *
 * Several errno values carry a utmem-specific meaning (EDQUOT is a tenant's
 * quota, not a filesystem's); those get their own text, any other value the
 * C library's. The text is static or thread-local, so the call is safe from
 * any thread without a buffer from the caller.
 */
#include "client/client_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct {
	int err;
	const char *text;
} meanings[] = {
	{ENOENT, "not found"},
	{EBADF, "bad pool handle"},
	{EACCES, "permission denied (a shared pool not granted to this tenant, "
		 "or a socket whose owner, group or mode does not admit this user)"},
	{EEXIST, "pool exists with another kind"},
	{EMSGSIZE, "key or value larger than the daemon accepts"},
	{EDQUOT, "tenant quota exceeded"},
	{ENOSPC, "host pool capacity exhausted"},
	{ENOBUFS, "value larger than the buffer (nothing removed)"},
	{EROFS, "tenant frozen by the operator: PUT refused (GET and INVALIDATE served)"},
	{EPERM, "token refused or not authenticated"},
	{EPROTO, "protocol error (malformed frame)"},
	{EPROTONOSUPPORT, "protocol version not supported by the daemon"},
	{EOPNOTSUPP, "operation not supported by the daemon"},
	{ESHUTDOWN, "daemon shutting down"},
	{EKEYREVOKED, "tenant removed by the operator"},
	{ECONNRESET, "connection to utmemd reset or lost"},
	{ECONNREFUSED, "no utmemd listening at that address (not running, or no socket at that path)"},
	{ENOTCONN, "not connected to utmemd"},
	{ETIMEDOUT, "utmemd did not answer in time"},
	{EIO, "daemon internal error"},
	{E2BIG, "too many operations in one batch"},
};

const char *utmem_strerror(int err)
{
	static __thread char buf[64];

	if (err < 0)
		err = -err;
	if (err == 0)
		return "success";
	for (size_t i = 0; i < sizeof(meanings) / sizeof(meanings[0]); i++)
		if (meanings[i].err == err)
			return meanings[i].text;
	/* GNU strerror_r returns a string that may or may not be buf. */
	return strerror_r(err, buf, sizeof(buf));
}

const char *utmem_version(void)
{
	return UTMEM_VERSION_STRING;
}
