// WebSocket echo load generator for the benchmark harness (ours; built by ws_bench.py with cc).
// One thread, epoll: N connections each send a small masked text frame and wait for its echo,
// `inflight` at a time, for D seconds. Prints JSON: connections, messages, msgs/s, p50/p99 ms.
// With INTERVAL > 0 (hold mode), each connection instead sends one message every INTERVAL
// seconds (staggered); with PAUSE, it first idles that long once all are connected (and says
// "connected" on stderr), so the harness can read the server's memory; with AFTER, once the
// SECONDS are over it says "done" and idles that long again before it closes the connections.
//   wsload PORT PATH CONNECTIONS SECONDS [INFLIGHT] [SIZE] [INTERVAL] [PAUSE] [AFTER]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd;
    int upgraded;
    unsigned char buf[1 << 16];
    size_t len;
    double sent_at[64];
    double next_send;
    int head, tail;  // ring of send times
} conn_t;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned char frame[256];
static size_t frame_len;

static void send_frame(conn_t *c) {
    c->sent_at[c->tail++ & 63] = now();
    if (write(c->fd, frame, frame_len) != (ssize_t)frame_len) { perror("write"); exit(1); }
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: wsload PORT PATH CONNECTIONS SECONDS [INFLIGHT] [SIZE]\n"); return 2; }
    int port = atoi(argv[1]), n = atoi(argv[3]), inflight = argc > 5 ? atoi(argv[5]) : 1, size = argc > 6 ? atoi(argv[6]) : 32;
    double seconds = atof(argv[4]);
    double interval = argc > 7 ? atof(argv[7]) : 0, pause = argc > 8 ? atof(argv[8]) : 0;
    double after = argc > 9 ? atof(argv[9]) : 0;
    const char *path = argv[2];
    if (size > 125 || inflight > 60) { fprintf(stderr, "size <= 125, inflight <= 60\n"); return 2; }
    unsigned char mask[4] = {1, 2, 3, 4};
    frame[0] = 0x81; frame[1] = 0x80 | size; memcpy(frame + 2, mask, 4);
    for (int i = 0; i < size; i++) frame[6 + i] = 'x' ^ mask[i & 3];
    frame_len = 6 + size;

    int ep = epoll_create1(0);
    conn_t *conns = calloc(n, sizeof(conn_t));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    char req[512];
    int reqlen = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path);
    for (int i = 0; i < n; i++) {
        conn_t *c = &conns[i];
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("connect"); return 1; }
        if (write(c->fd, req, reqlen) != reqlen) { perror("write"); return 1; }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    size_t cap = 1 << 20, count = 0, nlat = 0;
    double *lat = malloc(cap * sizeof(double));
    double start = 0, deadline = 1e18;
    int ready = 0, closed = 0;
    struct epoll_event events[256];
    while (now() < deadline) {
        int k = epoll_wait(ep, events, 256, interval > 0 ? 5 : 100);
        for (int e = 0; e < k; e++) {
            conn_t *c = events[e].data.ptr;
            ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                closed++;
                continue;
            }
            c->len += r;
            size_t off = 0;
            if (!c->upgraded) {
                unsigned char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
                if (!end) continue;
                if (memcmp(c->buf, "HTTP/1.1 101", 12) != 0) { fprintf(stderr, "handshake refused\n"); return 1; }
                off = end + 4 - c->buf;
                c->upgraded = 1;
                if (++ready == n) {
                    if (pause > 0) {
                        fprintf(stderr, "connected\n");
                        struct timespec ts = {(time_t)pause, (long)((pause - (time_t)pause) * 1e9)};
                        nanosleep(&ts, NULL);
                    }
                    start = now();
                    deadline = start + seconds;
                    for (int i = 0; i < n; i++) {
                        if (interval > 0) {
                            conns[i].next_send = start + interval * i / n;
                        } else {
                            for (int j = 0; j < inflight; j++) send_frame(&conns[i]);
                        }
                    }
                }
            }
            while (c->len - off >= 2) {
                size_t plen = c->buf[off + 1] & 0x7F, hl = 2;
                if (plen == 126) { if (c->len - off < 4) break; plen = c->buf[off + 2] << 8 | c->buf[off + 3]; hl = 4; }
                else if (plen == 127) { fprintf(stderr, "unexpected large frame\n"); return 1; }
                if (c->len - off < hl + plen) break;
                int op = c->buf[off] & 0x0F;
                off += hl + plen;
                if (op == 1 || op == 2) {
                    double t = now();
                    if (nlat < cap) lat[nlat++] = t - c->sent_at[c->head++ & 63];
                    count++;
                    if (t < deadline && interval <= 0) send_frame(c);
                }
            }
            memmove(c->buf, c->buf + off, c->len - off);
            c->len -= off;
        }
        if (interval > 0 && ready == n) {
            double t = now();
            for (int i = 0; i < n; i++) {
                if (conns[i].next_send <= t && t < deadline) {
                    send_frame(&conns[i]);
                    conns[i].next_send += interval;
                }
            }
        }
        if (ready < n && closed > 0) { fprintf(stderr, "connections closed during the handshake\n"); return 1; }
    }
    double elapsed = now() - start;
    if (after > 0) {
        fprintf(stderr, "done\n");
        struct timespec ts = {(time_t)after, (long)((after - (time_t)after) * 1e9)};
        nanosleep(&ts, NULL);
    }
    qsort(lat, nlat, sizeof(double), cmp);
    printf("{\"connected\": %d, \"closed\": %d, \"messages\": %zu, \"msgs_per_s\": %.0f, \"p50_ms\": %.3f, \"p99_ms\": %.3f}\n",
           ready, closed, count, count / elapsed, nlat ? lat[nlat / 2] * 1000 : 0, nlat ? lat[(size_t)(nlat * 0.99)] * 1000 : 0);
    return 0;
}
