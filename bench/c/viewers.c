/* Fan-out load generator: N HTTP viewers reading one stream as fast as it comes.
 *
 * usage: viewers HOST PORT PATH COUNT WARMUP_S WINDOW_S
 * Connects COUNT clients, sends one GET each, reads with epoll. Prints "START" when the
 * measuring window opens and "END" when it closes (so the caller can sample the server),
 * then one line per viewer: "<bytes in window> <status code>". A C client keeps the
 * load generator's own CPU small next to the server it measures.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 7) { fprintf(stderr, "usage: viewers HOST PORT PATH COUNT WARMUP WINDOW\n"); return 2; }
    int count = atoi(argv[4]);
    double warmup = atof(argv[5]), window = atof(argv[6]);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    inet_pton(AF_INET, argv[1], &addr.sin_addr);
    char request[512];
    int rlen = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", argv[3], argv[1]);
    int *fds = calloc(count, sizeof(int));
    long long *total = calloc(count, sizeof(long long)), *at_start = calloc(count, sizeof(long long));
    long long *at_end = calloc(count, sizeof(long long));
    int *status = calloc(count, sizeof(int));
    int ep = epoll_create1(0);
    for (int i = 0; i < count; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fds[i], (struct sockaddr *)&addr, sizeof addr) != 0) { perror("connect"); fds[i] = -1; continue; }
        if (write(fds[i], request, rlen) != rlen) { perror("write"); }
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    }
    static char buf[262144];
    double t0 = now() + warmup, t1 = t0 + window;
    int phase = 0;
    struct epoll_event events[256];
    while (phase < 2) {
        double t = now();
        if (phase == 0 && t >= t0) { memcpy(at_start, total, count * sizeof(long long)); phase = 1; puts("START"); fflush(stdout); }
        if (phase == 1 && t >= t1) { memcpy(at_end, total, count * sizeof(long long)); phase = 2; puts("END"); fflush(stdout); break; }
        double next = phase == 0 ? t0 : t1;
        int timeout = (int)((next - t) * 1000) + 1;
        int n = epoll_wait(ep, events, 256, timeout < 50 ? timeout : 50);
        for (int k = 0; k < n; k++) {
            int i = events[k].data.u32;
            ssize_t got = read(fds[i], buf, sizeof buf);
            if (got <= 0) { epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL); continue; }
            if (total[i] == 0 && got > 12 && memcmp(buf, "HTTP/1.", 7) == 0) status[i] = atoi(buf + 9);
            total[i] += got;
        }
    }
    for (int i = 0; i < count; i++) printf("%lld %d\n", at_end[i] - at_start[i], status[i]);
    return 0;
}
