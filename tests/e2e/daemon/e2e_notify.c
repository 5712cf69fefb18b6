/*
 * e2e_notify.c — stands in for systemd's notification socket: binds a Unix
 * datagram socket at PATH (what $NOTIFY_SOCKET names for utmemd) and prints
 * every message it receives on one line, its lines joined by '|', until it
 * has seen STOPPING=1 or SECONDS have passed. Exit 0 if STOPPING=1 came.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char buf[4096];
	time_t end;
	int fd, stopping = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: e2e_notify PATH SECONDS\n");
		return 2;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[1]);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	unlink(argv[1]);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("bind");
		return 1;
	}
	end = time(NULL) + atoi(argv[2]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (!stopping && time(NULL) < end) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t n;
		if (poll(&p, 1, 200) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		stopping = strstr(buf, "STOPPING=1") != NULL;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\n')
				buf[i] = '|';
		printf("%s\n", buf);
	}
	close(fd);
	unlink(argv[1]);
	return stopping ? 0 : 1;
}
