/*
 * utmemctl — the operator's command line for utmemd.
 *
 * It speaks the admin protocol (docs/protocol-admin.md) over the daemon's
 * root-only admin socket, found with --run-dir DIR, else $UTMEM_RUN_DIR,
 * else ./run/utmem. Every command is one request and one reply; records are
 * encoded and decoded by src/proto/admin.c, the same code utmemd uses.
 * Exit status: 0 success, 1 error (connection or refused by the daemon),
 * 2 usage error.
 */
#include "proto/admin.h"
#include "proto/wire.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define EXIT_USAGE 2
#define REPLY_MAX (64u << 20) /* bound on a listing reply */

struct ctl {
	const char *run_dir;
	int json;
	int fd;
	uint64_t next_id;
	uint8_t *reply;   /* last reply's value (malloc) */
	size_t reply_len;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: utmemctl [--run-dir DIR] [--json] COMMAND [ARGS]\n"
		"\n"
		"Commands:\n"
		"  tenant list\n"
		"  tenant add NAME [--min B] [--max B] [--weight N] [--socket PATH] [--token T]\n"
		"  tenant remove NAME\n"
		"  tenant set NAME [--min B] [--max B] [--weight N]\n"
		"  capacity [get]            capacity set SIZE\n"
		"  pool list\n"
		"  pool create NAME --kind persistent|ephemeral   (a shared pool)\n"
		"  pool grant POOL TENANT\n"
		"  stats [--json]            per tenant and per pool counters\n"
		"  reload                    re-read utmemd's configuration file\n"
		"  log-level error|warn|info|debug\n"
		"\n"
		"Sizes accept suffixes K, M, G, T (powers of 1024): 64K, 512M, 4G.\n"
		"The admin socket is DIR/admin.sock; DIR is --run-dir, else $UTMEM_RUN_DIR,\n"
		"else ./run/utmem. Exit status: 0 ok, 1 error, 2 usage.\n");
}

__attribute__((format(printf, 1, 2)))
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "utmemctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see utmemctl --help)\n");
	return EXIT_USAGE;
}

static int ctl_connect(struct ctl *c)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/admin.sock",
			 c->run_dir);

	if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) {
		fprintf(stderr, "utmemctl: run directory path too long: %s\n", c->run_dir);
		return -ENAMETOOLONG;
	}
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;
		fprintf(stderr, "utmemctl: cannot connect to %s: %s (is utmemd running? "
			"use --run-dir or UTMEM_RUN_DIR)\n", sa.sun_path, strerror(err));
		return -err;
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Send one admin request and read its reply into c->reply. Returns the
 * reply's wire status (>= 0), or -errno if the exchange failed (message
 * printed). An error reply's message is printed here.
 */
static int request(struct ctl *c, unsigned op, const struct uadm_wbuf *w)
{
	struct uwire_hdr h = {.version = UWIRE_VERSION, .opcode = (uint8_t)op,
			      .id = ++c->next_id, .vlen = w ? (uint32_t)w->len : 0};
	struct uwire_limits lim = {UWIRE_KEY_CEILING, REPLY_MAX};
	uint8_t hdr[UWIRE_HDR_SIZE];
	int err;

	if (w && w->err)
		return w->err;
	if (c->fd < 0 && (err = ctl_connect(c)) < 0)
		return err;
	uwire_hdr_encode(&h, hdr);
	err = write_all(c->fd, hdr, sizeof(hdr));
	if (!err && h.vlen)
		err = write_all(c->fd, w->data, w->len);
	if (!err)
		err = read_all(c->fd, hdr, sizeof(hdr));
	if (!err && uwire_hdr_decode(hdr, &lim, &h) < 0)
		err = -EPROTO;
	if (!err && (h.id != c->next_id || h.klen))
		err = -EPROTO;
	if (!err) {
		free(c->reply);
		c->reply = malloc(h.vlen ? h.vlen : 1);
		c->reply_len = h.vlen;
		err = c->reply ? read_all(c->fd, c->reply, h.vlen) : -ENOMEM;
	}
	if (err) {
		fprintf(stderr, "utmemctl: talking to utmemd: %s\n", strerror(-err));
		return err;
	}
	if (h.status != UWIRE_S_OK) {
		if (c->reply_len)
			fprintf(stderr, "utmemctl: %.*s\n", (int)c->reply_len,
				(const char *)c->reply);
		else
			fprintf(stderr, "utmemctl: %s failed: %s\n", uadm_op_name(op),
				uwire_status_name(h.status));
	}
	return h.status;
}

/* Run a request whose OK reply is empty or ignored: exit status. */
static int simple(struct ctl *c, unsigned op, struct uadm_wbuf *w)
{
	int st = request(c, op, w);

	if (w)
		uadm_wbuf_free(w);
	return st == 0 ? 0 : 1;
}

/* A size for humans: 512M, 4.0G, 1234 (bytes). */
static const char *human(uint64_t v, char buf[32])
{
	static const char units[] = "KMGTPE";
	double d = (double)v;
	int u = -1;

	if (v == UINT64_MAX)
		return "unlimited";
	while (d >= 1024.0 && u < 5) {
		d /= 1024.0;
		u++;
	}
	if (u < 0)
		snprintf(buf, 32, "%llu", (unsigned long long)v);
	else
		snprintf(buf, 32, "%.1f%c", d, units[u]);
	return buf;
}

/* JSON string for paths (names are plain [A-Za-z0-9._-] already). */
static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static uint64_t ops_of(const struct uadm_counters *s)
{
	return s->puts + s->gets + s->invalidates;
}

static void json_counters(const struct uadm_counters *s)
{
	printf("\"ops\":%llu,\"puts\":%llu,\"gets\":%llu,\"hits\":%llu,"
	       "\"misses\":%llu,\"invalidates\":%llu,\"evictions\":%llu,"
	       "\"refused_puts\":%llu,\"entries\":%llu,\"bytes_stored\":%llu,"
	       "\"bytes_charged\":%llu",
	       (unsigned long long)ops_of(s), (unsigned long long)s->puts,
	       (unsigned long long)s->gets, (unsigned long long)s->hits,
	       (unsigned long long)s->misses, (unsigned long long)s->invalidates,
	       (unsigned long long)s->evictions,
	       (unsigned long long)s->refused_puts, (unsigned long long)s->entries,
	       (unsigned long long)s->bytes_stored,
	       (unsigned long long)s->bytes_charged);
}

static void human_counters(const struct uadm_counters *s)
{
	char a[32], b[32];

	printf(" %10llu %10llu %10llu %9llu %9llu %9s %9s\n",
	       (unsigned long long)ops_of(s), (unsigned long long)s->hits,
	       (unsigned long long)s->misses, (unsigned long long)s->evictions,
	       (unsigned long long)s->entries, human(s->bytes_stored, a),
	       human(s->bytes_charged, b));
}

static const char *kind_name(uint32_t kind)
{
	return kind & UADM_KIND_EPHEMERAL ? "ephemeral" : "persistent";
}

static void print_tenant(const struct ctl *c, const struct uadm_tenant *t,
			 int first, int with_stats)
{
	char a[32], b[32];

	if (c->json) {
		printf("%s{\"name\":\"%s\",\"id\":%u,\"min\":%llu,\"max\":%llu,"
		       "\"weight\":%u,\"socket\":", first ? "" : ",", t->name, t->id,
		       (unsigned long long)t->min, (unsigned long long)t->max,
		       t->weight);
		json_str(t->socket);
		if (with_stats) {
			putchar(',');
			json_counters(&t->st);
		}
		putchar('}');
		return;
	}
	printf("%-16s %4u %9s %9s %6u", t->name, t->id, human(t->min, a),
	       human(t->max, b), t->weight);
	if (with_stats)
		human_counters(&t->st);
	else
		printf("  %s\n", t->socket);
}

static void print_pool(const struct ctl *c, const struct uadm_pool *p,
		       int first, int with_stats)
{
	int shared = (p->kind & UADM_KIND_SHARED) != 0;

	if (c->json) {
		printf("%s{\"name\":\"%s\",\"id\":%u,\"owner\":%u,\"kind\":\"%s\","
		       "\"shared\":%s", first ? "" : ",", p->name, p->id, p->owner,
		       kind_name(p->kind), shared ? "true" : "false");
		if (with_stats) {
			putchar(',');
			json_counters(&p->st);
		}
		putchar('}');
		return;
	}
	printf("%-16s %4u %5u %-10s %-7s", p->name, p->id, p->owner,
	       kind_name(p->kind), shared ? "shared" : "private");
	if (with_stats)
		human_counters(&p->st);
	else
		putchar('\n');
}

static const char tenant_stats_head[] =
	"TENANT             ID       MIN       MAX WEIGHT        OPS       HITS"
	"     MISSES EVICTIONS   ENTRIES    STORED   CHARGED\n";
static const char pool_stats_head[] =
	"POOL               ID OWNER KIND       SHARING        OPS       HITS"
	"     MISSES EVICTIONS   ENTRIES    STORED   CHARGED\n";

/* Print "u32 n, n tenants". Returns 0 or -EPROTO. */
static int show_tenants(struct ctl *c, struct uadm_rbuf *r, int with_stats)
{
	uint32_t n = uadm_r_u32(r);

	if (c->json)
		printf("\"tenants\":[");
	else
		fputs(with_stats ? tenant_stats_head
				 : "TENANT             ID       MIN       MAX WEIGHT  SOCKET\n",
		      stdout);
	for (uint32_t i = 0; i < n && !r->err; i++) {
		struct uadm_tenant t;
		uadm_r_tenant(r, &t);
		if (!r->err)
			print_tenant(c, &t, i == 0, with_stats);
	}
	if (c->json)
		printf("]");
	return r->err;
}

static int show_pools(struct ctl *c, struct uadm_rbuf *r, int with_stats)
{
	uint32_t n = uadm_r_u32(r);

	if (c->json)
		printf("\"pools\":[");
	else
		fputs(with_stats ? pool_stats_head
				 : "POOL               ID OWNER KIND       SHARING\n",
		      stdout);
	for (uint32_t i = 0; i < n && !r->err; i++) {
		struct uadm_pool p;
		uadm_r_pool(r, &p);
		if (!r->err)
			print_pool(c, &p, i == 0, with_stats);
	}
	if (c->json)
		printf("]");
	return r->err;
}

static void show_capacity(struct ctl *c, const struct uadm_capacity *cap)
{
	char a[32], b[32], d[32];

	if (c->json) {
		printf("\"capacity\":%llu,\"charged\":%llu,\"reserved\":%llu",
		       (unsigned long long)cap->capacity,
		       (unsigned long long)cap->charged,
		       (unsigned long long)cap->reserved);
		return;
	}
	printf("capacity %s (%llu bytes), charged %s, reserved %s, %u tenants, %u pools\n",
	       human(cap->capacity, a), (unsigned long long)cap->capacity,
	       human(cap->charged, b), human(cap->reserved, d), cap->tenants,
	       cap->pools);
}

/* Decode and print a listing reply (TENANT_LIST, POOL_LIST, CAPACITY_GET, STATS). */
static int listing(struct ctl *c, unsigned op)
{
	struct uadm_capacity cap;
	struct uadm_rbuf r;
	int st = request(c, op, NULL);

	if (st)
		return 1;
	uadm_rbuf_init(&r, c->reply, c->reply_len);
	if (c->json)
		putchar('{');
	if (op == UADM_OP_CAPACITY_GET || op == UADM_OP_STATS) {
		uadm_r_capacity(&r, &cap);
		if (!r.err)
			show_capacity(c, &cap);
		if (op == UADM_OP_STATS)
			fputs(c->json ? "," : "\n", stdout);
	}
	if (op == UADM_OP_TENANT_LIST || op == UADM_OP_STATS)
		show_tenants(c, &r, op == UADM_OP_STATS);
	if (op == UADM_OP_STATS)
		fputs(c->json ? "," : "\n", stdout);
	if (op == UADM_OP_POOL_LIST || op == UADM_OP_STATS)
		show_pools(c, &r, op == UADM_OP_STATS);
	if (c->json)
		puts("}");
	if (uadm_r_end(&r) < 0) {
		fprintf(stderr, "utmemctl: malformed reply from utmemd\n");
		return 1;
	}
	return 0;
}

/* Options of tenant add/set, parsed from argv[0..argc). */
static int tenant_opts(int argc, char **argv, struct uadm_tenant_req *t, int add)
{
	static const struct option opts[] = {
		{"min", required_argument, NULL, 'm'},
		{"max", required_argument, NULL, 'M'},
		{"weight", required_argument, NULL, 'w'},
		{"socket", required_argument, NULL, 's'},
		{"token", required_argument, NULL, 't'},
		{NULL, 0, NULL, 0},
	};
	char *end;
	int o;

	optind = 0; /* glibc: full re-initialisation */
	while ((o = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (o) {
		case 'm':
		case 'M':
			if (uadm_parse_size(optarg, o == 'm' ? &t->min : &t->max))
				return usage_error("bad size '%s' (use e.g. 64K, 512M, 4G)",
						   optarg);
			t->mask |= o == 'm' ? UADM_SET_MIN : UADM_SET_MAX;
			break;
		case 'w': {
			unsigned long w = strtoul(optarg, &end, 10);
			if (*end || !*optarg || w < 1 || w > 1000000)
				return usage_error("bad weight '%s' (1..1000000)", optarg);
			t->weight = (uint32_t)w;
			t->mask |= UADM_SET_WEIGHT;
			break;
		}
		case 's':
		case 't':
			if (!add)
				return usage_error("%s: only for 'tenant add'",
						   o == 's' ? "--socket" : "--token");
			if (strlen(optarg) > (o == 's' ? UADM_PATH_MAX : UADM_TOKEN_MAX))
				return usage_error("'%s' is too long", optarg);
			snprintf(o == 's' ? t->socket : t->token,
				 o == 's' ? sizeof(t->socket) : sizeof(t->token), "%s",
				 optarg);
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	return 0;
}

static int check_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > UADM_NAME_MAX)
		return usage_error("bad name '%s' (1..63 bytes)", s);
	return 0;
}

static int cmd_tenant(struct ctl *c, int argc, char **argv)
{
	struct uadm_tenant_req t = {0};
	struct uadm_wbuf w;
	int err;

	if (argc < 1)
		return usage_error("tenant: expected list, add, remove or set");
	if (strcmp(argv[0], "list") == 0 && argc == 1)
		return listing(c, UADM_OP_TENANT_LIST);
	if (argc < 2)
		return usage_error("tenant %s: expected a tenant NAME", argv[0]);
	if ((err = check_name(argv[1])))
		return err;
	uadm_wbuf_init(&w);
	if (strcmp(argv[0], "remove") == 0 && argc == 2) {
		uadm_w_str(&w, argv[1], UADM_NAME_MAX);
		return simple(c, UADM_OP_TENANT_REMOVE, &w);
	}
	if (strcmp(argv[0], "add") != 0 && strcmp(argv[0], "set") != 0)
		return usage_error("tenant: unknown subcommand '%s'", argv[0]);
	snprintf(t.name, sizeof(t.name), "%s", argv[1]);
	err = tenant_opts(argc - 1, argv + 1, &t, argv[0][0] == 'a');
	if (err)
		return err;
	if (argv[0][0] == 's' && !t.mask)
		return usage_error("tenant set: give --min, --max and/or --weight");
	uadm_w_tenant_req(&w, &t);
	if (argv[0][0] == 'a') {
		int st = request(c, UADM_OP_TENANT_ADD, &w);
		uadm_wbuf_free(&w);
		if (st)
			return 1;
		if (c->reply_len == 4)
			printf("tenant %s added (id %u)\n", t.name,
			       uwire_get_u32(c->reply));
		return 0;
	}
	return simple(c, UADM_OP_TENANT_SET, &w);
}

static int cmd_capacity(struct ctl *c, int argc, char **argv)
{
	struct uadm_wbuf w;
	uint64_t v;

	if (argc == 0 || (argc == 1 && strcmp(argv[0], "get") == 0))
		return listing(c, UADM_OP_CAPACITY_GET);
	if (argc != 2 || strcmp(argv[0], "set") != 0)
		return usage_error("capacity: expected 'get' or 'set SIZE'");
	if (uadm_parse_size(argv[1], &v))
		return usage_error("bad size '%s' (use e.g. 512M, 4G)", argv[1]);
	uadm_wbuf_init(&w);
	uadm_w_u64(&w, v);
	return simple(c, UADM_OP_CAPACITY_SET, &w);
}

static int cmd_pool(struct ctl *c, int argc, char **argv)
{
	struct uadm_wbuf w;
	uint32_t kind;
	int err;

	if (argc == 1 && strcmp(argv[0], "list") == 0)
		return listing(c, UADM_OP_POOL_LIST);
	uadm_wbuf_init(&w);
	if (argc == 3 && strcmp(argv[0], "grant") == 0) {
		if ((err = check_name(argv[1])) || (err = check_name(argv[2])))
			return err;
		uadm_w_str(&w, argv[1], UADM_NAME_MAX);
		uadm_w_str(&w, argv[2], UADM_NAME_MAX);
		return simple(c, UADM_OP_POOL_GRANT, &w);
	}
	if (argc == 4 && strcmp(argv[0], "create") == 0 &&
	    strcmp(argv[2], "--kind") == 0) {
		if ((err = check_name(argv[1])))
			return err;
		if (strcmp(argv[3], "persistent") == 0)
			kind = 0;
		else if (strcmp(argv[3], "ephemeral") == 0)
			kind = UADM_KIND_EPHEMERAL;
		else
			return usage_error("--kind '%s': persistent or ephemeral", argv[3]);
		uadm_w_u32(&w, kind | UADM_KIND_SHARED);
		uadm_w_str(&w, argv[1], UADM_NAME_MAX);
		if (request(c, UADM_OP_POOL_CREATE_SHARED, &w)) {
			uadm_wbuf_free(&w);
			return 1;
		}
		uadm_wbuf_free(&w);
		if (c->reply_len == 4)
			printf("shared pool %s created (id %u)\n", argv[1],
			       uwire_get_u32(c->reply));
		return 0;
	}
	return usage_error("pool: expected list, create NAME --kind K, or grant POOL TENANT");
}

static int dispatch(struct ctl *c, int argc, char **argv)
{
	const char *cmd = argv[0];
	struct uadm_wbuf w;
	int lvl;

	if (strcmp(cmd, "tenant") == 0)
		return cmd_tenant(c, argc - 1, argv + 1);
	if (strcmp(cmd, "capacity") == 0)
		return cmd_capacity(c, argc - 1, argv + 1);
	if (strcmp(cmd, "pool") == 0)
		return cmd_pool(c, argc - 1, argv + 1);
	if (strcmp(cmd, "stats") == 0) {
		if (argc == 2 && strcmp(argv[1], "--json") == 0)
			c->json = 1;
		else if (argc != 1)
			return usage_error("stats: unexpected argument '%s'", argv[1]);
		return listing(c, UADM_OP_STATS);
	}
	if (strcmp(cmd, "reload") == 0 && argc == 1)
		return simple(c, UADM_OP_RELOAD, NULL);
	if (strcmp(cmd, "log-level") == 0 && argc == 2) {
		lvl = uadm_log_level_parse(argv[1]);
		if (lvl < 0)
			return usage_error("log-level '%s': error, warn, info or debug",
					   argv[1]);
		uadm_wbuf_init(&w);
		uadm_w_u32(&w, (uint32_t)lvl);
		return simple(c, UADM_OP_LOG_LEVEL, &w);
	}
	return usage_error("unknown command or arguments: '%s'", cmd);
}

/* Commands are checked for shape before connecting, so usage errors exit 2
 * even with no daemon running. */
static int known_command(const char *cmd)
{
	static const char *const cmds[] = {"tenant", "capacity", "pool", "stats",
					   "reload", "log-level"};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmd, cmds[i]) == 0)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"run-dir", required_argument, NULL, 'r'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct ctl c = {.fd = -1};
	int o, rc;

	c.run_dir = getenv("UTMEM_RUN_DIR");
	if (!c.run_dir || !*c.run_dir)
		c.run_dir = "./run/utmem";
	while ((o = getopt_long(argc, argv, "+r:jh", opts, NULL)) != -1) {
		switch (o) {
		case 'r': c.run_dir = optarg; break;
		case 'j': c.json = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!known_command(argv[0]))
		return usage_error("unknown command '%s'", argv[0]);
	rc = dispatch(&c, argc, argv);
	free(c.reply);
	if (c.fd >= 0)
		close(c.fd);
	return rc;
}
