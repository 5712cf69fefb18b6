/*
 * hostmem.c — what the host controller reads about the host: MemAvailable
 * from /proc/meminfo, a memory cgroup's limit, usage and reclaimable cache
 * (cgroup v2 or v1 file names, whichever the directory has), and the total
 * memory stall time from a PSI file. Every reader takes its paths from a
 * struct, so the unit tests feed it files of their own; each reads one
 * small file with one read(2) into a stack buffer and parses it strictly
 * (a file that does not parse is an error, never a zero).
 */
#include "daemon/controller.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HM_BUF 8192

/* Read path (at most HM_BUF - 1 bytes) into buf, NUL-terminated. */
static int slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	return len ? 0 : -ENODATA;
}

/* The number after "key" at the start of a line ("key:" or "key "). */
static int field(const char *buf, const char *key, uint64_t *out)
{
	size_t kl = strlen(key);

	for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		char *end;

		if (strncmp(p, key, kl) != 0 || (p[kl] != ':' && p[kl] != ' '))
			continue;
		p += kl + 1;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		errno = 0;
		*out = strtoull(p, &end, 10);
		if (errno)
			return -EINVAL;
		return 0;
	}
	return -ENOENT;
}

int ud_hm_meminfo(const struct ud_hm_paths *p, uint64_t *avail, uint64_t *total)
{
	char buf[HM_BUF];
	uint64_t a, t;
	int err = slurp(p->meminfo, buf, sizeof(buf));

	if (!err)
		err = field(buf, "MemAvailable", &a);
	if (!err)
		err = field(buf, "MemTotal", &t);
	if (err)
		return err;
	/* kB in /proc/meminfo */
	*avail = a * 1024;
	*total = t * 1024;
	return 0;
}

/* One number from a one-line cgroup file; "max" is UINT64_MAX. */
static int one(const char *dir, const char *name, uint64_t *out)
{
	char path[4096 + 64], buf[64], *end;
	int err;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	err = slurp(path, buf, sizeof(buf));
	if (err)
		return err;
	if (strncmp(buf, "max", 3) == 0) {
		*out = UINT64_MAX;
		return 0;
	}
	if (!isdigit((unsigned char)buf[0]))
		return -EINVAL;
	errno = 0;
	*out = strtoull(buf, &end, 10);
	if (errno || (*end && *end != '\n'))
		return -EINVAL;
	return 0;
}

int ud_hm_cgroup(const struct ud_hm_paths *p, uint64_t *limit, uint64_t *usage,
		 uint64_t *cache)
{
	char path[4096 + 64], buf[HM_BUF];
	int v2, err;

	if (!p->cgroup)
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/memory.max", p->cgroup);
	v2 = access(path, R_OK) == 0;
	err = one(p->cgroup, v2 ? "memory.max" : "memory.limit_in_bytes", limit);
	if (!err)
		err = one(p->cgroup, v2 ? "memory.current" : "memory.usage_in_bytes", usage);
	if (err)
		return err;
	/* v1 reports "no limit" as a huge page-rounded number */
	if (*limit >= (1ull << 62))
		*limit = UINT64_MAX;
	*cache = 0;
	snprintf(path, sizeof(path), "%s/memory.stat", p->cgroup);
	if (slurp(path, buf, sizeof(buf)) == 0 &&
	    field(buf, v2 ? "inactive_file" : "total_inactive_file", cache) != 0)
		*cache = 0;
	if (*cache > *usage)
		*cache = *usage;
	return 0;
}

int ud_hm_psi_total(const char *path, uint64_t *total_us)
{
	char buf[512];
	const char *t, *nl;
	char *end;
	int err = slurp(path, buf, sizeof(buf));

	if (err)
		return err;
	/* "some avg10=0.00 avg60=0.00 avg300=0.00 total=12345" */
	if (strncmp(buf, "some ", 5) != 0)
		return -EINVAL;
	t = strstr(buf, "total=");
	nl = strchr(buf, '\n');
	if (!t || (nl && t > nl) || !isdigit((unsigned char)t[6]))
		return -EINVAL;
	errno = 0;
	*total_us = strtoull(t + 6, &end, 10);
	return errno ? -EINVAL : 0;
}
