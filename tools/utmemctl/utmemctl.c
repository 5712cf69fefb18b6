/*
 * utmemctl — the operator's command line for utmemd.
 *
 * It speaks the admin protocol (docs/protocol-admin.md) over the daemon's
 * admin socket, found with --run-dir DIR, else $UTMEM_RUN_DIR, else
 * ./run/utmem. Records are encoded and decoded by src/proto/admin.c, the
 * code utmemd uses, and every setting is checked by utmemd's own settings
 * table (src/daemon/settings.c) before it is sent, so a bad value gets the
 * words the config file would get, even with no daemon running; utmemd
 * checks it again, with the checks that need the whole configuration.
 *
 * Global options (--run-dir, --json, --force, --help, --version) may be
 * given anywhere on the line. Every command that changes something prints
 * one line per change. Exit status: 0 success, 1 error (connection, or
 * refused by the daemon, whose message is printed), 2 usage error.
 */
#include "ctl.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config.h"
#include "proto/name.h"

#define VERSION "0.1.0"
#define MAX_PAIRS 64

static const char usage_text[] =
	"usage: utmemctl [--run-dir DIR] [--json] [--force] COMMAND [ARGS]\n"
	"\n"
	"Commands (utmemctl help COMMAND for details):\n"
	"  info                      the server: version, uptime, connections, memory\n"
	"  stats                     counters per tenant and per pool\n"
	"  top [--interval S] [--count N]   live per-tenant rates\n"
	"  tenant list | add NAME [SETTINGS] | set NAME SETTINGS | remove NAME\n"
	"  tenant freeze NAME | thaw NAME   refuse / accept its PUTs again\n"
	"  capacity [get] | capacity set SIZE|N%\n"
	"  pool list | create NAME --kind K [--tenants A,B] | grant POOL TENANT [--manage]\n"
	"  pool flush POOL [--tenant T] | pool destroy POOL [--tenant T]\n"
	"  config get [SECTION] | set SECTION KEY=VALUE... | save [PATH] | keys\n"
	"  reload                    re-read utmemd's configuration file\n"
	"  save                      save the persistent pools now (persist = FILE)\n"
	"  log-level error|warn|info|debug\n"
	"  help [COMMAND], version\n"
	"\n"
	"SETTINGS are --KEY VALUE or KEY=VALUE, checked as in the config file\n"
	"(utmemctl config keys lists them). Sizes take K, M, G, T (powers of 1024).\n"
	"Options anywhere on the line:\n"
	"  --run-dir DIR   utmemd's run directory (else $UTMEM_RUN_DIR, else ./run/utmem)\n"
	"  --json          print JSON on stdout (errors too: {\"ok\":false,...})\n"
	"  --force         let a command drop stored data (tenant remove, capacity or\n"
	"                  max below what is stored, pool flush/destroy, reload)\n"
	"  -h, --help      this text;   -V, --version   utmemctl's version\n"
	"Exit status: 0 ok, 1 error or refused, 2 usage.\n";

static const struct {
	const char *cmd;
	const char *text;
} details[] = {
	{"info", "utmemctl info\n  The server view: version, pid, uptime, user, config file (and whether\n  runtime changes are unsaved), workers, tenants, pools, connections,\n  capacity, charged, reserved, stored, RSS and fragmentation ratio\n  (RSS / charged).\n"},
	{"stats", "utmemctl stats\n  Per tenant and per pool: ops (puts + gets + invalidates), hits, misses,\n  evictions, entries, bytes stored, bytes charged.\n"},
	{"top", "utmemctl top [--interval SECONDS] [--count N]\n  Every interval (default 1 s), each tenant's operations, GETs, hit ratio,\n  evictions and refused PUTs per second, busiest first, with what it\n  holds against its min and max. Redraws on a terminal; appends\n  otherwise (one JSON object per sample with --json). Stops after N\n  samples, or on Ctrl-C.\n"},
	{"tenant", "utmemctl tenant list\nutmemctl tenant add NAME [SETTINGS]\nutmemctl tenant set NAME SETTINGS\nutmemctl tenant remove NAME [--force]\nutmemctl tenant freeze NAME | thaw NAME\n  add creates the tenant and its socket at once; set changes it now;\n  remove closes its socket and its clients (they get \"tenant removed\")\n  and drops its data, which takes --force if it holds entries or has\n  connections. freeze refuses the tenant's PUTs (clients get -EROFS,\n  \"tenant frozen\") while its GETs and INVALIDATEs are served, for\n  maintenance; thaw accepts them again (a restart thaws too).\n  Settings (--KEY VALUE or KEY=VALUE):\n"},
	{"capacity", "utmemctl capacity [get]\nutmemctl capacity set SIZE|N% [--force]\n  Host memory for all tenants: a size (64K up to the host's memory) or a\n  share of physical memory. Shrinking below what is charged evicts\n  ephemeral entries and takes --force; persistent entries are never\n  dropped (PUTs are refused until usage fits).\n"},
	{"pool", "utmemctl pool list\nutmemctl pool create NAME --kind persistent|ephemeral [--tenants A,B] [--manage A]\nutmemctl pool grant POOL TENANT [--manage]\nutmemctl pool flush POOL [--tenant T] [--force]\nutmemctl pool destroy POOL [--tenant T] [--force]\n  create/grant: shared pools, opened by name by the tenants granted;\n  --manage (the tenants named on create, or the one granted) also lets\n  them flush and destroy the pool for all.\n  flush drops every entry; destroy also removes the pool (clients get\n  \"bad pool\"). Without --tenant POOL is a shared pool; with it, that\n  tenant's own pool. A pool holding entries takes --force.\n"},
	{"config", "utmemctl config get [SECTION]\nutmemctl config set SECTION KEY=VALUE... [--force]\nutmemctl config save [PATH]\nutmemctl config keys\n  SECTION: utmemd, tenant NAME or pool NAME. get prints the running\n  configuration as INI (defaults commented out); set changes it now (a\n  setting marked \"restart\" is kept for the next start; one marked \"at\n  creation\" is refused: remove and add again); save writes it\n  to utmemd's config file (or PATH), keeping the old one as FILE.bak, so\n  runtime changes survive a reload and a restart.\n"},
	{"reload", "utmemctl reload [--force]\n  Re-read utmemd's -c file and apply it: tenants added, changed or\n  removed, capacity, shared pools created or destroyed. Removing a\n  tenant or shared pool that holds data takes --force (SIGHUP always\n  applies the file). Prints each change.\n"},
	{"save", "utmemctl save\n  Write every persistent pool to utmemd's persist file now (utmemd also\n  saves on SIGTERM and restores at start). Prints what was saved.\n"},
	{"log-level", "utmemctl log-level error|warn|info|debug\n  Change utmemd's log level until it restarts, reloads its\n  configuration file or log_level itself is set. To keep a level,\n  use utmemctl config set utmemd log_level=LEVEL.\n"},
	{"version", "utmemctl version\n  utmemctl's version (utmemd's is in utmemctl info).\n"},
};

static void print_keys(enum ud_scope scope, FILE *f)
{
	for (size_t i = 0; i < ud_nsettings; i++) {
		const struct ud_setting *s = &ud_settings[i];
		if (s->scope != scope)
			continue;
		fprintf(f, "    %-20s %s%s\n", s->key, s->help,
			s->flags & UD_SF_RESTART ? " [restart]"
			: s->flags & UD_SF_CREATE ? " [at creation]" : "");
	}
}

/* The help text of what (NULL: the usage) into f; 0, or -1 if none. */
static int help_text(const char *what, FILE *f)
{
	if (!what) {
		fputs(usage_text, f);
		return 0;
	}
	for (size_t i = 0; i < sizeof(details) / sizeof(details[0]); i++) {
		if (strcmp(what, details[i].cmd) != 0)
			continue;
		fputs(details[i].text, f);
		if (strcmp(what, "tenant") == 0)
			print_keys(UD_SCOPE_TENANT, f);
		return 0;
	}
	return -1;
}

/* Help as text, or with --json as one object {"help":"TEXT"}, as every
 * command prints one JSON object then. */
static int cmd_help(const struct ctl *c, const char *what)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	if (!c->json)
		r = help_text(what, stdout);
	else if (!(f = open_memstream(&buf, &len))) {
		fprintf(stderr, "utmemctl: out of memory\n");
		return 1;
	} else {
		r = help_text(what, f);
		fclose(f);
		if (r == 0) {
			printf("{\"help\":");
			json_strn(buf, len);
			printf("}\n");
		}
		free(buf);
	}
	return r == 0 ? 0 : usage_error("help: no command '%s'", what);
}

static int cmd_keys(struct ctl *c)
{
	if (c->json) {
		printf("[");
		for (size_t i = 0; i < ud_nsettings; i++) {
			const struct ud_setting *s = &ud_settings[i];
			printf("%s{\"section\":\"%s\",\"key\":\"%s\",\"restart\":%s,\"help\":",
			       i ? "," : "", ud_scope_name(s->scope), s->key,
			       s->flags & UD_SF_RESTART ? "true" : "false");
			json_str(s->help);
			putchar('}');
		}
		puts("]");
		return 0;
	}
	printf("[utmemd]\n");
	print_keys(UD_SCOPE_MAIN, stdout);
	printf("[tenant NAME]\n");
	print_keys(UD_SCOPE_TENANT, stdout);
	printf("[pool NAME]\n");
	print_keys(UD_SCOPE_POOL, stdout);
	printf("[restart]: takes effect at the next start; [at creation]: given when the\ntenant or pool is created.\n");
	return 0;
}

/* ---- settings given on the command line ---- */

struct pairs {
	size_t n;
	const char *key[MAX_PAIRS];
	const char *val[MAX_PAIRS];
	char *own[MAX_PAIRS]; /* key copies to free */
};

static void pairs_free(struct pairs *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->own[i]);
	p->n = 0;
}

/*
 * Read SETTINGS (--KEY VALUE, --KEY=VALUE, KEY=VALUE) of a scope from argv
 * and check each one with the settings table. Returns 0 or EXIT_USAGE.
 */
static int read_pairs(enum ud_scope scope, int argc, char **argv, struct pairs *p)
{
	static union {
		struct ud_cfg m;
		struct ud_cfg_tenant t;
		struct ud_cfg_pool p;
	} scratch;
	char msg[512], keys[512];

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *eq;
		char *key;
		const char *val;

		if (p->n == MAX_PAIRS)
			return usage_error("too many settings (at most %d)", MAX_PAIRS);
		if (strncmp(a, "--", 2) == 0)
			a += 2;
		else if (!strchr(a, '='))
			return usage_error("unexpected argument '%s' (settings are --KEY VALUE or KEY=VALUE)",
					   argv[i]);
		eq = strchr(a, '=');
		if (eq) {
			key = strndup(a, (size_t)(eq - a));
			val = eq + 1;
		} else {
			if (i + 1 >= argc)
				return usage_error("--%s needs a value", a);
			key = strdup(a);
			val = argv[++i];
		}
		if (!key)
			return usage_error("out of memory");
		p->own[p->n] = key;
		p->key[p->n] = key;
		p->val[p->n++] = val;
		if (!ud_setting_find(scope, key)) {
			ud_setting_keys(scope, keys, sizeof(keys));
			return usage_error("unknown setting '%s' for %s %s(settings: %s)", key,
					   ud_scope_name(scope),
					   scope == UD_SCOPE_MAIN ? "" : "NAME ", keys);
		}
		if (ud_setting_repeated(scope, p->key, p->n - 1))
			return usage_error("'%s' given twice",
					   ud_setting_repeated(scope, p->key, p->n - 1)->key);
		memset(&scratch, 0, sizeof(scratch));
		if (ud_setting_parse(scope, &scratch, key, val, msg, sizeof(msg)) < 0) {
			if (scope == UD_SCOPE_POOL)
				free(scratch.p.tenants);
			return usage_error("%s", msg);
		}
		if (scope == UD_SCOPE_POOL)
			free(scratch.p.tenants);
	}
	return 0;
}

/* Send CONFIG_SET for one section. */
static int send_set(struct ctl *c, const char *section, unsigned flags,
		    const struct pairs *p)
{
	struct uadm_wbuf w;

	uadm_wbuf_init(&w);
	uadm_w_u32(&w, flags | (c->force ? UADM_F_FORCE : 0));
	uadm_w_str(&w, section, UADM_SECTION_MAX);
	uadm_w_u32(&w, (uint32_t)p->n);
	for (size_t i = 0; i < p->n; i++) {
		uadm_w_str(&w, p->key[i], UADM_KEY_MAX);
		uadm_w_str(&w, p->val[i], UADM_VALUE_MAX);
	}
	if (w.len > UWIRE_SMALL_VALUE_MAX) {
		uadm_wbuf_free(&w);
		return usage_error("settings too long for one request (%d bytes at most)",
				   UWIRE_SMALL_VALUE_MAX);
	}
	return ctl_change(c, UADM_OP_CONFIG_SET, &w);
}

static int check_name(const char *what, const char *s)
{
	if (!ud_valid_name(s))
		return usage_error("bad %s name '%s' (" UNAME_RULE ")", what, s);
	return 0;
}

/* ---- commands ---- */

static int cmd_tenant(struct ctl *c, int argc, char **argv)
{
	char sec[UADM_SECTION_MAX + 1];
	struct pairs p = {0};
	struct uadm_wbuf w;
	int err, add;

	if (argc < 1)
		return usage_error("tenant: expected list, add, set, remove, freeze or thaw");
	if (strcmp(argv[0], "list") == 0) {
		if (argc != 1)
			return usage_error("tenant list: unexpected argument '%s'", argv[1]);
		return ctl_listing(c, UADM_OP_TENANT_LIST);
	}
	if (strcmp(argv[0], "add") != 0 && strcmp(argv[0], "set") != 0 &&
	    strcmp(argv[0], "remove") != 0 && strcmp(argv[0], "freeze") != 0 &&
	    strcmp(argv[0], "thaw") != 0)
		return usage_error("tenant: unknown subcommand '%s'", argv[0]);
	if (argc < 2)
		return usage_error("tenant %s: expected a tenant NAME", argv[0]);
	if ((err = check_name("tenant", argv[1])))
		return err;
	if (strcmp(argv[0], "remove") == 0) {
		if (argc != 2)
			return usage_error("tenant remove: unexpected argument '%s'", argv[2]);
		uadm_wbuf_init(&w);
		uadm_w_str(&w, argv[1], UADM_NAME_MAX);
		uadm_w_u32(&w, c->force ? UADM_F_FORCE : 0);
		return ctl_change(c, UADM_OP_TENANT_REMOVE, &w);
	}
	if (strcmp(argv[0], "freeze") == 0 || strcmp(argv[0], "thaw") == 0) {
		if (argc != 2)
			return usage_error("tenant %s: unexpected argument '%s'", argv[0], argv[2]);
		uadm_wbuf_init(&w);
		uadm_w_u32(&w, argv[0][0] == 'f');
		uadm_w_str(&w, argv[1], UADM_NAME_MAX);
		return ctl_change(c, UADM_OP_TENANT_FREEZE, &w);
	}
	add = argv[0][0] == 'a';
	err = read_pairs(UD_SCOPE_TENANT, argc - 2, argv + 2, &p);
	if (!err && !add && p.n == 0)
		err = usage_error("tenant set: give at least one setting, e.g. --max 1G");
	if (!err) {
		snprintf(sec, sizeof(sec), "tenant %s", argv[1]);
		err = send_set(c, sec, add ? UADM_F_CREATE : 0, &p);
	}
	pairs_free(&p);
	return err;
}

static int cmd_capacity(struct ctl *c, int argc, char **argv)
{
	struct pairs p = {0};
	char *arg[1];
	char kv[256];
	int err;

	if (argc == 0 || (argc == 1 && strcmp(argv[0], "get") == 0))
		return ctl_listing(c, UADM_OP_CAPACITY_GET);
	if (argc != 2 || strcmp(argv[0], "set") != 0)
		return usage_error("capacity: expected 'get' or 'set SIZE|N%%'");
	snprintf(kv, sizeof(kv), "capacity=%s", argv[1]);
	arg[0] = kv;
	err = read_pairs(UD_SCOPE_MAIN, 1, arg, &p);
	if (!err)
		err = send_set(c, "utmemd", 0, &p);
	pairs_free(&p);
	return err;
}

static int pool_drop(struct ctl *c, int destroy, int argc, char **argv)
{
	const char *tenant = "";
	struct uadm_wbuf w;
	int err;

	if (argc == 3 && strcmp(argv[1], "--tenant") == 0)
		tenant = argv[2];
	else if (argc == 2 && strncmp(argv[1], "--tenant=", 9) == 0)
		tenant = argv[1] + 9;
	else if (argc != 1)
		return usage_error("pool %s: expected POOL [--tenant TENANT]",
				   destroy ? "destroy" : "flush");
	if ((err = check_name("pool", argv[0])) ||
	    (tenant[0] && (err = check_name("tenant", tenant))))
		return err;
	uadm_wbuf_init(&w);
	uadm_w_u32(&w, c->force ? UADM_F_FORCE : 0);
	uadm_w_str(&w, argv[0], UADM_NAME_MAX);
	uadm_w_str(&w, tenant, UADM_NAME_MAX);
	return ctl_change(c, destroy ? UADM_OP_POOL_DESTROY : UADM_OP_POOL_FLUSH, &w);
}

static int cmd_pool(struct ctl *c, int argc, char **argv)
{
	char sec[UADM_SECTION_MAX + 1];
	struct pairs p = {0};
	struct uadm_wbuf w;
	int err;

	if (argc < 1)
		return usage_error("pool: expected list, create, grant, flush or destroy");
	if (strcmp(argv[0], "list") == 0) {
		if (argc != 1)
			return usage_error("pool list: unexpected argument '%s'", argv[1]);
		return ctl_listing(c, UADM_OP_POOL_LIST);
	}
	if (strcmp(argv[0], "grant") == 0) {
		int manage = argc == 4 && strcmp(argv[3], "--manage") == 0;

		if (argc != 3 && !manage)
			return usage_error("pool grant: expected POOL TENANT [--manage]");
		if ((err = check_name("pool", argv[1])) || (err = check_name("tenant", argv[2])))
			return err;
		uadm_wbuf_init(&w);
		uadm_w_str(&w, argv[1], UADM_NAME_MAX);
		uadm_w_str(&w, argv[2], UADM_NAME_MAX);
		if (manage)
			uadm_w_u32(&w, UADM_GRANT_MANAGE);
		return ctl_change(c, UADM_OP_POOL_GRANT, &w);
	}
	if (strcmp(argv[0], "flush") == 0 || strcmp(argv[0], "destroy") == 0) {
		if (argc < 2)
			return usage_error("pool %s: expected POOL", argv[0]);
		return pool_drop(c, argv[0][0] == 'd', argc - 1, argv + 1);
	}
	if (strcmp(argv[0], "create") == 0) {
		if (argc < 2)
			return usage_error("pool create: expected NAME --kind persistent|ephemeral");
		if ((err = check_name("pool", argv[1])))
			return err;
		err = read_pairs(UD_SCOPE_POOL, argc - 2, argv + 2, &p);
		if (!err) {
			int has_kind = 0;
			for (size_t i = 0; i < p.n; i++)
				has_kind |= strcmp(p.key[i], "kind") == 0;
			if (!has_kind)
				err = usage_error("pool create: --kind persistent|ephemeral is required");
		}
		if (!err) {
			snprintf(sec, sizeof(sec), "pool %s", argv[1]);
			err = send_set(c, sec, UADM_F_CREATE, &p);
		}
		pairs_free(&p);
		return err;
	}
	return usage_error("pool: unknown subcommand '%s'", argv[0]);
}

/* "utmemd", "tenant NAME" or "pool NAME" from argv; returns args used or -1. */
static int read_section(int argc, char **argv, char *sec, size_t len,
			enum ud_scope *scope)
{
	if (argc >= 1 && strcmp(argv[0], "utmemd") == 0) {
		snprintf(sec, len, "utmemd");
		*scope = UD_SCOPE_MAIN;
		return 1;
	}
	if (argc >= 2 && (strcmp(argv[0], "tenant") == 0 || strcmp(argv[0], "pool") == 0)) {
		if (!ud_valid_name(argv[1]))
			return -1;
		snprintf(sec, len, "%s %s", argv[0], argv[1]);
		*scope = argv[0][0] == 't' ? UD_SCOPE_TENANT : UD_SCOPE_POOL;
		return 2;
	}
	return -1;
}

static int cmd_config(struct ctl *c, int argc, char **argv)
{
	char sec[UADM_SECTION_MAX + 1], abs[PATH_MAX + 1];
	enum ud_scope scope;
	struct pairs p = {0};
	struct uadm_wbuf w;
	int used, err;

	if (argc < 1)
		return usage_error("config: expected get, set, save or keys");
	if (strcmp(argv[0], "keys") == 0) {
		if (argc != 1)
			return usage_error("config keys: unexpected argument '%s'", argv[1]);
		return cmd_keys(c);
	}
	if (strcmp(argv[0], "get") == 0) {
		if (argc == 1)
			return ctl_config_get(c, "");
		used = read_section(argc - 1, argv + 1, sec, sizeof(sec), &scope);
		if (used < 0 || used != argc - 1)
			return usage_error("config get: expected utmemd, tenant NAME or pool NAME");
		return ctl_config_get(c, sec);
	}
	if (strcmp(argv[0], "set") == 0) {
		used = read_section(argc - 1, argv + 1, sec, sizeof(sec), &scope);
		if (used < 0)
			return usage_error("config set: expected SECTION (utmemd, tenant NAME or pool NAME) then KEY=VALUE...");
		if (argc - 1 - used < 1)
			return usage_error("config set %s: give at least one KEY=VALUE", sec);
		err = read_pairs(scope, argc - 1 - used, argv + 1 + used, &p);
		if (!err)
			err = send_set(c, sec, 0, &p);
		pairs_free(&p);
		return err;
	}
	if (strcmp(argv[0], "save") == 0) {
		if (argc > 2)
			return usage_error("config save: expected at most a PATH");
		abs[0] = '\0';
		if (argc == 2) {
			/* utmemd runs elsewhere: send an absolute path. */
			if (argv[1][0] == '/') {
				snprintf(abs, sizeof(abs), "%s", argv[1]);
			} else {
				char cwd[PATH_MAX];
				if (!getcwd(cwd, sizeof(cwd)) ||
				    snprintf(abs, sizeof(abs), "%s/%s", cwd, argv[1]) >= (int)sizeof(abs))
					return usage_error("config save: path too long");
			}
		}
		uadm_wbuf_init(&w);
		uadm_w_str(&w, abs, UADM_VALUE_MAX);
		return ctl_change(c, UADM_OP_CONFIG_SAVE, &w);
	}
	return usage_error("config: unknown subcommand '%s'", argv[0]);
}

/*
 * A plain decimal number, digits with at most one '.', no sign, no
 * exponent, no "nan", "inf" or hex: what a person types for seconds.
 */
static int parse_seconds(const char *s, double *out)
{
	int digits = 0, dots = 0;

	for (const char *p = s; *p; p++) {
		if (*p >= '0' && *p <= '9')
			digits++;
		else if (*p == '.' && !dots)
			dots++;
		else
			return -1;
	}
	if (!digits)
		return -1;
	*out = strtod(s, NULL);
	return 0;
}

static int cmd_top(struct ctl *c, int argc, char **argv)
{
	double interval = 1.0;
	unsigned long long count = 0;

	for (int i = 0; i < argc; i++) {
		if (i + 1 < argc && strcmp(argv[i], "--interval") == 0) {
			i++;
			if (parse_seconds(argv[i], &interval) < 0 || interval < 0.1 ||
			    interval > 3600)
				return usage_error("top: --interval '%s': 0.1..3600 seconds", argv[i]);
		} else if (i + 1 < argc && strcmp(argv[i], "--count") == 0) {
			i++;
			if (ud_parse_uint(argv[i], 1, LONG_MAX, &count) < 0)
				return usage_error("top: --count '%s': a whole number, 1 or more",
						   argv[i]);
		} else {
			return usage_error("top: unexpected argument '%s'", argv[i]);
		}
	}
	return ctl_top(c, interval, (long)count);
}

static int cmd_version(struct ctl *c)
{
	if (c->json)
		printf("{\"utmemctl\":\"%s\"}\n", VERSION);
	else
		printf("utmemctl %s\n", VERSION);
	return 0;
}

static int dispatch(struct ctl *c, int argc, char **argv)
{
	const char *cmd = argv[0];
	struct uadm_wbuf w;
	int lvl;

	/* Global options are gone (global_opts): one left here is unknown. */
	if (cmd[0] == '-')
		return usage_error("unknown option '%s'", cmd);
	if (strcmp(cmd, "help") == 0)
		return argc > 2 ? usage_error("help: one COMMAND at most")
				: cmd_help(c, argc == 2 ? argv[1] : NULL);
	if (strcmp(cmd, "version") == 0 && argc == 1)
		return cmd_version(c);
	if (strcmp(cmd, "tenant") == 0)
		return cmd_tenant(c, argc - 1, argv + 1);
	if (strcmp(cmd, "capacity") == 0)
		return cmd_capacity(c, argc - 1, argv + 1);
	if (strcmp(cmd, "pool") == 0)
		return cmd_pool(c, argc - 1, argv + 1);
	if (strcmp(cmd, "config") == 0)
		return cmd_config(c, argc - 1, argv + 1);
	if (strcmp(cmd, "top") == 0)
		return cmd_top(c, argc - 1, argv + 1);
	if (argc != 1 && strcmp(cmd, "log-level") != 0)
		return usage_error(argv[1][0] == '-' ? "%s: unknown option '%s'"
						     : "%s: unexpected argument '%s'",
				   cmd, argv[1]);
	if (strcmp(cmd, "stats") == 0)
		return ctl_listing(c, UADM_OP_STATS);
	if (strcmp(cmd, "info") == 0)
		return ctl_info(c);
	if (strcmp(cmd, "save") == 0)
		return ctl_change(c, UADM_OP_SAVE, NULL);
	if (strcmp(cmd, "reload") == 0) {
		uadm_wbuf_init(&w);
		uadm_w_u32(&w, c->force ? UADM_F_FORCE : 0);
		return ctl_change(c, UADM_OP_RELOAD, &w);
	}
	if (strcmp(cmd, "log-level") == 0) {
		if (argc != 2)
			return usage_error("log-level: expected error, warn, info or debug");
		lvl = uadm_log_level_parse(argv[1]);
		if (lvl < 0)
			return usage_error("log-level '%s': error, warn, info or debug",
					   argv[1]);
		uadm_wbuf_init(&w);
		uadm_w_u32(&w, (uint32_t)lvl);
		if (ctl_request(c, UADM_OP_LOG_LEVEL, &w, 0) != 0) {
			uadm_wbuf_free(&w);
			return 1;
		}
		uadm_wbuf_free(&w);
		/* The level's own name ("warning" is "warn"), as utmemd logs it. */
		if (c->json)
			printf("{\"ok\":true,\"changes\":[\"log_level: %s\"]}\n",
			       uadm_log_level_name(lvl));
		else
			printf("log level: %s (until the next restart, reload or log_level change)\n",
			       uadm_log_level_name(lvl));
		return 0;
	}
	return usage_error("unknown command '%s'", cmd);
}

/*
 * Take the global options out of argv wherever they are (before "--"), so
 * `utmemctl stats --json` and `utmemctl --json stats` mean the same.
 * Returns -1 to go on, else an exit status.
 */
static int global_opts(struct ctl *c, int *argc, char **argv)
{
	int out = 1, i, help = 0;

	for (i = 1; i < *argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "--json") == 0 || strcmp(a, "-j") == 0) {
			c->json = 1;
			ctl_json_errors = 1;
		} else if (strcmp(a, "--force") == 0 || strcmp(a, "-f") == 0) {
			c->force = 1;
		} else if (strcmp(a, "--run-dir") == 0 || strcmp(a, "-r") == 0) {
			if (i + 1 >= *argc)
				return usage_error("%s needs a directory", a);
			c->run_dir = argv[++i];
		} else if (strncmp(a, "--run-dir=", 10) == 0) {
			c->run_dir = a + 10;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			help = 1;
		} else if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
			return cmd_version(c);
		} else {
			argv[out++] = argv[i];
		}
	}
	while (i < *argc)
		argv[out++] = argv[i++];
	*argc = out;
	argv[out] = NULL;
	if (help)
		return cmd_help(c, out > 1 ? argv[1] : NULL) == 0 ? 0 : EXIT_USAGE;
	return -1;
}

int main(int argc, char **argv)
{
	struct ctl c = {.fd = -1};
	int rc;

	c.run_dir = getenv("UTMEM_RUN_DIR");
	if (!c.run_dir || !*c.run_dir)
		c.run_dir = "./run/utmem";
	rc = global_opts(&c, &argc, argv);
	if (rc >= 0)
		return rc;
	if (argc < 2) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	rc = dispatch(&c, argc - 1, argv + 1);
	free(c.reply);
	if (c.fd >= 0)
		close(c.fd);
	return rc;
}
