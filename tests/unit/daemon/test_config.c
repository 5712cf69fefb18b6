/*
 * test_config.c — unit tests of utmemd's configuration reader
 * (src/daemon/config.c): defaults, every key, and that each kind of mistake
 * is refused with the right FILE:LINE.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>

#include "daemon/daemon.h"

static char path[64];

/* Write text to a fresh temp file named in path. */
static void write_cfg(const char *text)
{
	static int seq;
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/tmp/utmem-cfg-%d-%d", (int)getpid(), ++seq);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Load text; on failure the message must contain ":LINE: " and want. */
static int load(const char *text, struct ud_cfg *cfg, int line, const char *want)
{
	char msg[512] = "", tag[32];
	int err;

	write_cfg(text);
	err = ud_cfg_load(cfg, path, NULL, msg, sizeof(msg));
	unlink(path);
	if (want) {
		snprintf(tag, sizeof(tag), ":%d: ", line);
		if (err == 0 || !strstr(msg, tag) || !strstr(msg, want))
			fail_msg("want error at line %d with '%s', got %d '%s'", line,
				 want, err, msg);
	}
	return err;
}

static void test_default(void **state)
{
	struct ud_cfg cfg;

	(void)state;
	assert_int_equal(ud_cfg_default(&cfg, "/tmp/x"), 0);
	assert_int_equal(cfg.ntenants, 1);
	assert_string_equal(cfg.tenants[0].name, "default");
	assert_true(cfg.capacity > 0);
	assert_true(cfg.tenants[0].max == cfg.capacity);
	assert_string_equal(cfg.run_dir, "/tmp/x");
	assert_int_equal(cfg.tcp_on, 0);
	assert_int_equal(cfg.bench_modes, 0); /* benchmark modes: off */
	assert_int_equal(cfg.worker_slice_us, 100); /* a short slice for the workers */
	ud_cfg_free(&cfg);
}

static void test_full(void **state)
{
	struct ud_cfg cfg;

	(void)state;
	assert_int_equal(load("[utmemd]\ncapacity = 1G\nmax_key = 2K\n"
			      "max_value = 8M\nworkers = 3\nrun_dir = /r\n"
			      "tcp = 7000\nlog_level = warn\n"
			      "[tenant a]\nmin = 1M\nmax = 64M\nweight = 4\n"
			      "socket = x.sock\ntoken = 0123456789\nmode = 0600\n"
			      "[tenant b]\n"
			      "[pool p]\nkind = ephemeral\ntenants = a, b\n",
			      &cfg, 0, NULL), 0);
	assert_true(cfg.capacity == 1ull << 30);
	assert_int_equal(cfg.max_key, 2048);
	assert_int_equal(cfg.max_value, 8u << 20);
	assert_int_equal(cfg.workers, 3);
	assert_string_equal(cfg.run_dir, "/r");
	assert_int_equal(cfg.tcp_on, 1);
	assert_int_equal(cfg.tcp_port, 7000);
	assert_string_equal(cfg.tcp_host, "127.0.0.1");
	assert_int_equal(cfg.log_level, UADM_LOG_WARN);
	assert_int_equal(cfg.ntenants, 2);
	assert_int_equal(cfg.tenants[0].min, 1u << 20);
	assert_int_equal(cfg.tenants[0].weight, 4);
	assert_int_equal(cfg.tenants[0].mode, 0600);
	assert_string_equal(cfg.tenants[0].token, "0123456789");
	assert_true(cfg.tenants[1].max == cfg.capacity); /* default max */
	assert_int_equal(cfg.npools, 1);
	assert_int_equal(cfg.pools[0].kind, UST_POOL_EPHEMERAL);
	assert_int_equal(cfg.pools[0].ntenants, 2);
	assert_string_equal(cfg.pools[0].tenants[1], "b");
	ud_cfg_free(&cfg);
}

static void test_errors(void **state)
{
	struct ud_cfg cfg;

	(void)state;
	load("[utmemd]\nfoo = 1\n", &cfg, 2, "unknown key 'foo'");
	load("\n[weird]\n", &cfg, 2, "unknown section [weird]");
	load("[utmemd]\n[utmemd]\n", &cfg, 2, "[utmemd] given twice");
	load("[tenant a]\n[tenant b]\n[tenant a]\n", &cfg, 3, "duplicate tenant 'a'");
	load("[tenant a]\nmax = 1X\n", &cfg, 2, "max '1X'");
	load("[utmemd]\nworkers = 0\n", &cfg, 2, "workers '0'");
	load("[utmemd]\nworker_slice_us = 99\n", &cfg, 2,
	     "worker_slice_us '99': expected 0 or 100..100000");
	load("[utmemd]\nworker_slice_us = 100001\n", &cfg, 2, "worker_slice_us '100001'");
	load("[utmemd]\nmax_key = 65537\n", &cfg, 2, "max_key");
	/* What the store takes (UST_KEY_MAX), not the wire's 64K: accepted,
	 * 64K made utmemd fail at start with "cannot create the store". */
	load("[utmemd]\nmax_key = 64K\n", &cfg, 2, "max_key '64K'");
	load("[utmemd]\nmax_key = 65536\n", &cfg, 2, "max_key '65536'");
	assert_int_equal(load("[utmemd]\nmax_key = 65535\n", &cfg, 0, NULL), 0);
	ud_cfg_free(&cfg);
	load("[utmemd]\ncapacity = 0%\n", &cfg, 2, "percentage");
	load("[utmemd]\ntcp = 1.2.3:80\n", &cfg, 2, "not an IPv4 address");
	load("[utmemd]\ntcp = 70000\n", &cfg, 2, "bad port");
	load("[tenant a]\ntoken = short\n", &cfg, 2, "token");
	load("[tenant a]\nmode = 999\n", &cfg, 2, "mode");
	load("[tenant a]\nsocket = s\n[tenant b]\nsocket = s\n", &cfg, 3,
	     "socket 's' already used by 'a'");
	load("[pool p]\ntenants = a\n", &cfg, 1, "'kind'");
	load("[pool p]\nkind = sticky\n", &cfg, 2, "kind 'sticky'");
	load("key = 1\n", &cfg, 1, "outside any section");
	load("[utmemd\n", &cfg, 1, "without ']'");
	/* Values that would break a running pool. */
	load("[utmemd]\ncapacity = 0\n", &cfg, 2, "below the smallest capacity");
	load("[utmemd]\ncapacity = 1K\n", &cfg, 2, "below the smallest capacity");
	load("[utmemd]\ncapacity = 100T\n", &cfg, 2, "more than this host's memory");
	load("[utmemd]\ncapacity = 1G\n[tenant a]\nmin = 600M\n[tenant b]\nmin = 600M\n",
	     &cfg, 5, "tenant 'b': min 600M brings the tenants' reserved total to 1.2G, more than the capacity 1G");
	load("[tenant a]\ntoken = 12345\n", &cfg, 2, "token: expected 8..255 bytes, got 5");
	load("[tenant a]\nsocket = admin.sock\n", &cfg, 1, "utmemd's admin socket");
	load("[tenant a]\n[tenant b]\nsocket = a.sock\n", &cfg, 2,
	     "socket 'a.sock' already used by 'a'");
	/* Two spellings of one file are one socket (ud_socket_path). */
	load("[tenant a]\nsocket = x.sock\n[tenant b]\nsocket = ./x.sock\n", &cfg, 3,
	     "tenant 'b': socket './x.sock' already used by 'a' as socket 'x.sock' (both are /");
	load("[tenant a]\nsocket = .//x.sock\n[tenant b]\nsocket = x.sock\n", &cfg, 3,
	     "tenant 'b': socket 'x.sock' already used by 'a' as socket './/x.sock'");
	load("[tenant a]\n[tenant b]\nsocket = ./a.sock\n", &cfg, 2,
	     "tenant 'b': socket './a.sock' already used by 'a' as socket 'a.sock'");
	load("[tenant a]\nsocket = ./admin.sock\n", &cfg, 1,
	     "tenant 'a': socket './admin.sock' is utmemd's admin socket");
	load("[utmemd]\nrun_dir = /r\n[tenant a]\nsocket = /r/./admin.sock\n", &cfg, 3,
	     "tenant 'a': socket '/r/./admin.sock' is utmemd's admin socket (/r/admin.sock)");
	load("[utmemd]\nrun_dir = /r\n[tenant a]\nsocket = /r//a.sock\n[tenant b]\nsocket = a.sock\n",
	     &cfg, 5, "tenant 'b': socket 'a.sock' already used by 'a' as socket '/r//a.sock' (both are /r/a.sock)");
	/* What a tenant shares with earlier ones: the earliest of them is
	 * named, and the socket where the same one shares both. */
	load("[tenant a]\ntoken = aaaaaaaa\n[tenant b]\nsocket = s\n"
	     "[tenant c]\nsocket = s\ntoken = aaaaaaaa\n", &cfg, 5,
	     "tenants 'a' and 'c' have the same token");
	load("[tenant a]\nsocket = s\n[tenant b]\ntoken = bbbbbbbb\n"
	     "[tenant c]\nsocket = s\ntoken = bbbbbbbb\n", &cfg, 5,
	     "tenant 'c': socket 's' already used by 'a'");
	load("[tenant a]\nsocket = s\ntoken = aaaaaaaa\n"
	     "[tenant b]\nsocket = s\ntoken = aaaaaaaa\n", &cfg, 4,
	     "tenant 'b': socket 's' already used by 'a'");
	load("[tenant a]\nvsock_cid = 7\n[tenant b]\n[tenant c]\nvsock_cid = 7\n",
	     &cfg, 4, "tenant 'c': vsock_cid 7 already used by 'a'");
	load("[tenant a]\nivshmem = r\n[tenant b]\nivshmem = q\n[tenant c]\nivshmem = r\n",
	     &cfg, 5, "tenant 'c': ivshmem 'r' already used by 'a'");
	/* Two spellings of one region file are one region: both tenants'
	 * VM threads would serve it, each guest reaching the other's data. */
	load("[utmemd]\nrun_dir = /r\n[tenant a]\nivshmem = a.shm\n"
	     "[tenant b]\nivshmem = /r//a.shm\n", &cfg, 5,
	     "tenant 'b': ivshmem '/r//a.shm' already used by 'a' as ivshmem 'a.shm' (both are /r/a.shm)");
	load("[tenant a]\nivshmem = ./r\n[tenant b]\nivshmem = r\n", &cfg, 3,
	     "tenant 'b': ivshmem 'r' already used by 'a' as ivshmem './r'");
	/* A doorbell or region that is also another file utmemd makes: it
	 * would be bound or sized over that one (utmemd refused some only at
	 * start, the check none). */
	load("[utmemd]\nrun_dir = /r\n[tenant a]\nivshmem = a.shm\nivshmem_doorbell = bell\n"
	     "[tenant b]\nivshmem = b.shm\nivshmem_doorbell = /r/bell\n", &cfg, 6,
	     "tenant 'b': ivshmem_doorbell '/r/bell' is also tenant 'a''s ivshmem_doorbell (/r/bell)");
	load("[utmemd]\nrun_dir = /r\n[tenant a]\nivshmem = a.shm\nivshmem_doorbell = ./a.shm\n",
	     &cfg, 3, "tenant 'a': ivshmem_doorbell './a.shm' is also tenant 'a''s ivshmem region (/r/a.shm)");
	load("[utmemd]\nrun_dir = /r\n[tenant a]\n[tenant b]\nivshmem = b.shm\nivshmem_doorbell = a.sock\n",
	     &cfg, 4, "tenant 'b': ivshmem_doorbell 'a.sock' is also tenant 'a''s socket (/r/a.sock)");
	load("[utmemd]\nrun_dir = /r\n[tenant a]\nivshmem = b.sock\n[tenant b]\n",
	     &cfg, 3, "tenant 'a': ivshmem 'b.sock' is also tenant 'b''s socket (/r/b.sock)");
	load("[utmemd]\nrun_dir = /r\n[tenant a]\nivshmem = admin.sock\n",
	     &cfg, 3, "tenant 'a': ivshmem 'admin.sock' is also utmemd's admin socket (/r/admin.sock)");
	load("[pool p]\nkind = ephemeral\n[pool q]\nkind = ephemeral\n[pool p]\n",
	     &cfg, 5, "duplicate pool 'p'");
	load("[tenant a]\n[tenant b]\n[tenant a]\n", &cfg, 3, "(first at line 1)");
	load("[utmemd]\nuser = no-such-user-here\n", &cfg, 2, "no such user");
	load("[tenant a]\nowner = no-such-user-here\n", &cfg, 2, "no such user");
	load("[tenant a]\ngroup = no-such-group-here\n", &cfg, 2, "no such group");
	load("[pool p]\nkind = ephemeral\ntenants = a, a\n", &cfg, 3, "'a' given twice");
}

/* A directory (or anything not a regular file) is not a config file. */
static void test_not_a_file(void **state)
{
	struct ud_cfg cfg;
	char msg[256] = "";

	(void)state;
	assert_int_equal(ud_cfg_load(&cfg, "/", NULL, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "/: not a regular file (a directory)"));
}

/* The same words whoever gives the value: file, utmemctl, admin protocol. */
static void test_setting_parse(void **state)
{
	struct ud_cfg_tenant t;
	struct ud_cfg m;
	char msg[512];

	(void)state;
	ud_cfg_tenant_init(&t, "a");
	assert_int_equal(ud_setting_parse(UD_SCOPE_TENANT, &t, "max", "64M", msg,
					  sizeof(msg)), 0);
	assert_true(t.max == 64u << 20);
	assert_true(ud_setting_is_given(ud_setting_find(UD_SCOPE_TENANT, "max"), &t));
	assert_false(ud_setting_is_given(ud_setting_find(UD_SCOPE_TENANT, "min"), &t));
	assert_int_equal(ud_setting_parse(UD_SCOPE_TENANT, &t, "maxx", "1", msg,
					  sizeof(msg)), -ENOENT);
	assert_non_null(strstr(msg, "unknown key 'maxx' in [tenant NAME] (known: min, max,"));
	assert_int_equal(ud_setting_parse(UD_SCOPE_TENANT, &t, "token", " padded-token ",
					  msg, sizeof(msg)), -EINVAL);
	assert_int_equal(ud_setting_parse(UD_SCOPE_TENANT, &t, "token", "abc ;defgh",
					  msg, sizeof(msg)), -EINVAL);
	assert_int_equal(ud_setting_parse(UD_SCOPE_TENANT, &t, "owner", "0", msg,
					  sizeof(msg)), 0);
	assert_int_equal(t.uid, 0);
	ud_cfg_init(&m, NULL);
	assert_int_equal(ud_setting_parse(UD_SCOPE_MAIN, &m, "capacity", "50%", msg,
					  sizeof(msg)), 0);
	assert_int_equal(m.capacity_pct, 50);
	assert_true(m.capacity == ud_phys_mem() / 2);
	/* "25%" is the capacity of the default (ud_cfg_init), to the byte:
	 * uncommenting config get's "; capacity = 25%" changes nothing. */
	assert_int_equal(ud_setting_parse(UD_SCOPE_MAIN, &m, "capacity", "25%", msg,
					  sizeof(msg)), 0);
	assert_true(m.capacity == ud_phys_mem() / 4);
	assert_int_equal(ud_setting_parse(UD_SCOPE_MAIN, &m, "max-value", "5X", msg,
					  sizeof(msg)), -EINVAL);
	assert_string_equal(msg, "max_value '5X': expected a size from 1 to 1G (K, M, G, T suffixes)");
	/* bench_modes: off or on, nothing else. */
	assert_int_equal(ud_setting_parse(UD_SCOPE_MAIN, &m, "bench_modes", "on", msg,
					  sizeof(msg)), 0);
	assert_int_equal(m.bench_modes, 1);
	assert_int_equal(ud_setting_parse(UD_SCOPE_MAIN, &m, "bench_modes", "2", msg,
					  sizeof(msg)), -EINVAL);
	assert_string_equal(msg, "bench_modes '2': expected off or on");
	assert_int_equal(m.bench_modes, 1);
	assert_int_equal(ud_setting_parse(UD_SCOPE_MAIN, &m, "bench_modes", "off", msg,
					  sizeof(msg)), 0);
	assert_int_equal(m.bench_modes, 0);
}

/*
 * Every setting survives write and read back: the writer is what
 * `utmemctl config save` uses, so runtime changes are not lost.
 */
static void test_write_reads_back(void **state)
{
	struct ud_cfg cfg, back;
	char a[8192], b[8192], msg[512];
	FILE *f;

	(void)state;
	assert_int_equal(load("[utmemd]\ncapacity = 30%\nmax_key = 2K\n"
			      "max_value = 8M\nworkers = 3\nrun_dir = /r\n"
			      "tcp = 10.0.0.1:7000\nlog_level = warn\nring_size = off\n"
			      "ring_spin_us = 0\nworker_slice_us = 0\nbench_modes = on\nuser = root\n"
			      "idle_timeout = 10m\n"
			      "auth_timeout = 2\nmax_unauth = 9\n"
			      "[tenant a]\nmin = 1M\nmax = 64M\nweight = 4\n"
			      "socket = /x/y.sock\ntoken = 0123456789\nmode = 0600\n"
			      "owner = root\ngroup = 0\ninflight = 16M\nmax_conns = 5\n"
			      "[tenant b]\nmax_pools = 3\n"
			      "[pool p]\nkind = ephemeral\ntenants = a, b\nmanage = b\n"
			      "[pool q]\nkind = persistent\n",
			      &cfg, 0, NULL), 0);
	write_cfg("");
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(ud_cfg_write(&cfg, f), 0);
	fclose(f);
	if (ud_cfg_load(&back, path, NULL, msg, sizeof(msg)) != 0)
		fail_msg("written file does not load: %s", msg);
	unlink(path);
	assert_int_equal(back.ntenants, cfg.ntenants);
	assert_int_equal(back.npools, cfg.npools);
	for (size_t i = 0; i < ud_nsettings; i++) {
		const struct ud_setting *s = &ud_settings[i];
		size_t n = s->scope == UD_SCOPE_MAIN ? 1
			 : s->scope == UD_SCOPE_TENANT ? cfg.ntenants : cfg.npools;
		for (size_t k = 0; k < n; k++) {
			const void *x = s->scope == UD_SCOPE_MAIN ? (void *)&cfg
				      : s->scope == UD_SCOPE_TENANT ? (void *)&cfg.tenants[k]
								     : (void *)&cfg.pools[k];
			const void *y = s->scope == UD_SCOPE_MAIN ? (void *)&back
				      : s->scope == UD_SCOPE_TENANT ? (void *)&back.tenants[k]
								     : (void *)&back.pools[k];
			ud_setting_format(s, x, a, sizeof(a));
			ud_setting_format(s, y, b, sizeof(b));
			if (strcmp(a, b) != 0 ||
			    ud_setting_is_given(s, x) != ud_setting_is_given(s, y))
				fail_msg("%s '%s' (record %zu) came back as '%s'", s->key, a, k, b);
		}
	}
	ud_cfg_free(&cfg);
	ud_cfg_free(&back);
}

/* The limit keys of docs/security.md, and a pool's manage list. */
static void test_limits(void **state)
{
	struct ud_cfg cfg;

	(void)state;
	assert_int_equal(ud_cfg_default(&cfg, "/tmp/x"), 0);
	assert_int_equal(cfg.idle_timeout, 600);
	assert_int_equal(cfg.client_timeout, 60);
	assert_int_equal(cfg.frame_timeout, 30);
	assert_int_equal(cfg.auth_timeout, 5);
	assert_int_equal(cfg.max_unauth, 64);
	assert_int_equal(cfg.tenants[0].inflight, 0); /* 0: the default applies */
	ud_cfg_free(&cfg);
	assert_int_equal(load("[utmemd]\nidle_timeout = 0\nclient_timeout = 7\n"
			      "frame_timeout = 9\nauth_timeout = 2\nmax_unauth = 3\n"
			      "[tenant a]\ninflight = 16M\nmax_conns = 5\nmax_pools = 6\n"
			      "[tenant b]\n"
			      "[pool p]\nkind = persistent\ntenants = a, b\nmanage = b\n",
			      &cfg, 0, NULL), 0);
	assert_int_equal(cfg.idle_timeout, 0);
	assert_int_equal(cfg.client_timeout, 7);
	assert_int_equal(cfg.frame_timeout, 9);
	assert_int_equal(cfg.auth_timeout, 2);
	assert_int_equal(cfg.max_unauth, 3);
	assert_int_equal(cfg.tenants[0].inflight, 16u << 20);
	assert_int_equal(cfg.tenants[0].max_conns, 5);
	assert_int_equal(cfg.tenants[0].max_pools, 6);
	assert_int_equal(cfg.tenants[1].max_conns, 0);
	assert_int_equal(cfg.pools[0].nmanagers, 1);
	assert_string_equal(cfg.pools[0].managers[0], "b");
	ud_cfg_free(&cfg);
	load("[utmemd]\nauth_timeout = 0\n", &cfg, 2, "auth_timeout '0'");
	load("[utmemd]\nidle_timeout = -1\n", &cfg, 2, "idle_timeout '-1'");
	load("[tenant a]\ninflight = 1K\n", &cfg, 2, "inflight '1K'");
	load("[tenant a]\nmax_conns = 0\n", &cfg, 2, "max_conns '0'");
	load("[tenant a]\nmax_pools = x\n", &cfg, 2, "max_pools 'x'");
	load("[tenant a]\n[tenant b]\n[pool p]\nkind = persistent\ntenants = a\n"
	     "manage = b\n", &cfg, 6, "'b' is not in its tenants");
}

/* The line reader: indentation never continues a line, long values fit,
 * NUL bytes and over-long lines are refused at their line. */
static void test_lines(void **state)
{
	struct ud_cfg cfg;
	char text[600], tok[256];
	int fd;

	(void)state;
	/* An indented header is a header, an indented key a key (a reader
	 * with continuation lines once took "  [tenant b]" as a's socket). */
	assert_int_equal(load("[tenant a]\nsocket = a.sock\n  [tenant b]\n  max = 1M\n"
			      "\tmin = 1K ; a comment\nweight: 3\n", &cfg, 0, NULL), 0);
	assert_int_equal(cfg.ntenants, 2);
	assert_string_equal(cfg.tenants[0].socket, "a.sock");
	assert_string_equal(cfg.tenants[1].name, "b");
	assert_int_equal(cfg.tenants[1].max, 1u << 20);
	assert_int_equal(cfg.tenants[1].min, 1u << 10);
	assert_int_equal(cfg.tenants[1].weight, 3);
	ud_cfg_free(&cfg);
	/* The longest token (255 bytes) on its line. */
	memset(tok, 't', 255);
	tok[255] = '\0';
	snprintf(text, sizeof(text), "[tenant a]\ntoken = %s\n", tok);
	assert_int_equal(load(text, &cfg, 0, NULL), 0);
	assert_string_equal(cfg.tenants[0].token, tok);
	ud_cfg_free(&cfg);
	load("[tenant a]\n = 1\n", &cfg, 2, "a value without a key");
	load("[tenant a]\nmax\n", &cfg, 2, "syntax error");
	/* A NUL byte: refused, not read as the end of the line. */
	snprintf(path, sizeof(path), "/tmp/utmem-cfg-%d-nul", (int)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "[utmemd]\ncapacity = 1G\0junk\nworkers = 3\n", 40), 40);
	close(fd);
	{
		char msg[512] = "";
		assert_int_equal(ud_cfg_load(&cfg, path, NULL, msg, sizeof(msg)), -EINVAL);
		assert_non_null(strstr(msg, ":2: a NUL byte"));
	}
	unlink(path);
	{
		static char big[9000];
		memset(big, 'x', sizeof(big) - 1);
		memcpy(big, "[utmemd]\n; ", 11);
		load(big, &cfg, 2, "line longer than 8192 bytes");
	}
}

/* Live config after a change that stopped part way (apply_live.c). */
static const char live_old[] = "[utmemd]\ncapacity = 64M\npersist = /tmp/p.old\n"
			       "[tenant a]\n[tenant b]\n[tenant c]\n"
			       "[pool p]\nkind = ephemeral\ntenants = a, c\n"
			       "[pool q]\nkind = persistent\ntenants = c\n";
static const char live_next[] = "[utmemd]\ncapacity = 96M\nidle_timeout = 77\n"
				"persist = /tmp/p.new\n"
				"[tenant a]\nmax = 10M\n[tenant b]\nmax = 20M\n[tenant d]\n"
				"[pool p]\nkind = ephemeral\ntenants = a, b\n"
				"[pool r]\nkind = ephemeral\ntenants = d\n";

static struct ud_cfg live_at(enum ud_apply_stage stage, size_t index, int remove)
{
	struct ud_cfg old, next, live;
	struct ud_apply_at at = {stage, index};

	assert_int_equal(load(live_old, &old, 0, NULL), 0);
	assert_int_equal(load(live_next, &next, 0, NULL), 0);
	assert_int_equal(ud_apply_live(&old, &next, remove, &at, &live), 0);
	ud_cfg_free(&old);
	ud_cfg_free(&next);
	return live;
}

static const struct ud_cfg_pool *pool_has(const struct ud_cfg *c, const char *pool,
					  const char *list)
{
	const struct ud_cfg_pool *p = ud_cfg_find_pool(c, pool);
	char got[256] = "";

	assert_non_null(p);
	for (size_t i = 0; i < p->ntenants; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s",
			 i ? "," : "", p->tenants[i]);
	assert_string_equal(got, list);
	return p;
}

static void test_apply_live(void **state)
{
	struct ud_cfg c;

	(void)state;
	/* Stopped at tenant b: capacity took, the timeout and persist did not;
	 * a is next's, b old's, d (created first) next's; c was removed, from
	 * the pools too; pool p is old's, r not created, q kept. */
	c = live_at(UD_APPLY_TENANTS, 1, 1);
	assert_int_equal(c.capacity, 96u << 20);
	assert_int_equal(c.idle_timeout, 600);
	assert_string_equal(c.persist, "/tmp/p.old");
	assert_int_equal(ud_cfg_find_tenant(&c, "a")->max, 10u << 20);
	assert_int_equal(ud_cfg_find_tenant(&c, "b")->max, 64u << 20);
	assert_non_null(ud_cfg_find_tenant(&c, "d"));
	assert_null(ud_cfg_find_tenant(&c, "c"));
	pool_has(&c, "p", "a");
	pool_has(&c, "q", "");
	assert_null(ud_cfg_find_pool(&c, "r"));
	ud_cfg_free(&c);
	/* Stopped setting the capacity: c not removed yet, nothing else took. */
	c = live_at(UD_APPLY_CAPACITY, 0, 1);
	assert_int_equal(c.capacity, 64u << 20);
	assert_non_null(ud_cfg_find_tenant(&c, "c"));
	assert_int_equal(ud_cfg_find_tenant(&c, "a")->max, 64u << 20);
	pool_has(&c, "p", "a,c");
	pool_has(&c, "q", "c");
	ud_cfg_free(&c);
	/* Without removal (config set) c stays at any stage. */
	c = live_at(UD_APPLY_POOLS, 1, 0);
	assert_non_null(ud_cfg_find_tenant(&c, "c"));
	ud_cfg_free(&c);
	/* Stopped at pool r: the tenants and the timeout took, p is next's,
	 * r not created, q (not in next) stays until a whole reload. */
	c = live_at(UD_APPLY_POOLS, 1, 1);
	assert_int_equal(c.idle_timeout, 77);
	assert_string_equal(c.persist, "/tmp/p.old");
	assert_int_equal(ud_cfg_find_tenant(&c, "b")->max, 20u << 20);
	pool_has(&c, "p", "a,b");
	assert_null(ud_cfg_find_pool(&c, "r"));
	pool_has(&c, "q", "");
	ud_cfg_free(&c);
	/* Stopped at the VM regions: every record took, persist did not. */
	c = live_at(UD_APPLY_VMS, 0, 1);
	pool_has(&c, "r", "d");
	assert_string_equal(c.persist, "/tmp/p.old");
	ud_cfg_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_not_a_file),
		cmocka_unit_test(test_setting_parse),
		cmocka_unit_test(test_write_reads_back),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_apply_live),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
