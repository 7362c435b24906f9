/*
 * fanload — load for fan-out (broadcast) benchmarks (issue 19).
 *
 *   fanload -n SUBSCRIBERS -w WINDOW -s SIZE -d SECS [--warmup SECS] PUB_URL SUB_URL [SUB_URL...]
 *
 * Opens SUBSCRIBERS WebSocket connections to the SUB_URLs (round-robin) that only read, and one publisher
 * connection to PUB_URL that sends SIZE-byte binary messages (masked, as a client must), each carrying its send
 * time and sequence number.  The server must deliver every message the publisher sends to every subscriber
 * (a chat room, a topic).  Flow control: message k is sent only once the subscribers together have received
 * (k - WINDOW) * SUBSCRIBERS messages, so WINDOW messages at most are in flight and no server queue grows; the
 * throughput is then what the server sustains.  Delivery latency: the send time of a message to its arrival at
 * a subscriber, for every delivery.
 *
 * Output: RESULT delivered_per_s=X published_per_s=Y p50_us=A p99_us=B p999_us=C subscribers=N errors=E
 *
 * Only loopback URLs (ws://127.0.0.1:PORT/PATH).  Single-threaded, epoll.  Build: cc -O2 -o fanload fanload.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RBUF (256 * 1024)
#define HIST_US 200000

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *message) {
  fprintf(stderr, "fanload: %s\n", message);
  exit(3);
}

typedef struct {
  int fd;
  unsigned char *buf;
  size_t len;
} conn_t;

static int parse_url(const char *url, int *port, char *path, size_t path_size) {
  if (strncmp(url, "ws://127.0.0.1:", 15) != 0) return -1;
  char *end;
  long value = strtol(url + 15, &end, 10);
  if (value <= 0 || value > 65535) return -1;
  *port = (int)value;
  snprintf(path, path_size, "%s", *end ? end : "/");
  return 0;
}

/* Connects, upgrades, and returns a non-blocking socket (bytes after the 101 are kept in *leftover). */
static int open_ws(const char *url, unsigned char *leftover, size_t *leftover_len) {
  int port;
  char path[512];
  if (parse_url(url, &port, path, sizeof path) != 0) die("only ws://127.0.0.1:PORT/PATH URLs");
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) die("connect failed");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char request[1024];
  int n = snprintf(request, sizeof request,
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                   path, port);
  if (write(fd, request, n) != n) die("handshake write failed");
  char head[4096];
  size_t got = 0;
  char *end = NULL;
  while (!end) {
    ssize_t r = read(fd, head + got, sizeof head - 1 - got);
    if (r <= 0) die("handshake read failed");
    got += r;
    head[got] = 0;
    end = strstr(head, "\r\n\r\n");
    if (!end && got >= sizeof head - 1) die("handshake head too long");
  }
  if (strncmp(head, "HTTP/1.1 101", 12) != 0) die("upgrade refused");
  size_t head_len = (size_t)(end - head) + 4;
  *leftover_len = got - head_len;
  memcpy(leftover, head + head_len, *leftover_len);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

static unsigned *histogram;
static uint64_t delivered, measured_delivered, errors;
static uint64_t measuring_from, measuring_until;

static void record(const unsigned char *payload, size_t len, uint64_t now) {
  delivered++;
  if (len < 16) {
    errors++;
    return;
  }
  uint64_t sent;
  memcpy(&sent, payload, 8);
  if (now >= measuring_from && now < measuring_until) {
    measured_delivered++;
    uint64_t us = (now - sent) / 1000;
    histogram[us < HIST_US ? us : HIST_US - 1]++;
  }
}

/* Consumes whole frames from a subscriber's buffer. */
static void consume(conn_t *c, uint64_t now) {
  size_t offset = 0;
  while (c->len - offset >= 2) {
    unsigned char *p = c->buf + offset;
    uint64_t length = p[1] & 0x7f;
    size_t header = 2;
    if (p[1] & 0x80) errors++; /* servers must not mask */
    if (length == 126) {
      if (c->len - offset < 4) break;
      length = (uint64_t)p[2] << 8 | p[3];
      header = 4;
    } else if (length == 127) {
      if (c->len - offset < 10) break;
      length = 0;
      for (int i = 2; i < 10; i++) length = length << 8 | p[i];
      header = 10;
    }
    if (c->len - offset < header + length) break;
    int opcode = p[0] & 0x0f;
    if (opcode == 1 || opcode == 2) record(p + header, length, now);
    else if (opcode == 8) errors++;
    offset += header + length;
  }
  memmove(c->buf, c->buf + offset, c->len - offset);
  c->len -= offset;
}

static uint64_t percentile(double q) {
  uint64_t total = 0;
  for (int i = 0; i < HIST_US; i++) total += histogram[i];
  uint64_t target = (uint64_t)(q * (double)total);
  uint64_t seen = 0;
  for (int i = 0; i < HIST_US; i++) {
    seen += histogram[i];
    if (seen > target) return i;
  }
  return HIST_US;
}

int main(int argc, char **argv) {
  int subscribers = 1000, window = 16, size = 64;
  double duration = 5, warmup = 1;
  int first_url = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-n") && i + 1 < argc) subscribers = atoi(argv[++i]);
    else if (!strcmp(argv[i], "-w") && i + 1 < argc) window = atoi(argv[++i]);
    else if (!strcmp(argv[i], "-s") && i + 1 < argc) size = atoi(argv[++i]);
    else if (!strcmp(argv[i], "-d") && i + 1 < argc) duration = atof(argv[++i]);
    else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) warmup = atof(argv[++i]);
    else { first_url = i; break; }
  }
  if (!first_url || argc - first_url < 2 || subscribers < 1 || window < 1 || size < 16 || size > 125)
    die("usage: fanload -n SUBS -w WINDOW -s SIZE(16-125) -d SECS [--warmup SECS] PUB_URL SUB_URL...");
  signal(SIGPIPE, SIG_IGN);
  alarm((unsigned)(duration + warmup + 60));
  struct rlimit limit;
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  histogram = calloc(HIST_US, sizeof *histogram);
  int sub_urls = argc - first_url - 1;
  int ep = epoll_create1(0);
  conn_t *subs = calloc(subscribers, sizeof *subs);
  for (int i = 0; i < subscribers; i++) {
    subs[i].buf = malloc(RBUF);
    subs[i].fd = open_ws(argv[first_url + 1 + i % sub_urls], subs[i].buf, &subs[i].len);
    struct epoll_event event = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, subs[i].fd, &event);
  }
  unsigned char scratch[4096];
  size_t scratch_len;
  int pub = open_ws(argv[first_url], scratch, &scratch_len);
  /* Let the server register every subscription (topics, Redis SUBSCRIBE) before measuring. */
  usleep(500000);
  unsigned char frame[2 + 4 + 125];
  frame[0] = 0x82;
  frame[1] = 0x80 | (unsigned char)size;
  const unsigned char key[4] = {0x12, 0x34, 0x56, 0x78};
  memcpy(frame + 2, key, 4);
  size_t frame_len = 6 + (size_t)size;
  unsigned char *out = malloc(1 << 20);
  size_t out_len = 0;
  uint64_t sent = 0;
  uint64_t start = now_ns();
  measuring_from = start + (uint64_t)(warmup * 1e9);
  measuring_until = measuring_from + (uint64_t)(duration * 1e9);
  uint64_t published_at_start = 0, published_at_end = 0;
  int started = 0, ended = 0;
  struct epoll_event events[256];
  for (;;) {
    uint64_t now = now_ns();
    if (!started && now >= measuring_from) { started = 1; published_at_start = sent; }
    if (now >= measuring_until) { ended = 1; published_at_end = sent; break; }
    /* Publish what the window allows. */
    while ((sent + 1) <= delivered / (uint64_t)subscribers + (uint64_t)window && out_len + frame_len < (1 << 20)) {
      unsigned char payload[125];
      memset(payload, 'x', size);
      uint64_t t = now_ns();
      memcpy(payload, &t, 8);
      memcpy(payload + 8, &sent, 8);
      for (int i = 0; i < size; i++) frame[6 + i] = payload[i] ^ key[i & 3];
      memcpy(out + out_len, frame, frame_len);
      out_len += frame_len;
      sent++;
    }
    if (out_len) {
      ssize_t w = send(pub, out, out_len, MSG_NOSIGNAL);
      if (w > 0) {
        memmove(out, out + w, out_len - (size_t)w);
        out_len -= (size_t)w;
      } else if (w < 0 && errno != EAGAIN) die("publisher write failed");
    }
    /* The publisher's socket: drain whatever the server sends it (nothing, normally). */
    while (recv(pub, scratch, sizeof scratch, MSG_DONTWAIT) > 0) {}
    int n = epoll_wait(ep, events, 256, 1);
    now = now_ns();
    for (int e = 0; e < n; e++) {
      conn_t *c = &subs[events[e].data.u32];
      for (;;) {
        ssize_t r = read(c->fd, c->buf + c->len, RBUF - c->len);
        if (r > 0) {
          c->len += (size_t)r;
          consume(c, now);
          if (c->len == RBUF) die("a frame larger than the read buffer");
          continue;
        }
        if (r == 0) die("a subscriber was closed by the server");
        if (errno == EAGAIN) break;
        die("subscriber read failed");
      }
    }
  }
  (void)ended;
  printf("RESULT delivered_per_s=%.0f published_per_s=%.0f p50_us=%lu p99_us=%lu p999_us=%lu subscribers=%d "
         "errors=%lu\n",
         (double)measured_delivered / duration, (double)(published_at_end - published_at_start) / duration,
         (unsigned long)percentile(0.50), (unsigned long)percentile(0.99), (unsigned long)percentile(0.999),
         subscribers, (unsigned long)errors);
  return 0;
}
