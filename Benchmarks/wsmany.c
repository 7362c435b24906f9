// wsmany: opens many WebSocket sessions to one server on loopback and holds them (issue 34's load tool).
//
// Build: cc -O2 -o wsmany Benchmarks/wsmany.c -lcrypto
// Usage: wsmany --port P [--host 127.0.0.1] [--connections N] [--rate PER_SECOND] [--sources K] [--hold SECONDS]
//               [--path /] [--echo-samples M] [--echo-after SECONDS]
//
// Opens N sessions at a bounded rate, each from one of K loopback source addresses (127.0.0.2 upwards, so that the
// 4-tuple space is not the limit), completes each upgrade (checking Sec-WebSocket-Accept, RFC 6455 section 4.2.2),
// answers the server's pings with masked pongs, and holds the sessions for --hold seconds (or until the server has
// closed them all). Once connected it prints `CONNECTED open=N failed=F connect_s=T` (for a script that waits). Then,
// after --echo-after seconds of holding (default 0), it measures the echo round trip of a fresh session (M text
// messages of 32 bytes, one at a time, the held sessions served between them) while the others are held; at the end
// it closes everything and prints one line:
//
//   RESULT open=N held=H failed=F going_away=G connect_s=T connect_rate=R pings=P echo_p50_us=A echo_p99_us=B held_s=S
//
// (held: still open at the end; going_away: closed by the server with 1001, a graceful shutdown, not a failure).
//
// Every loop is bounded in count and time; loopback only (--host must be 127.x.y.z). A process can hold about
// 19,000 sessions (RLIMIT_NOFILE is 20,000 here): run several for more.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum phase { CONNECTING, HANDSHAKING, OPEN, DEAD };

struct conn {
  int fd;
  enum phase phase;
  char accept[32];      // the Sec-WebSocket-Accept we expect
  uint16_t have;        // bytes buffered in buf
  unsigned char buf[256];
};

static struct conn *conns;
static int epfd;
static long open_count, failed, pings_answered, going_away;
// Failures by kind: the connect (an errno), an answer other than 101 or a wrong accept, the peer's end (EOF or reset).
static long fail_connect, fail_status, fail_eof, fail_close;
static int first_close_code;
static int first_errno;
static const char *host = "127.0.0.1";
static const char *path = "/";
static int port;

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void fail(struct conn *c) {
  if (c->phase == DEAD) return;
  if (c->phase == OPEN) open_count--;
  c->phase = DEAD;
  failed++;
  close(c->fd);
  c->fd = -1;
}

// The key and the accept value it must come back with (SHA-1 of key + GUID, base64).
static void make_key(char key[25], char accept[32]) {
  unsigned char raw[16];
  if (getrandom(raw, sizeof raw, 0) != sizeof raw) abort();
  EVP_EncodeBlock((unsigned char *)key, raw, 16);
  char joined[64];
  snprintf(joined, sizeof joined, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1((unsigned char *)joined, strlen(joined), digest);
  EVP_EncodeBlock((unsigned char *)accept, digest, SHA_DIGEST_LENGTH);
}

static int start_connect(struct conn *c, int index, int sources) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) return -1;
  struct sockaddr_in source = {.sin_family = AF_INET, .sin_port = 0};
  source.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(index % sources));
  int one = 1;
  setsockopt(c->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (bind(c->fd, (struct sockaddr *)&source, sizeof source) != 0) return -1;
  struct sockaddr_in target = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, host, &target.sin_addr);
  if (connect(c->fd, (struct sockaddr *)&target, sizeof target) != 0 && errno != EINPROGRESS) return -1;
  c->phase = CONNECTING;
  c->have = 0;
  struct epoll_event event = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.u32 = (uint32_t)index};
  return epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &event);
}

static int send_all(int fd, const void *bytes, size_t count) {
  return send(fd, bytes, count, MSG_NOSIGNAL) == (ssize_t)count ? 0 : -1;
}

// A masked frame (RFC 6455 section 5.3: a client masks every frame); payload at most 125 bytes.
static int send_frame(int fd, int opcode, const unsigned char *payload, size_t length) {
  unsigned char frame[2 + 4 + 125];
  frame[0] = (unsigned char)(0x80 | opcode);
  frame[1] = (unsigned char)(0x80 | length);
  if (getrandom(frame + 2, 4, 0) != 4) abort();
  for (size_t i = 0; i < length; i++) frame[6 + i] = payload[i] ^ frame[2 + i % 4];
  return send_all(fd, frame, 6 + length);
}

static void on_writable(struct conn *c) {
  int error = 0;
  socklen_t length = sizeof error;
  getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &length);
  if (error != 0) {
    fail_connect++;
    if (!first_errno) first_errno = error;
    return fail(c);
  }
  char key[25], request[512];
  make_key(key, c->accept);
  int n = snprintf(request, sizeof request,
                   "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                   path, host, port, key);
  if (send_all(c->fd, request, (size_t)n) != 0) return fail(c);
  c->phase = HANDSHAKING;
  struct epoll_event event = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)(c - conns)};
  epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &event);
}

// Frames from the server while held: pings are answered, a close is answered and ends the session, data is dropped.
static void on_frames(struct conn *c) {
  while (c->have >= 2) {
    int opcode = c->buf[0] & 0x0f;
    size_t length = c->buf[1] & 0x7f;
    if ((c->buf[1] & 0x80) || length > 125) {  // servers do not mask; held sessions get no big frames
      fail_status++;
      return fail(c);
    }
    if (c->have < 2 + length) return;
    if (opcode == 0x9) {
      if (send_frame(c->fd, 0xA, c->buf + 2, length) != 0) return fail(c);
      pings_answered++;
    } else if (opcode == 0x8) {
      // The server's close: answered (echoing the code), then the connection ends. 1001 is a graceful shutdown.
      send_frame(c->fd, 0x8, c->buf + 2, length >= 2 ? 2 : 0);
      if (length >= 2 && ((c->buf[2] << 8) | c->buf[3]) == 1001) {
        open_count--;
        going_away++;
        c->phase = DEAD;
        close(c->fd);
        c->fd = -1;
        return;
      }
      fail_close++;
      if (!first_close_code) first_close_code = length >= 2 ? (c->buf[2] << 8) | c->buf[3] : 1005;
      return fail(c);
    }
    memmove(c->buf, c->buf + 2 + length, c->have - 2 - length);
    c->have -= (uint16_t)(2 + length);
  }
}

static void on_readable(struct conn *c) {
  for (int rounds = 0; rounds < 16; rounds++) {
    ssize_t n = recv(c->fd, c->buf + c->have, sizeof c->buf - c->have, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN)) {
      fail_eof++;
      if (n < 0 && !first_errno) first_errno = errno;
      return fail(c);
    }
    if (n < 0) return;
    c->have += (uint16_t)n;
    if (c->phase == HANDSHAKING) {
      char *end = memmem(c->buf, c->have, "\r\n\r\n", 4);
      if (!end) {
        if (c->have == sizeof c->buf) return fail(c);
        continue;
      }
      size_t head = (size_t)(end - (char *)c->buf) + 4;
      char accept_line[64];
      snprintf(accept_line, sizeof accept_line, "Sec-WebSocket-Accept: %s\r\n", c->accept);
      if (memcmp(c->buf, "HTTP/1.1 101", 12) != 0 || !memmem(c->buf, head, accept_line, strlen(accept_line))) {
        fail_status++;
        return fail(c);
      }
      memmove(c->buf, c->buf + head, c->have - head);
      c->have -= (uint16_t)head;
      c->phase = OPEN;
      open_count++;
    }
    if (c->phase == OPEN) on_frames(c);
    if (c->phase == DEAD) return;
  }
}

static void poll_once(int timeout_ms) {
  struct epoll_event events[512];
  int n = epoll_wait(epfd, events, 512, timeout_ms);
  for (int i = 0; i < n; i++) {
    struct conn *c = &conns[events[i].data.u32];
    if (c->phase == DEAD) continue;
    if (c->phase == CONNECTING && (events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
      on_writable(c);
      continue;
    }
    if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) on_readable(c);
  }
}

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

// The echo round trip of one fresh session, `samples` messages one at a time (blocking, bounded by 5 s each; the held
// sessions are served between samples).
static void fresh_echo(int samples, double *p50, double *p99) {
  *p50 = *p99 = -1;
  if (samples <= 0) return;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in target = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, host, &target.sin_addr);
  struct timeval limit = {.tv_sec = 5};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&target, sizeof target) != 0) goto done;
  char key[25], accept[32], request[512];
  make_key(key, accept);
  int n = snprintf(request, sizeof request,
                   "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                   path, host, port, key);
  if (send_all(fd, request, (size_t)n) != 0) goto done;
  unsigned char buf[4096];
  size_t have = 0;
  char *end = NULL;
  while (!end && have < sizeof buf) {
    ssize_t got = recv(fd, buf + have, sizeof buf - have, 0);
    if (got <= 0) goto done;
    have += (size_t)got;
    end = memmem(buf, have, "\r\n\r\n", 4);
  }
  if (!end || memcmp(buf, "HTTP/1.1 101", 12) != 0) goto done;
  double *rtt = calloc((size_t)samples, sizeof *rtt);
  int measured = 0;
  unsigned char message[32];
  memset(message, 'x', sizeof message);
  for (int i = 0; i < samples; i++) {
    double start = now_s();
    if (send_frame(fd, 0x1, message, sizeof message) != 0) break;
    size_t need = 2 + sizeof message, got_total = 0;
    unsigned char reply[64];
    while (got_total < need) {
      ssize_t got = recv(fd, reply + got_total, need - got_total, 0);
      if (got <= 0) break;
      got_total += (size_t)got;
    }
    if (got_total < need) break;
    rtt[measured++] = (now_s() - start) * 1e6;
    // The held sessions' pings are answered between samples: a load tool that stops answering while it measures
    // makes the server close its sessions with 1011 (pong timeout) on a loaded machine.
    poll_once(0);
  }
  if (measured > 0) {
    qsort(rtt, (size_t)measured, sizeof *rtt, compare_double);
    *p50 = rtt[measured / 2];
    *p99 = rtt[(measured * 99) / 100 < measured ? (measured * 99) / 100 : measured - 1];
  }
  free(rtt);
done:
  close(fd);
}

int main(int argc, char **argv) {
  int count = 1000, rate = 5000, sources = 200, samples = 1000;
  double echo_after = 0;
  double hold = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--host")) host = argv[i + 1];
    else if (!strcmp(argv[i], "--connections")) count = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--rate")) rate = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--sources")) sources = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--hold")) hold = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--path")) path = argv[i + 1];
    else if (!strcmp(argv[i], "--echo-samples")) samples = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--echo-after")) echo_after = atof(argv[i + 1]);
    else {
      fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (port <= 0 || count <= 0 || rate <= 0 || sources <= 0 || sources > 250 || strncmp(host, "127.", 4) != 0) {
    fprintf(stderr, "usage: wsmany --port P [--connections N] [--rate R] [--sources K<=250] (loopback only)\n");
    return 2;
  }
  struct rlimit limit;
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  if ((rlim_t)count + 32 > limit.rlim_cur) {
    fprintf(stderr, "wsmany: %d connections need more descriptors than the limit %lu: run several processes\n", count,
            (unsigned long)limit.rlim_cur);
    return 2;
  }
  conns = calloc((size_t)count, sizeof *conns);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  double started = now_s();
  int opened = 0;
  // Connect phase: at most `rate` new connections a second, bounded by count / rate + 60 s.
  double connect_deadline = started + (double)count / rate + 60;
  while (now_s() < connect_deadline) {
    double elapsed = now_s() - started;
    int due = (int)(elapsed * rate) + 1;
    if (due > count) due = count;
    while (opened < due) {
      if (start_connect(&conns[opened], opened, sources) != 0) {
        fail_connect++;
        if (!first_errno) first_errno = errno;
        conns[opened].phase = CONNECTING;
        fail(&conns[opened]);
      }
      opened++;
    }
    poll_once(1);
    if (opened == count && open_count + failed >= count) break;
  }
  double connect_s = now_s() - started;
  long opened_ok = open_count;
  printf("CONNECTED open=%ld failed=%ld connect_s=%.3f\n", opened_ok, failed, connect_s);
  fflush(stdout);
  // The fresh session's echo while every other session is held (before any shutdown the caller may start), after
  // --echo-after seconds of holding (so that other load processes have finished connecting too).
  double echo_at = now_s() + echo_after;
  while (now_s() < echo_at) poll_once(100);
  double p50, p99;
  fresh_echo(samples, &p50, &p99);
  // Hold phase: answer pings, bounded by --hold.
  double hold_until = now_s() + hold;
  // Ends early once the server has closed every session (a graceful shutdown).
  while (now_s() < hold_until && !(opened_ok > 0 && open_count == 0)) poll_once(100);
  for (int i = 0; i < count; i++)
    if (conns[i].phase != DEAD) close(conns[i].fd);
  printf("RESULT open=%ld held=%ld failed=%ld going_away=%ld connect_s=%.3f connect_rate=%.0f pings=%ld "
         "echo_p50_us=%.1f echo_p99_us=%.1f held_s=%.1f fail_connect=%ld fail_status=%ld fail_eof=%ld "
         "fail_close=%ld first_close_code=%d first_error=\"%s\"\n",
         opened_ok, open_count, failed, going_away, connect_s, opened_ok / (connect_s > 0 ? connect_s : 1),
         pings_answered, p50, p99, hold, fail_connect, fail_status, fail_eof, fail_close, first_close_code,
         first_errno ? strerror(first_errno) : "none");
  return failed == 0 ? 0 : 1;
}
