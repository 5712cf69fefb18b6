/*
 * errors.c — describing libutmem's errors and its version.
 *
 * Several errno values carry a utmem-specific meaning (EDQUOT is a tenant's
 * quota, not a filesystem's); those get their own text, any other value the
 * C library's, and a value that is no errno at all (INT_MIN included)
 * "unknown error N". The values with a text here are exactly those utmem.h
 * lists as "Errors with a utmem meaning" (test_errors.c compares the two,
 * and libutmem(3)'s list too). The text is static or in a thread-local buffer, so the
 * call is safe from any thread without a buffer from the caller; a text in
 * that buffer lasts until the same thread calls again.
 */
#include "client/client_int.h"

#include <errno.h>
#include <limits.h>
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
	{ENOMEM, "out of memory (libutmem's, or utmemd's: its own or the tenant's in-flight budget)"},
	{EPROTO, "protocol error (malformed frame)"},
	{EPROTONOSUPPORT, "protocol version not supported by the daemon"},
	{EOPNOTSUPP, "operation not supported (by this utmemd, or on this address)"},
	{ESHUTDOWN, "daemon shutting down"},
	{EKEYREVOKED, "tenant removed by the operator"},
	{ECONNRESET, "connection to utmemd reset or lost"},
	{ECONNREFUSED, "no utmemd listening at that address (not running, or no socket at that path)"},
	{ENOTCONN, "not connected to utmemd"},
	{ETIMEDOUT, "utmemd did not answer in time"},
	{EPIPE, "connection to utmemd broken (it closed its end)"},
	{EIO, "daemon internal error (or a VM guest's port failed)"},
	{E2BIG, "too many operations in one batch"},
};

const char *utmem_strerror(int err)
{
	static __thread char buf[64];
	/* The magnitude, negated as unsigned: -INT_MIN is no int. */
	unsigned e = err < 0 ? 0u - (unsigned)err : (unsigned)err;

	if (e == 0)
		return "success";
	for (size_t i = 0; i < sizeof(meanings) / sizeof(meanings[0]); i++)
		if ((unsigned)meanings[i].err == e)
			return meanings[i].text;
	/*
	 * An errno value the C library names gets its text (GNU strerror_r
	 * returns a string that may or may not be buf); any other value is
	 * shown as the caller passed it, sign included.
	 */
	if (e <= INT_MAX && strerrorname_np((int)e))
		return strerror_r((int)e, buf, sizeof(buf));
	snprintf(buf, sizeof(buf), "unknown error %d", err);
	return buf;
}

const char *utmem_version(void)
{
	return UTMEM_VERSION_STRING;
}
