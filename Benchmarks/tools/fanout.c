// Channels fan-out load generator for the benchmark harness (ours; built by channels_bench.py
// with cc). One thread, epoll: N subscriber WebSocket connections to SUB_PATH (connection i on
// the i-th port of -p, round robin), each waiting for its server's first message (it has
// subscribed); once all have it, says "subscribed" on stderr, idles PAUSE seconds, and opens one
// publisher connection to PUB_PATH (port -P, default the first). The publisher sends SIZE-byte
// binary messages, each carrying its send time (CLOCK_MONOTONIC: same machine) and sequence
// number, for SECONDS: with RATE 0, as fast as the server takes them, with at most WINDOW
// messages not yet received by every subscriber; with RATE > 0, RATE messages a second. Every
// delivery's latency goes into a histogram (1 µs steps up to 1 s, then 1 ms steps). After the
// last send it waits (up to DRAIN seconds) for what is in flight, says "finished" on stderr,
// prints JSON (subscribers, published, deliveries, expected, lost, deliveries/s over the first
// send to the last delivery, p50/p99/max ms), and idles PAUSE seconds before closing anything,
// so that the harness can read the server's CPU around the measurement alone.
//   fanout -p PORT[,PORT...] [-P PUBPORT] [-s SUB_PATH] [-u PUB_PATH] [-n SUBSCRIBERS]
//          [-d SECONDS] [-w WINDOW] [-r RATE] [-b SIZE] [-i PAUSE] [-t DRAIN]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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

enum { HANDSHAKE, UPGRADED, SUBSCRIBED };

typedef struct {
    int fd;
    int state;
    unsigned char buf[4096];
    size_t len;
} conn_t;

#define FINE 1000000    // 1 µs buckets up to 1 s
#define COARSE 100000   // then 1 ms buckets up to 100 s
static uint32_t fine[FINE], coarse[COARSE];
static uint64_t nlat;
static double maxlat;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void record(double seconds) {
    if (seconds < 0) seconds = 0;
    if (seconds > maxlat) maxlat = seconds;
    double us = seconds * 1e6;
    if (us < FINE) fine[(size_t)us]++;
    else coarse[(size_t)(us / 1000) < COARSE ? (size_t)(us / 1000) : COARSE - 1]++;
    nlat++;
}

static double percentile(double q) {
    if (nlat == 0) return 0;
    uint64_t want = (uint64_t)(nlat * q), seen = 0;
    for (size_t i = 0; i < FINE; i++) if ((seen += fine[i]) > want) return i / 1e3;
    for (size_t i = 0; i < COARSE; i++) if ((seen += coarse[i]) > want) return (double)i;
    return maxlat * 1e3;
}

static void die(const char *what) { perror(what); exit(1); }

static void write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) { if (errno == EAGAIN || errno == EINTR) continue; die("write"); }
        c += w; n -= (size_t)w;
    }
}

static const unsigned char mask[4] = {1, 2, 3, 4};

// A masked client frame: opcode, payload (<= 125 bytes). Returns its length.
static size_t client_frame(unsigned char *out, int opcode, const unsigned char *payload, size_t n) {
    out[0] = 0x80 | opcode; out[1] = 0x80 | n; memcpy(out + 2, mask, 4);
    for (size_t i = 0; i < n; i++) out[6 + i] = payload[i] ^ mask[i & 3];
    return 6 + n;
}

static int open_ws(struct sockaddr_in *addr, const char *path) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0) die("socket");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)addr, sizeof *addr) != 0) die("connect");
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path);
    write_all(fd, req, (size_t)n);
    return fd;
}

static void pause_for(double seconds) {
    struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
    const char *ports = NULL, *subpath = "/sub", *pubpath = "/pub";
    int pubport = 0, n = 10000, window = 1, size = 32;
    double seconds = 10, rate = 0, pause = 1, drain = 5;
    for (int opt; (opt = getopt(argc, argv, "p:P:s:u:n:d:w:r:b:i:t:")) != -1;) {
        switch (opt) {
        case 'p': ports = optarg; break;
        case 'P': pubport = atoi(optarg); break;
        case 's': subpath = optarg; break;
        case 'u': pubpath = optarg; break;
        case 'n': n = atoi(optarg); break;
        case 'd': seconds = atof(optarg); break;
        case 'w': window = atoi(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 'b': size = atoi(optarg); break;
        case 'i': pause = atof(optarg); break;
        case 't': drain = atof(optarg); break;
        default: ports = NULL; optind = argc; break;
        }
    }
    if (!ports || n < 1 || window < 1 || size < 12 || size > 125) {
        fprintf(stderr, "usage: fanout -p PORT[,PORT...] [-P PUBPORT] [-s SUB_PATH] [-u PUB_PATH] [-n SUBSCRIBERS] "
                        "[-d SECONDS] [-w WINDOW] [-r RATE] [-b SIZE (12-125)] [-i PAUSE] [-t DRAIN]\n");
        return 2;
    }
    struct sockaddr_in addrs[16];
    int naddrs = 0;
    for (const char *p = ports; *p && naddrs < 16; p = strchr(p, ',') ? strchr(p, ',') + 1 : p + strlen(p)) {
        addrs[naddrs] = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(atoi(p))};
        inet_pton(AF_INET, "127.0.0.1", &addrs[naddrs].sin_addr);
        naddrs++;
    }
    struct sockaddr_in pubaddr = addrs[0];
    if (pubport) pubaddr.sin_port = htons(pubport);

    int ep = epoll_create1(0);
    conn_t *conns = calloc((size_t)n + 1, sizeof(conn_t));  // the last one: the publisher
    if (!conns) die("calloc");
    double t0 = now();
    for (int i = 0; i < n; i++) {
        conns[i].fd = open_ws(&addrs[i % naddrs], subpath);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
    }
    conn_t *pub = &conns[n];
    pub->fd = -1;

    size_t cap = 1 << 16;
    uint32_t *got = calloc(cap, sizeof(uint32_t));  // deliveries by sequence number
    uint64_t published = 0, completed = 0, deliveries = 0, unexpected = 0;
    int subscribed = 0, closed = 0;
    double start = 0, deadline = 0, last_delivery = 0, last_progress = 0, next_send = 0;
    int publishing = 0, done = 0;
    unsigned char pending[1 << 16];  // publisher output the socket did not take yet
    size_t npending = 0;
    struct epoll_event events[512];

    while (!done) {
        int timeout = !publishing ? 100 : rate > 0 ? 1 : 50;
        int k = epoll_wait(ep, events, 512, timeout);
        double t = now();
        for (int e = 0; e < k; e++) {
            conn_t *c = events[e].data.ptr;
            if (c == pub && (events[e].events & EPOLLOUT) && npending) {
                ssize_t w = write(pub->fd, pending, npending);
                if (w > 0) { memmove(pending, pending + w, npending - (size_t)w); npending -= (size_t)w; }
                if (!npending) {
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = pub};
                    epoll_ctl(ep, EPOLL_CTL_MOD, pub->fd, &ev);
                }
                if (!(events[e].events & EPOLLIN)) continue;
            }
            ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
            if (r <= 0) {
                if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                closed++;
                if (c->state != SUBSCRIBED) { fprintf(stderr, "a connection closed before it had subscribed\n"); return 1; }
                continue;
            }
            c->len += (size_t)r;
            size_t off = 0;
            if (c->state == HANDSHAKE) {
                unsigned char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
                if (!end) continue;
                if (memcmp(c->buf, "HTTP/1.1 101", 12) != 0) { fprintf(stderr, "handshake refused\n"); return 1; }
                off = (size_t)(end + 4 - c->buf);
                c->state = c == pub ? SUBSCRIBED : UPGRADED;
            }
            while (c->len - off >= 2) {
                size_t plen = c->buf[off + 1] & 0x7F, hl = 2;
                if (plen == 126) { if (c->len - off < 4) break; plen = (size_t)c->buf[off + 2] << 8 | c->buf[off + 3]; hl = 4; }
                else if (plen == 127) { fprintf(stderr, "unexpected large frame\n"); return 1; }
                if (plen + hl > sizeof c->buf) { fprintf(stderr, "frame too large\n"); return 1; }
                if (c->len - off < hl + plen) break;
                int op = c->buf[off] & 0x0F;
                unsigned char *payload = c->buf + off + hl;
                off += hl + plen;
                if (op == 9 && plen <= 125) {  // ping: pong (dispatchd's keepalive)
                    unsigned char pong[131];
                    write_all(c->fd, pong, client_frame(pong, 10, payload, plen));
                } else if (op == 8) {
                    fprintf(stderr, "the server closed a connection (code %d)\n", plen >= 2 ? payload[0] << 8 | payload[1] : 0);
                } else if ((op == 1 || op == 2) && c != pub) {
                    if (c->state == UPGRADED) {
                        c->state = SUBSCRIBED;
                        subscribed++;
                    } else if (op == 2 && plen == (size_t)size) {
                        double sent;
                        uint32_t seq;
                        memcpy(&sent, payload, 8);
                        memcpy(&seq, payload + 8, 4);
                        if (seq >= published) { unexpected++; continue; }
                        record(t - sent);
                        deliveries++;
                        last_delivery = last_progress = t;
                        if (++got[seq] == (uint32_t)n) completed++;
                    } else {
                        unexpected++;
                    }
                }
            }
            memmove(c->buf, c->buf + off, c->len - off);
            c->len -= off;
        }
        if (!publishing && subscribed == n && pub->fd < 0) {
            fprintf(stderr, "subscribed %d in %.1f s\n", n, t - t0);
            pause_for(pause);
            pub->fd = open_ws(&pubaddr, pubpath);
            // The publisher's handshake, read here (it is the only thing in flight).
            while (pub->state == HANDSHAKE) {
                ssize_t r = read(pub->fd, pub->buf + pub->len, sizeof pub->buf - pub->len);
                if (r <= 0) die("publisher handshake");
                pub->len += (size_t)r;
                unsigned char *end = memmem(pub->buf, pub->len, "\r\n\r\n", 4);
                if (!end) continue;
                if (memcmp(pub->buf, "HTTP/1.1 101", 12) != 0) { fprintf(stderr, "publisher handshake refused\n"); return 1; }
                pub->len -= (size_t)(end + 4 - pub->buf);
                memmove(pub->buf, end + 4, pub->len);
                pub->state = SUBSCRIBED;
            }
            fcntl(pub->fd, F_SETFL, fcntl(pub->fd, F_GETFL) | O_NONBLOCK);
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = pub};
            epoll_ctl(ep, EPOLL_CTL_ADD, pub->fd, &ev);
            publishing = 1;
            t = start = next_send = last_progress = now();
            deadline = start + seconds;
        }
        if (!publishing) {
            if (closed) { fprintf(stderr, "connections closed while subscribing\n"); return 1; }
            continue;
        }
        // Publish: the window's free places, or what the rate has made due.
        int sends = 0;
        while (t < deadline && npending == 0 && sends < 1000 &&
               (rate > 0 ? next_send <= t : published - completed < (uint64_t)window)) {
            if (published == cap) {
                got = realloc(got, cap * 2 * sizeof(uint32_t));
                if (!got) die("realloc");
                memset(got + cap, 0, cap * sizeof(uint32_t));
                cap *= 2;
            }
            unsigned char payload[125], frame[131];
            memset(payload, 'x', (size_t)size);
            uint32_t seq = (uint32_t)published;
            double sent = now();
            memcpy(payload, &sent, 8);
            memcpy(payload + 8, &seq, 4);
            size_t len = client_frame(frame, 2, payload, (size_t)size);
            published++;
            sends++;
            next_send += rate > 0 ? 1 / rate : 0;
            ssize_t w = write(pub->fd, frame, len);
            if (w < 0 && errno != EAGAIN) die("publish");
            if (w < (ssize_t)len) {
                w = w < 0 ? 0 : w;
                memcpy(pending, frame + w, len - (size_t)w);
                npending = len - (size_t)w;
                struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = pub};
                epoll_ctl(ep, EPOLL_CTL_MOD, pub->fd, &ev);
            }
        }
        if (t >= deadline && (completed == published || t - last_progress > drain)) done = 1;
        if (rate <= 0 && t < deadline && t - last_progress > drain) {
            fprintf(stderr, "no delivery for %.0f s: the run ends early\n", drain);
            done = 1;
        }
    }
    fprintf(stderr, "finished\n");
    uint64_t expected = published * (uint64_t)n;
    double elapsed = last_delivery > start ? last_delivery - start : 1e-9;
    printf("{\"subscribers\": %d, \"published\": %llu, \"deliveries\": %llu, \"expected\": %llu, \"lost\": %lld, "
           "\"unexpected\": %llu, \"closed\": %d, \"seconds\": %.3f, \"deliveries_per_s\": %.0f, "
           "\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f}\n",
           n, (unsigned long long)published, (unsigned long long)deliveries, (unsigned long long)expected,
           (long long)(expected - deliveries), (unsigned long long)unexpected, closed, elapsed, deliveries / elapsed,
           percentile(0.5), percentile(0.99), maxlat * 1e3);
    fflush(stdout);
    pause_for(pause);
    return 0;
}
