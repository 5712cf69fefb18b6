/*
 * ctl.h — utmemctl's internal interfaces: one admin connection and its
 * request/reply exchange (ctl_io.c), printing replies for people or as JSON
 * (ctl_show.c), the live view (ctl_top.c), and the commands (utmemctl.c).
 */
#ifndef UTMEMCTL_CTL_H
#define UTMEMCTL_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proto/admin.h"
#include "proto/wire.h"

#define EXIT_USAGE 2

struct ctl {
	const char *run_dir;
	int json;         /* --json: every command prints JSON on stdout */
	int force;        /* --force: allow commands that drop stored data */
	int fd;
	uint64_t next_id;
	uint8_t *reply;   /* last reply's value (malloc) */
	size_t reply_len;
};

/*
 * Print "utmemctl: ..." and the hint, return EXIT_USAGE (2). With
 * ctl_json_errors (--json) also {"ok":false,"status":"USAGE","error":...}
 * on stdout, as every error is reported with --json.
 */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern int ctl_json_errors;

/*
 * Send one admin request (w may be NULL: empty value) and read its reply
 * into c->reply. Returns the reply's wire status (>= 0), or -errno if the
 * exchange failed. Failures and error replies are printed (JSON with
 * --json) unless quiet.
 */
int ctl_request(struct ctl *c, unsigned op, const struct uadm_wbuf *w, int quiet);
/*
 * A request whose reply is text describing what changed: print it (one line
 * per change, or {"ok":true,"changes":[...]}). Frees w. Returns the exit
 * status: 0 ok, 1 refused or failed.
 */
int ctl_change(struct ctl *c, unsigned op, struct uadm_wbuf *w);

/* Listings: TENANT_LIST, POOL_LIST, CAPACITY_GET, STATS. Exit status. */
int ctl_listing(struct ctl *c, unsigned op);
/* INFO. Exit status. */
int ctl_info(struct ctl *c);
/* CONFIG_GET of one section ("" = all). Exit status. */
int ctl_config_get(struct ctl *c, const char *section);
/* The live per-tenant view. Exit status. */
int ctl_top(struct ctl *c, double interval, long count);

/* Output helpers. */
void json_str(const char *s);
void json_strn(const char *s, size_t n);
const char *human(uint64_t v, char buf[32]);

#endif /* UTMEMCTL_CTL_H */
