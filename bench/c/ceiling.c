/* The practical ceiling: a minimal non-Python server streaming the same bytes at the
 * same rate to every viewer.
 *
 * usage: ceiling PORT FILE RATE_BYTES_PER_S
 * Every connection gets an HTTP 200 header, then FILE looped, paced to RATE by a 10 ms
 * tick (each viewer is sent what is due since it connected, non-blocking; a viewer whose
 * socket is full is simply sent less). One thread, no per-viewer copies.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAXC 4096
static const char HEAD[] = "HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nCache-Control: no-cache\r\n\r\n";

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: ceiling PORT FILE RATE\n"); return 2; }
    double rate = atof(argv[3]);
    int f = open(argv[2], O_RDONLY);
    struct stat st;
    if (f < 0 || fstat(f, &st) != 0 || st.st_size == 0) { perror(argv[2]); return 1; }
    char *data = malloc(st.st_size);
    if (read(f, data, st.st_size) != st.st_size) { perror("read"); return 1; }
    long long size = st.st_size;
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1])), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(ls, (struct sockaddr *)&addr, sizeof addr) || listen(ls, 1024)) { perror("bind"); return 1; }
    fcntl(ls, F_SETFL, O_NONBLOCK);
    int fd[MAXC]; double since[MAXC]; long long sent[MAXC]; int n = 0;
    static char drain[4096];
    for (;;) {
        int c;
        while (n < MAXC && (c = accept(ls, NULL, NULL)) >= 0) {
            fcntl(c, F_SETFL, O_NONBLOCK);
            if (write(c, HEAD, sizeof HEAD - 1) < 0) { close(c); continue; }
            fd[n] = c; since[n] = now(); sent[n] = 0; n++;
        }
        double t = now();
        for (int i = 0; i < n; i++) {
            while (read(fd[i], drain, sizeof drain) > 0) {}
            long long due = (long long)((t - since[i]) * rate);
            while (sent[i] < due) {
                long long off = sent[i] % size, len = due - sent[i];
                if (len > size - off) len = size - off;
                ssize_t w = send(fd[i], data + off, len, MSG_NOSIGNAL);
                if (w <= 0) {
                    if (w < 0 && errno != EAGAIN) { close(fd[i]); fd[i] = fd[--n]; since[i] = since[n]; sent[i] = sent[n]; i--; }
                    break;
                }
                sent[i] += w;
            }
        }
        usleep(10000);
    }
}
