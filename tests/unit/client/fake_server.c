/*
 * fake_server.c — the utmemd stand-in of libutmem's unit tests (see
 * fake_server.h). Deliberately simple: blocking writes, linear search, one
 * connection at a time; it exists to pin down what the client sends and how
 * it copes with every kind of reply, not to be fast.
 */
#include "fake_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum { FAKE_CLOSE = -1000, FAKE_NOREPLY = -1001 };

static int send_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int reply(int fd, const struct uwire_hdr *req, uint16_t status,
		 uint32_t pool, const void *val, size_t vlen)
{
	uint8_t hdr[UWIRE_HDR_SIZE];
	struct uwire_hdr h = {
		.version = UWIRE_VERSION,
		.opcode = req->opcode,
		.flags = UWIRE_F_RESPONSE,
		.id = req->id,
		.pool = pool,
		.status = status,
		.vlen = (uint32_t)vlen,
	};

	uwire_hdr_encode(&h, hdr);
	if (send_all(fd, hdr, sizeof(hdr)))
		return -1;
	return vlen ? send_all(fd, val, vlen) : 0;
}

/* Pool index + 1 for a wire id of this connection, or 0. */
static uint32_t pool_of(struct fake_server *s, int gen, uint32_t id)
{
	uint32_t idx = id % 1000;

	if (id / 1000 != (uint32_t)gen || idx == 0 ||
	    idx > FAKE_MAX_POOLS || !s->pools[idx - 1][0])
		return 0;
	return idx;
}

static struct fake_entry *find(struct fake_server *s, uint32_t pool,
			       const uint8_t *key, uint32_t klen)
{
	for (size_t i = 0; i < s->nentries; i++) {
		struct fake_entry *e = &s->entries[i];

		if (e->pool == pool && e->klen == klen &&
		    memcmp(e->key, key, klen) == 0)
			return e;
	}
	return NULL;
}

static void drop(struct fake_server *s, struct fake_entry *e)
{
	free(e->val);
	*e = s->entries[--s->nentries];
}

static void drop_pool(struct fake_server *s, uint32_t pool)
{
	for (size_t i = 0; i < s->nentries;)
		if (s->entries[i].pool == pool)
			drop(s, &s->entries[i]);
		else
			i++;
}

static int op_open(struct fake_server *s, int gen, int fd,
		   const struct uwire_frame *f)
{
	char name[64] = {0};
	int free_slot = -1;

	if (f->hdr.klen == 0 || f->hdr.klen > 63)
		return reply(fd, &f->hdr, UWIRE_S_INVALID, 0, NULL, 0);
	memcpy(name, f->key, f->hdr.klen);
	for (int i = 0; i < FAKE_MAX_POOLS; i++) {
		if (strcmp(s->pools[i], name) == 0)
			return reply(fd, &f->hdr, 0,
				     (uint32_t)(gen * 1000 + i + 1),
				     NULL, 0);
		if (!s->pools[i][0] && free_slot < 0)
			free_slot = i;
	}
	if (!(f->hdr.flags & UWIRE_F_CREATE))
		return reply(fd, &f->hdr, UWIRE_S_NOTFOUND, 0, NULL, 0);
	if (free_slot < 0)
		return reply(fd, &f->hdr, UWIRE_S_NOMEM, 0, NULL, 0);
	memcpy(s->pools[free_slot], name, sizeof(name));
	s->pool_flags[free_slot] = f->hdr.flags;
	return reply(fd, &f->hdr, 0,
		     (uint32_t)(gen * 1000 + free_slot + 1), NULL, 0);
}

static int op_put(struct fake_server *s, int fd, const struct uwire_frame *f,
		  uint32_t pool)
{
	struct fake_entry *e = find(s, pool, f->key, f->hdr.klen);
	uint8_t *copy;

	if (e)
		drop(s, e);
	if (f->hdr.klen > sizeof(e->key) || s->nentries == FAKE_MAX_ENTRIES)
		return reply(fd, &f->hdr, UWIRE_S_QUOTA, 0, NULL, 0);
	copy = malloc(f->hdr.vlen ? f->hdr.vlen : 1);
	if (!copy)
		return reply(fd, &f->hdr, UWIRE_S_NOMEM, 0, NULL, 0);
	memcpy(copy, f->value, f->hdr.vlen);
	e = &s->entries[s->nentries++];
	e->pool = pool;
	e->klen = f->hdr.klen;
	memcpy(e->key, f->key, f->hdr.klen);
	e->val = copy;
	e->vlen = f->hdr.vlen;
	return reply(fd, &f->hdr, 0, 0, NULL, 0);
}

static int op_get(struct fake_server *s, int fd, const struct uwire_frame *f,
		  uint32_t pool)
{
	struct fake_entry *e = find(s, pool, f->key, f->hdr.klen);
	int err;

	if (!e)
		return reply(fd, &f->hdr, UWIRE_S_NOTFOUND, 0, NULL, 0);
	if ((f->hdr.flags & UWIRE_F_MAXLEN) &&
	    (f->hdr.vlen != 4 || e->vlen > uwire_get_u32(f->value)))
		return reply(fd, &f->hdr, f->hdr.vlen != 4 ? UWIRE_S_INVALID
							   : UWIRE_S_NOBUFS,
			     0, NULL, 0);
	err = reply(fd, &f->hdr, 0, 0, e->val, e->vlen);
	if (f->hdr.flags & UWIRE_F_EXCLUSIVE)
		drop(s, e);
	return err;
}

static int op_stats(struct fake_server *s, int fd, const struct uwire_frame *f,
		    uint32_t pool)
{
	uint8_t rec[UWIRE_STATS_SIZE];
	struct uwire_stats st = {.puts = s->requests, .limit_max = 12345};

	for (size_t i = 0; i < s->nentries; i++) {
		if (pool && s->entries[i].pool != pool)
			continue;
		st.entries++;
		st.bytes_stored += s->entries[i].vlen;
	}
	uwire_stats_encode(&st, rec);
	return reply(fd, &f->hdr, 0, 0, rec, sizeof(rec));
}

static int op_hello(struct fake_server *s, int fd, const struct uwire_frame *f)
{
	uint8_t rec[UWIRE_HELLO_SIZE];
	struct uwire_hello h = {
		.version = s->hello_version ? s->hello_version : UWIRE_VERSION,
		.max_key = s->max_key,
		.max_value = s->max_value,
		.tenant_id = 7,
	};

	snprintf(s->hello_key, sizeof(s->hello_key), "%.*s",
		 (int)f->hdr.klen, (const char *)f->key);
	if (s->hello_hang)
		return FAKE_NOREPLY;
	if (s->hello_status) {
		reply(fd, &f->hdr, s->hello_status, 0, NULL, 0);
		return FAKE_CLOSE;
	}
	if (s->token && strcmp(s->token, s->hello_key) != 0) {
		reply(fd, &f->hdr, UWIRE_S_AUTH, 0, NULL, 0);
		return FAKE_CLOSE;
	}
	uwire_hello_encode(&h, rec);
	return reply(fd, &f->hdr, 0, 0, rec, sizeof(rec));
}

/* Keys starting with '!' choose a misbehaviour. */
static int misbehave(int fd, const struct uwire_frame *f)
{
	char key[32] = {0};
	uint8_t hdr[UWIRE_HDR_SIZE];
	struct uwire_hdr h = f->hdr;

	if (f->hdr.klen == 0 || f->key[0] != '!' || f->hdr.klen >= sizeof(key))
		return 0;
	memcpy(key, f->key, f->hdr.klen);
	if (strcmp(key, "!close") == 0) {
		h.flags = UWIRE_F_RESPONSE;
		h.klen = h.vlen = 0;
		uwire_hdr_encode(&h, hdr);
		send_all(fd, hdr, 10);
		return FAKE_CLOSE;
	}
	if (strcmp(key, "!drop") == 0)
		return FAKE_CLOSE;
	if (strcmp(key, "!hang") == 0)
		return FAKE_NOREPLY;
	if (strncmp(key, "!status=", 8) == 0) {
		if (reply(fd, &f->hdr, (uint16_t)atoi(key + 8), 0, NULL, 0))
			return FAKE_CLOSE;
		return FAKE_NOREPLY; /* answered already */
	}
	return 0;
}

/* Answer one frame. Returns 0, FAKE_NOREPLY, or <0 to close. */
static int handle(struct fake_server *s, int gen, int fd,
		  const struct uwire_frame *f)
{
	uint32_t pool = pool_of(s, gen, f->hdr.pool);
	int rc;

	s->last = f->hdr;
	s->requests++;
	memset(s->last_key, 0, sizeof(s->last_key));
	memcpy(s->last_key, f->key,
	       f->hdr.klen < sizeof(s->last_key) ? f->hdr.klen : sizeof(s->last_key));
	memcpy(s->last_val, f->value,
	       f->hdr.vlen < sizeof(s->last_val) ? f->hdr.vlen : sizeof(s->last_val));
	if (f->hdr.opcode == UWIRE_OP_HELLO)
		return op_hello(s, fd, f);
	rc = misbehave(fd, f);
	if (rc)
		return rc;
	switch (f->hdr.opcode) {
	case UWIRE_OP_PING:
		return reply(fd, &f->hdr, 0, 0, NULL, 0);
	case UWIRE_OP_POOL_OPEN:
		return op_open(s, gen, fd, f);
	case UWIRE_OP_STATS:
		if (f->hdr.pool && !pool)
			break;
		return op_stats(s, fd, f, pool);
	case UWIRE_OP_SERVER_INFO:
		return reply(fd, &f->hdr, 0, 0, FAKE_SERVER_INFO,
			     sizeof(FAKE_SERVER_INFO) - 1);
	default:
		if (!pool)
			break;
		if (f->hdr.opcode == UWIRE_OP_PUT)
			return op_put(s, fd, f, pool);
		if (f->hdr.opcode == UWIRE_OP_GET)
			return op_get(s, fd, f, pool);
		if (f->hdr.opcode == UWIRE_OP_INVALIDATE) {
			struct fake_entry *e = find(s, pool, f->key, f->hdr.klen);

			if (e)
				drop(s, e);
			return reply(fd, &f->hdr, e ? 0 : UWIRE_S_NOTFOUND, 0,
				     NULL, 0);
		}
		if (f->hdr.opcode == UWIRE_OP_POOL_FLUSH ||
		    f->hdr.opcode == UWIRE_OP_POOL_DESTROY) {
			drop_pool(s, pool);
			if (f->hdr.opcode == UWIRE_OP_POOL_DESTROY)
				s->pools[pool - 1][0] = '\0';
			return reply(fd, &f->hdr, 0, 0, NULL, 0);
		}
		return reply(fd, &f->hdr, UWIRE_S_OPCODE, 0, NULL, 0);
	}
	return reply(fd, &f->hdr, UWIRE_S_BADPOOL, 0, NULL, 0);
}

static int stopping(struct fake_server *s)
{
	int stop;

	pthread_mutex_lock(&s->lock);
	stop = s->stop;
	pthread_mutex_unlock(&s->lock);
	return stop;
}

/* Parse and answer every complete frame in buf; returns bytes consumed or -1. */
static long consume(struct fake_server *s, int gen, int fd, uint8_t *buf,
		    size_t len, size_t *need)
{
	struct uwire_limits lim = {s->max_key, s->max_value};
	struct uwire_frame f;
	size_t off = 0;

	for (;;) {
		long n = uwire_parse(buf + off, len - off, &lim, &f, need);
		int rc;

		if (n < 0) {
			reply(fd, &f.hdr, (uint16_t)-n, 0, NULL, 0);
			return -1;
		}
		if (n == 0)
			return (long)off;
		pthread_mutex_lock(&s->lock);
		rc = handle(s, gen, fd, &f);
		pthread_mutex_unlock(&s->lock);
		if (rc < 0 && rc != FAKE_NOREPLY)
			return -1;
		off += (size_t)n;
	}
}

static void *serve(void *arg)
{
	struct fake_conn *conn = arg;
	struct fake_server *s = conn->s;
	int fd = conn->fd;
	size_t cap = 64 * 1024, len = 0, need = 0;
	uint8_t *buf = malloc(cap);

	while (buf && !stopping(s)) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;
		long used;

		if (poll(&p, 1, 50) <= 0)
			continue;
		if (len == cap) {
			uint8_t *nb = realloc(buf, cap * 2);

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		used = consume(s, conn->gen, fd, buf, len, &need);
		if (used < 0)
			break;
		memmove(buf, buf + used, len - (size_t)used);
		len -= (size_t)used;
	}
	free(buf);
	close(fd);
	return NULL;
}

static void *run(void *arg)
{
	struct fake_server *s = arg;

	while (!stopping(s)) {
		struct pollfd p = {.fd = s->lfd, .events = POLLIN};
		struct fake_conn *conn;
		int fd;

		if (poll(&p, 1, 50) <= 0)
			continue;
		fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		pthread_mutex_lock(&s->lock);
		if (s->connections == FAKE_MAX_CONNS) {
			pthread_mutex_unlock(&s->lock);
			close(fd);
			continue;
		}
		conn = &s->conns[s->connections++];
		conn->s = s;
		conn->fd = fd;
		conn->gen = s->connections;
		if (pthread_create(&conn->thread, NULL, serve, conn)) {
			close(fd);
			conn->fd = -1;
		}
		pthread_mutex_unlock(&s->lock);
	}
	for (int i = 0; i < s->connections; i++)
		if (s->conns[i].fd >= 0)
			pthread_join(s->conns[i].thread, NULL);
	return NULL;
}

static int listen_unix(struct fake_server *s)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	strcpy(s->dir, "/tmp/utmem-client-test.XXXXXX");
	if (!mkdtemp(s->dir))
		return -errno;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/fake.sock", s->dir);
	snprintf(s->addr, sizeof(s->addr), "unix:%s", sun.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) ||
	    listen(fd, 8)) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	return fd;
}

static int listen_tcp(struct fake_server *s)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) ||
	    listen(fd, 8) || getsockname(fd, (struct sockaddr *)&sin, &len)) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	snprintf(s->addr, sizeof(s->addr), "tcp:127.0.0.1:%u",
		 ntohs(sin.sin_port));
	return fd;
}

int fake_start(struct fake_server *s, int tcp)
{
	if (!s->max_key)
		s->max_key = 1024;
	if (!s->max_value)
		s->max_value = 4u << 20;
	pthread_mutex_init(&s->lock, NULL);
	s->lfd = tcp ? listen_tcp(s) : listen_unix(s);
	if (s->lfd < 0)
		return s->lfd;
	if (pthread_create(&s->thread, NULL, run, s)) {
		close(s->lfd);
		return -EAGAIN;
	}
	return 0;
}

void fake_kick(struct fake_server *s)
{
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < s->connections; i++)
		if (s->conns[i].fd >= 0)
			shutdown(s->conns[i].fd, SHUT_RDWR);
	pthread_mutex_unlock(&s->lock);
}

void fake_stop(struct fake_server *s)
{
	char path[128];

	pthread_mutex_lock(&s->lock);
	s->stop = 1;
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	close(s->lfd);
	for (size_t i = 0; i < s->nentries; i++)
		free(s->entries[i].val);
	if (s->dir[0]) {
		snprintf(path, sizeof(path), "%s/fake.sock", s->dir);
		unlink(path);
		rmdir(s->dir);
	}
	pthread_mutex_destroy(&s->lock);
}

int fake_fixture_setup(void **state)
{
	struct fake_fixture *fx = calloc(1, sizeof(*fx));
	struct utmem_options opt = {.timeout_ms = 2000};

	if (!fx)
		return -1;
	fx->srv.max_value = 4u << 20;
	if (fake_start(&fx->srv, 0) ||
	    utmem_connect(fx->srv.addr, &opt, &fx->c) ||
	    utmem_pool_open(fx->c, "p1", UTMEM_POOL_CREATE, &fx->pool))
		return -1;
	*state = fx;
	return 0;
}

int fake_fixture_teardown(void **state)
{
	struct fake_fixture *fx = *state;

	utmem_close(fx->c);
	fake_stop(&fx->srv);
	free(fx);
	return 0;
}
