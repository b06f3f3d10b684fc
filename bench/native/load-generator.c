/*
 * The bench's load generator: one thread, epoll, raw sockets. It opens SSE (or Socket.IO) subscribers,
 * counts the marked messages each receives and their publish-to-receive latency, and publishes over
 * kept-alive HTTP/1.1 connections, so one clock stamps both ends. Written in C so that it out-runs the
 * fastest server measured: the bench reports its CPU beside every figure, and a figure counts only while
 * it stays under its core.
 *
 * Every message the bench publishes carries `~t<send ms>,` in its data (wrk's script stamps the same
 * mark); a scan of the received bytes counts each one and takes its latency, whatever the framing around
 * it (SSE, JSON-quoted SSE, WebSocket frames).
 *
 * Driven by the bench over stdin, one command per line, `name key=value ...` (values carry no spaces);
 * answers are JSON lines on stdout:
 *   connect port= count= first= mode=sse|socket.io path=<{i} = index> sources=a,b last=<id> window= capms=
 *       -> {"event":"connected","count","registered","failed","ms","cpuMs"}
 *   publish port= style=herald|nchan pattern=all|user|batch count= rate= concurrency= users= batch= capms=
 *       -> {"event":"published","sent","ms","cpuMs","lastBody"}
 *   expect total=      -> {"event":"expecting"}, later {"event":"done","at","received","cpuMs"}
 *   target total=      (raise the target without resetting counts) -> {"event":"targeted"}
 *   stats              -> {"event":"stats",...}
 *   disconnect         -> {"event":"disconnected"}   (every subscriber reset: RST, no TIME_WAIT)
 *   close
 *
 * Build: gcc -O2 -o load-generator load-generator.c -lm (the bench does it at start).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_FD 20000
#define MAX_SOURCES 64
#define READ_SIZE (256 * 1024)
#define CARRY_MAX 40
#define SINGLE_SOURCE_MAX 20000
#define PADDING "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" /* ~100-byte frames */

enum state { FREE, SUB_CONNECTING, SUB_HEADERS, SUB_WS_ACK, SUB_LIVE, PUB_CONNECTING, PUB_IDLE, PUB_WAITING };

struct conn {
  uint8_t state;
  uint8_t match;     /* bytes of the awaited pattern seen so far (handshake) */
  uint8_t carry_len; /* bytes of a split mark kept for the next read */
  uint16_t head_pos; /* bytes of the response head seen so far */
  int status;
  uint32_t index;
  uint32_t events; /* marked messages received since `expect` */
  double opened_at;
  double last_mark_at;
  char carry[CARRY_MAX];
  /* publishers only */
  char *in;
  size_t in_len, in_cap;
  char *out;
  size_t out_len, out_off;
};

static struct conn conns[MAX_FD];
static int ep;
static char readbuf[READ_SIZE + CARRY_MAX];

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static double cpu_ms(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
}

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply(const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  vprintf(fmt, args);
  va_end(args);
  putchar('\n');
  fflush(stdout);
}

static void fail(const char *message) { reply("{\"event\":\"error\",\"message\":\"%s\"}", message); }

/* ---------------------------------------------------------------- counting what arrives */

static uint64_t received;
static uint64_t expected = UINT64_MAX;
static double expect_at, last_receive_at, cpu_at_expect;
static float *latencies;
static size_t latency_count, latency_cap;
static int live_subs;

static void record(struct conn *c, double sent, double at) {
  if (latency_count == latency_cap) {
    latency_cap = latency_cap ? latency_cap * 2 : (1 << 20);
    latencies = realloc(latencies, latency_cap * sizeof *latencies);
  }
  latencies[latency_count++] = (float)(at - sent);
  received++;
  c->events++;
  c->last_mark_at = at;
}

static void check_done(void) {
  if (received < expected) return;
  expected = UINT64_MAX;
  reply("{\"event\":\"done\",\"at\":%.3f,\"received\":%llu,\"cpuMs\":%.1f}", last_receive_at,
        (unsigned long long)received, cpu_ms() - cpu_at_expect);
}

/* Counts every `~t<ms>,` in p[0..n) (a carried split mark already in front); keeps a new split tail. */
static void scan_marks(struct conn *c, char *p, size_t n, double at) {
  char *end = p + n;
  char *q = p;
  c->carry_len = 0;
  while (q < end) {
    char *t = memchr(q, '~', (size_t)(end - q));
    if (t == NULL) break;
    if (t + 1 == end) {
      c->carry[0] = '~';
      c->carry_len = 1;
      break;
    }
    if (t[1] != 't') {
      q = t + 1;
      continue;
    }
    size_t room = (size_t)(end - t);
    char *comma = memchr(t + 2, ',', room - 2 < 32 ? room - 2 : 32);
    if (comma == NULL) {
      if (room < CARRY_MAX) {
        memcpy(c->carry, t, room);
        c->carry_len = (uint8_t)room;
      }
      break;
    }
    record(c, strtod(t + 2, NULL), at);
    q = comma + 1;
  }
  last_receive_at = at;
}

/* ---------------------------------------------------------------- subscribers */

struct connect_job {
  int active;
  struct sockaddr_in target;
  struct in_addr sources[MAX_SOURCES];
  int source_count;
  uint32_t next, end, window, in_flight, registered, failed;
  int socket_io;
  /* Bind each connection to one of the sources: only when one source's ports would run short. */
  int spread;
  char path[512];
  char last_id[256];
  double started, last_registered, deadline, cpu_start;
} job;

static void close_conn(int fd, int reset) {
  struct conn *c = &conns[fd];
  if (reset) {
    struct linger l = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  if (c->state == SUB_LIVE) live_subs--;
  free(c->in);
  free(c->out);
  memset(c, 0, sizeof *c);
  close(fd);
}

static void send_request(int fd, int early);

static int open_subscriber(uint32_t i) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (fd >= MAX_FD) {
    close(fd);
    return -1;
  }
  if (job.spread) {
    int one = 1;
    /* The port is picked at connect() for the whole 4-tuple, not at bind(), so sources multiply ports. */
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = 0};
    src.sin_addr = job.sources[i % (uint32_t)job.source_count];
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
      close(fd);
      return -1;
    }
  }
  struct conn *c = &conns[fd];
  memset(c, 0, sizeof *c);
  c->state = SUB_CONNECTING;
  c->index = i;
  c->opened_at = now_ms();
  int connected = connect(fd, (struct sockaddr *)&job.target, sizeof job.target);
  if (connected < 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, .data.fd = fd};
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  /* On loopback the handshake is usually done when connect() returns: send now, or on EPOLLOUT. */
  send_request(fd, 1);
  return 0;
}

static void finish_connect_job(void) {
  job.active = 0;
  if (job.failed > 0) fprintf(stderr, "load generator: %u connections failed\n", job.failed);
  double ms = job.registered > 0 ? job.last_registered - job.started : 0;
  reply("{\"event\":\"connected\",\"count\":%d,\"registered\":%u,\"failed\":%u,\"ms\":%.3f,\"cpuMs\":%.1f}",
        live_subs, job.registered, job.failed, ms, cpu_ms() - job.cpu_start);
}

static void pump_connects(void) {
  if (!job.active) return;
  while (job.in_flight < job.window && job.next < job.end && now_ms() < job.deadline) {
    uint32_t i = job.next++;
    job.in_flight++;
    if (open_subscriber(i) != 0) {
      job.in_flight--;
      job.failed++;
    }
  }
  if (job.in_flight == 0 && (job.next >= job.end || now_ms() >= job.deadline)) finish_connect_job();
}

static void subscriber_failed(int fd) {
  uint8_t s = conns[fd].state;
  close_conn(fd, 1);
  if (s != SUB_LIVE && job.active) {
    job.in_flight--;
    job.failed++;
    pump_connects();
  }
}

static void subscriber_registered(struct conn *c) {
  c->state = SUB_LIVE;
  live_subs++;
  if (!job.active) return;
  job.in_flight--;
  job.registered++;
  job.last_registered = now_ms();
}

/* Writes the request; `early` (right after connect) leaves a not-yet-connected socket to EPOLLOUT. */
static void send_request(int fd, int early) {
  struct conn *c = &conns[fd];
  char request[1024];
  char path[600];
  const char *mark = strstr(job.path, "{i}");
  if (mark != NULL)
    snprintf(path, sizeof path, "%.*s%u%s", (int)(mark - job.path), job.path, c->index, mark + 3);
  else
    snprintf(path, sizeof path, "%s", job.path);
  int n;
  if (job.socket_io) {
    n = snprintf(request, sizeof request,
                 "GET %s HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                 path);
  } else if (job.last_id[0] != '\0') {
    n = snprintf(request, sizeof request,
                 "GET %s HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\nLast-Event-ID: %s\r\n\r\n", path,
                 job.last_id);
  } else {
    n = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n",
                 path);
  }
  ssize_t w = write(fd, request, (size_t)n);
  if (w < 0 && early && (errno == EAGAIN || errno == ENOTCONN)) return;
  if (w != n) {
    subscriber_failed(fd);
    return;
  }
  c->state = SUB_HEADERS;
}

/* Feeds handshake bytes; returns how many were consumed before the stream went live (or n). */
static size_t handshake(int fd, const char *p, size_t n) {
  struct conn *c = &conns[fd];
  for (size_t k = 0; k < n; k++) {
    char ch = p[k];
    if (c->state == SUB_HEADERS) {
      if (c->head_pos >= 9 && c->head_pos <= 11 && ch >= '0' && ch <= '9') c->status = c->status * 10 + (ch - '0');
      c->head_pos++;
      /* "\r\n\r\n": no prefix of it is also a suffix but "\r", so a mismatch restarts at 0 or 1. */
      static const char END[] = "\r\n\r\n";
      c->match = ch == END[c->match] ? c->match + 1 : (ch == '\r' ? 1 : 0);
      if (c->match < 4) continue;
      c->match = 0;
      if (job.socket_io) {
        if (c->status != 101) return SIZE_MAX;
        /* Join the default namespace: a masked text frame "40" (mask key 0, the payload as is). */
        static const char JOIN[] = {(char)0x81, (char)0x82, 0, 0, 0, 0, '4', '0'};
        if (write(fd, JOIN, sizeof JOIN) != sizeof JOIN) return SIZE_MAX;
        c->state = SUB_WS_ACK;
        continue;
      }
      if (c->status != 200) return SIZE_MAX;
      subscriber_registered(c);
      return k + 1;
    }
    /* SUB_WS_ACK: the namespace's ack starts with "40{". */
    static const char ACK[] = "40{";
    c->match = ch == ACK[c->match] ? c->match + 1 : (ch == '4' ? 1 : 0);
    if (c->match == 3) {
      c->match = 0;
      subscriber_registered(c);
      return k + 1;
    }
  }
  return n;
}

static void read_subscriber(int fd) {
  struct conn *c = &conns[fd];
  for (;;) {
    size_t carried = c->carry_len;
    memcpy(readbuf, c->carry, carried);
    ssize_t r = read(fd, readbuf + carried, READ_SIZE);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
      subscriber_failed(fd);
      return;
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      return;
    }
    double at = now_ms();
    char *p = readbuf;
    size_t n = carried + (size_t)r;
    if (c->state == SUB_HEADERS || c->state == SUB_WS_ACK) {
      size_t used = handshake(fd, p, n);
      if (used == SIZE_MAX) {
        subscriber_failed(fd);
        return;
      }
      if (c->state != SUB_LIVE) continue;
      p += used;
      n -= used;
      pump_connects();
    }
    scan_marks(c, p, n, at);
    check_done();
    /* A short read drained the socket: with edge triggering, later bytes bring a new event. */
    if ((size_t)r < READ_SIZE) return;
  }
}

static void drop_subscribers(void) {
  for (int fd = 0; fd < MAX_FD; fd++) {
    uint8_t s = conns[fd].state;
    if (s >= SUB_CONNECTING && s <= SUB_LIVE) close_conn(fd, 1);
  }
  live_subs = 0;
}

/* ---------------------------------------------------------------- publishers */

struct publish_job {
  int active;
  struct sockaddr_in target;
  int nchan, pattern; /* pattern: 0 all, 1 user, 2 batch */
  uint32_t count, next, sent, users, batch, concurrency, idle;
  double rate, started, deadline, cpu_start;
  int fds[256];
  char last_body[4096];
  char error[512];
} pub;

static char *body_buf;
static size_t body_cap;

static size_t append(size_t at, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t append(size_t at, const char *fmt, ...) {
  for (;;) {
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(body_buf + at, body_cap - at, fmt, args);
    va_end(args);
    if ((size_t)n < body_cap - at) return at + (size_t)n;
    body_cap = body_cap * 2 + (size_t)n;
    body_buf = realloc(body_buf, body_cap);
  }
}

static void queue_out(struct conn *c, const char *p, size_t n) {
  c->out = realloc(c->out, c->out_len + n);
  memcpy(c->out + c->out_len, p, n);
  c->out_len += n;
}

static void flush_out(int fd) {
  struct conn *c = &conns[fd];
  while (c->out_off < c->out_len) {
    ssize_t w = write(fd, c->out + c->out_off, c->out_len - c->out_off);
    if (w < 0) return; /* EAGAIN: EPOLLOUT comes back */
    c->out_off += (size_t)w;
  }
  c->out_len = c->out_off = 0;
}

static void send_publish(int fd) {
  struct conn *c = &conns[fd];
  double t = now_ms();
  unsigned user = (unsigned)(random() % pub.users);
  size_t n = 0;
  char head[256];
  const char *path = "/messages";
  char nchan_path[64];
  if (pub.nchan) {
    if (pub.pattern == 0)
      snprintf(nchan_path, sizeof nchan_path, "/pub?id=all");
    else
      snprintf(nchan_path, sizeof nchan_path, "/pub?id=u%u", user);
    path = nchan_path;
    n = append(0, "~t%.3f,%s", t, PADDING);
  } else if (pub.pattern == 0) {
    n = append(0, "{\"to\":{\"all\":true},\"data\":\"~t%.3f,%s\"}", t, PADDING);
  } else if (pub.pattern == 1) {
    n = append(0, "{\"to\":{\"users\":[\"u%u\"]},\"data\":\"~t%.3f,%s\"}", user, t, PADDING);
  } else {
    n = append(0, "[");
    for (uint32_t k = 0; k < pub.batch; k++) {
      n = append(n, "%s{\"to\":{\"users\":[\"u%u\"]},\"data\":\"~t%.3f,%s\"}", k == 0 ? "" : ",",
                 (unsigned)(random() % pub.users), t, PADDING);
    }
    n = append(n, "]");
  }
  int h = snprintf(head, sizeof head,
                   "POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                   path, n);
  queue_out(c, head, (size_t)h);
  queue_out(c, body_buf, n);
  c->state = PUB_WAITING;
  pub.idle--;
  flush_out(fd);
}

static void finish_publish_job(void) {
  pub.active = 0;
  for (uint32_t k = 0; k < pub.concurrency; k++)
    if (pub.fds[k] >= 0) close_conn(pub.fds[k], 1);
  if (pub.error[0] != '\0') {
    fail(pub.error);
    return;
  }
  /* lastBody as a JSON string: the bodies are JSON, so quotes and backslashes are escaped. */
  char escaped[8192];
  size_t e = 0;
  for (const char *p = pub.last_body; *p != '\0' && e < sizeof escaped - 3; p++) {
    if (*p == '"' || *p == '\\') escaped[e++] = '\\';
    if ((unsigned char)*p < 0x20) continue;
    escaped[e++] = *p;
  }
  escaped[e] = '\0';
  reply("{\"event\":\"published\",\"sent\":%u,\"ms\":%.3f,\"cpuMs\":%.1f,\"lastBody\":\"%s\"}", pub.sent,
        now_ms() - pub.started, cpu_ms() - pub.cpu_start, escaped);
}

/* When the next request is due: now for flat out, on the schedule start + i / rate otherwise. */
static double next_due(void) { return pub.rate > 0 ? pub.started + pub.next * 1000.0 / pub.rate : 0; }

static void pump_publishes(void) {
  if (!pub.active) return;
  double t = now_ms();
  int stopping = pub.next >= pub.count || t >= pub.deadline || pub.error[0] != '\0';
  if (!stopping) {
    for (uint32_t k = 0; k < pub.concurrency && pub.next < pub.count; k++) {
      int fd = pub.fds[k];
      if (fd < 0 || conns[fd].state != PUB_IDLE) continue;
      if (next_due() > t) break;
      pub.next++;
      send_publish(fd);
    }
  }
  if (pub.idle == pub.concurrency && (pub.next >= pub.count || t >= pub.deadline || pub.error[0] != '\0'))
    finish_publish_job();
}

/* Parses a complete response off a publisher's input; returns 1 when one was consumed. */
static int parse_response(struct conn *c) {
  if (c->in_len < 12) return 0;
  char *head_end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
  if (head_end == NULL) return 0;
  size_t head = (size_t)(head_end - c->in) + 4;
  size_t end = head;
  const char *cl = NULL;
  for (char *p = c->in; p < head_end; p++) {
    if ((*p == 'c' || *p == 'C') && strncasecmp(p, "content-length:", 15) == 0) {
      cl = p + 15;
      break;
    }
  }
  if (cl != NULL) {
    end = head + strtoul(cl, NULL, 10);
  } else if (memmem(c->in, head, "chunked", 7) != NULL) {
    char *last = memmem(c->in + head, c->in_len - head, "0\r\n\r\n", 5);
    if (last == NULL) return 0;
    end = (size_t)(last - c->in) + 5;
  }
  if (c->in_len < end) return 0;
  int status = atoi(c->in + 9);
  size_t body = end - head < sizeof pub.last_body - 1 ? end - head : sizeof pub.last_body - 1;
  memcpy(pub.last_body, c->in + head, body);
  pub.last_body[body] = '\0';
  if (status < 200 || status > 299)
    snprintf(pub.error, sizeof pub.error, "publish answered %d: %.200s", status, pub.last_body);
  else
    pub.sent++;
  memmove(c->in, c->in + end, c->in_len - end);
  c->in_len -= end;
  c->state = PUB_IDLE;
  pub.idle++;
  return 1;
}

static void read_publisher(int fd) {
  struct conn *c = &conns[fd];
  for (;;) {
    if (c->in_cap - c->in_len < 65536) {
      c->in_cap = c->in_cap * 2 + 65536;
      c->in = realloc(c->in, c->in_cap);
    }
    size_t room = c->in_cap - c->in_len;
    ssize_t r = read(fd, c->in + c->in_len, room);
    if (r > 0) {
      c->in_len += (size_t)r;
      while (parse_response(c)) {
      }
      if ((size_t)r < room) break; /* drained, as above */
      continue;
    }
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) break;
    snprintf(pub.error, sizeof pub.error, "publishing connection closed");
    for (uint32_t k = 0; k < pub.concurrency; k++)
      if (pub.fds[k] == fd) pub.fds[k] = -1;
    if (c->state == PUB_WAITING || c->state == PUB_CONNECTING) pub.idle++;
    close_conn(fd, 1);
    break;
  }
  pump_publishes();
}

static void start_publish_job(void) {
  pub.active = 1;
  pub.next = pub.sent = 0;
  pub.idle = 0;
  pub.error[0] = pub.last_body[0] = '\0';
  pub.started = now_ms();
  pub.cpu_start = cpu_ms();
  for (uint32_t k = 0; k < pub.concurrency; k++) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pub.fds[k] = fd;
    if (fd < 0 || fd >= MAX_FD ||
        (connect(fd, (struct sockaddr *)&pub.target, sizeof pub.target) < 0 && errno != EINPROGRESS)) {
      snprintf(pub.error, sizeof pub.error, "publisher could not connect");
      if (fd >= 0) close(fd);
      pub.fds[k] = -1;
      pub.idle++;
      continue;
    }
    struct conn *c = &conns[fd];
    memset(c, 0, sizeof *c);
    c->state = PUB_CONNECTING;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  pump_publishes();
}

/* ---------------------------------------------------------------- statistics */

static int by_value(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}
static int by_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void stats(void) {
  qsort(latencies, latency_count, sizeof *latencies, by_value);
#define AT(q) (latency_count ? (double)latencies[(size_t)fmin(latency_count - 1, floor((q) * latency_count))] : NAN)
  double *spans = malloc(MAX_FD * sizeof *spans);
  size_t span_count = 0;
  uint32_t min_events = UINT32_MAX, max_events = 0;
  for (int fd = 0; fd < MAX_FD; fd++) {
    struct conn *c = &conns[fd];
    if (c->state != SUB_LIVE) continue;
    if (c->events < min_events) min_events = c->events;
    if (c->events > max_events) max_events = c->events;
    if (c->last_mark_at >= expect_at && c->opened_at > 0) spans[span_count++] = c->last_mark_at - c->opened_at;
  }
  qsort(spans, span_count, sizeof *spans, by_double);
#define SPAN(q) (span_count ? spans[(size_t)fmin(span_count - 1, floor((q) * span_count))] : NAN)
  /* NaN is not JSON: the bench reads -1 as "none". */
#define J(x) (isnan(x) ? -1.0 : (x))
  reply("{\"event\":\"stats\",\"received\":%llu,\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f,"
        "\"cpuMs\":%.1f,\"spanMs\":%.3f,\"lastReceiveAt\":%.3f,\"catchUp\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f},"
        "\"live\":%d,\"perConnection\":{\"min\":%u,\"max\":%u}}",
        (unsigned long long)received, J(AT(0.5)), J(AT(0.99)), J(AT(0.999)),
        J(latency_count ? (double)latencies[latency_count - 1] : NAN), cpu_ms() - cpu_at_expect,
        last_receive_at - expect_at, last_receive_at, J(SPAN(0.5)), J(SPAN(0.99)),
        J(span_count ? spans[span_count - 1] : NAN), live_subs, min_events == UINT32_MAX ? 0 : min_events,
        max_events);
  free(spans);
}

/* ---------------------------------------------------------------- commands */

static const char *arg(char *line, const char *key, const char *fallback) {
  size_t k = strlen(key);
  for (char *p = line; (p = strstr(p, key)) != NULL; p++) {
    if ((p == line || p[-1] == ' ') && p[k] == '=') return p + k + 1;
  }
  return fallback;
}
/* Copies one value (up to the next space) into out. */
static void arg_copy(char *line, const char *key, char *out, size_t size) {
  const char *v = arg(line, key, "");
  size_t n = strcspn(v, " ");
  if (n >= size) n = size - 1;
  memcpy(out, v, n);
  out[n] = '\0';
}
static double arg_num(char *line, const char *key, double fallback) {
  const char *v = arg(line, key, NULL);
  return v == NULL ? fallback : strtod(v, NULL);
}
static struct sockaddr_in loopback(int port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

static void command(char *line) {
  if (strncmp(line, "connect ", 8) == 0) {
    if (job.active) return fail("a connect is already under way");
    job.target = loopback((int)arg_num(line, "port", 0));
    uint32_t first = (uint32_t)arg_num(line, "first", 0);
    job.next = first;
    job.end = first + (uint32_t)arg_num(line, "count", 0);
    job.window = (uint32_t)arg_num(line, "window", 250);
    job.in_flight = job.registered = job.failed = 0;
    char mode[32], sources[1024];
    arg_copy(line, "mode", mode, sizeof mode);
    job.socket_io = strcmp(mode, "socket.io") == 0;
    arg_copy(line, "path", job.path, sizeof job.path);
    arg_copy(line, "last", job.last_id, sizeof job.last_id);
    arg_copy(line, "sources", sources, sizeof sources);
    job.source_count = 0;
    for (char *s = strtok(sources, ","); s != NULL && job.source_count < MAX_SOURCES; s = strtok(NULL, ","))
      if (inet_pton(AF_INET, s, &job.sources[job.source_count]) == 1) job.source_count++;
    if (job.source_count == 0) job.sources[job.source_count++].s_addr = htonl(INADDR_LOOPBACK);
    /* One source holds ~28 000 ports (32768-60999); dropped subscribers are reset, so none linger. */
    job.spread = job.source_count > 1 && (uint32_t)live_subs + (job.end - first) > SINGLE_SOURCE_MAX;
    job.started = job.last_registered = now_ms();
    job.deadline = job.started + arg_num(line, "capms", 120000);
    job.cpu_start = cpu_ms();
    job.active = 1;
    pump_connects();
  } else if (strncmp(line, "publish ", 8) == 0) {
    if (pub.active) return fail("a publish is already under way");
    pub.target = loopback((int)arg_num(line, "port", 0));
    char style[32], pattern[32];
    arg_copy(line, "style", style, sizeof style);
    arg_copy(line, "pattern", pattern, sizeof pattern);
    pub.nchan = strcmp(style, "nchan") == 0;
    pub.pattern = strcmp(pattern, "all") == 0 ? 0 : strcmp(pattern, "user") == 0 ? 1 : 2;
    pub.count = (uint32_t)arg_num(line, "count", 1);
    pub.rate = arg_num(line, "rate", 0);
    pub.concurrency = (uint32_t)fmin(256, fmax(1, arg_num(line, "concurrency", 1)));
    pub.users = (uint32_t)fmax(1, arg_num(line, "users", 1));
    pub.batch = (uint32_t)fmax(1, arg_num(line, "batch", 100));
    pub.deadline = now_ms() + arg_num(line, "capms", 60000);
    start_publish_job();
  } else if (strncmp(line, "expect", 6) == 0) {
    received = 0;
    latency_count = 0;
    for (int fd = 0; fd < MAX_FD; fd++) conns[fd].events = 0;
    expected = (uint64_t)arg_num(line, "total", 0);
    cpu_at_expect = cpu_ms();
    expect_at = last_receive_at = now_ms();
    reply("{\"event\":\"expecting\"}");
    check_done();
  } else if (strncmp(line, "target", 6) == 0) {
    expected = (uint64_t)arg_num(line, "total", 0);
    reply("{\"event\":\"targeted\"}");
    check_done();
  } else if (strncmp(line, "stats", 5) == 0) {
    stats();
  } else if (strncmp(line, "disconnect", 10) == 0) {
    drop_subscribers();
    reply("{\"event\":\"disconnected\"}");
  } else if (strncmp(line, "close", 5) == 0) {
    drop_subscribers();
    exit(0);
  } else {
    fail("unknown command");
  }
}

static char line_buf[8192];
static size_t line_len;

static void read_commands(void) {
  for (;;) {
    ssize_t r = read(0, line_buf + line_len, sizeof line_buf - 1 - line_len);
    if (r == 0) exit(0); /* the bench went away */
    if (r < 0) return;
    line_len += (size_t)r;
    char *nl;
    while ((nl = memchr(line_buf, '\n', line_len)) != NULL) {
      *nl = '\0';
      command(line_buf);
      size_t used = (size_t)(nl - line_buf) + 1;
      memmove(line_buf, line_buf + used, line_len - used);
      line_len -= used;
    }
  }
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  ep = epoll_create1(0);
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  struct epoll_event in = {.events = EPOLLIN, .data.fd = 0};
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in);
  srandom((unsigned)getpid());
  body_cap = 65536;
  body_buf = malloc(body_cap);
  reply("{\"event\":\"ready\"}");
  struct epoll_event events[1024];
  for (;;) {
    int timeout = -1;
    if (pub.active && pub.rate > 0) {
      double wait = next_due() - now_ms();
      timeout = wait <= 0 ? 0 : (int)ceil(wait);
    }
    if (job.active || pub.active) {
      double until = fmin(job.active ? job.deadline : INFINITY, pub.active ? pub.deadline : INFINITY) - now_ms();
      int cap = until <= 0 ? 0 : (int)ceil(until);
      if (timeout < 0 || cap < timeout) timeout = cap;
    }
    int n = epoll_wait(ep, events, 1024, timeout);
    for (int k = 0; k < n; k++) {
      int fd = events[k].data.fd;
      uint32_t e = events[k].events;
      if (fd == 0) {
        read_commands();
        continue;
      }
      struct conn *c = &conns[fd];
      switch (c->state) {
      case SUB_CONNECTING:
        if (e & (EPOLLERR | EPOLLHUP)) {
          subscriber_failed(fd);
          break;
        }
        if (e & EPOLLOUT) send_request(fd, 0);
        if (conns[fd].state == SUB_HEADERS && (e & EPOLLIN)) read_subscriber(fd);
        break;
      case SUB_HEADERS:
      case SUB_WS_ACK:
      case SUB_LIVE:
        if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) read_subscriber(fd);
        break;
      case PUB_CONNECTING:
        if (e & (EPOLLERR | EPOLLHUP)) {
          read_publisher(fd);
          break;
        }
        if (e & EPOLLOUT) {
          c->state = PUB_IDLE;
          pub.idle++;
          pump_publishes();
        }
        break;
      case PUB_IDLE:
      case PUB_WAITING:
        if (e & EPOLLOUT) flush_out(fd);
        if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) read_publisher(fd);
        break;
      default:
        break;
      }
    }
    pump_connects();
    pump_publishes();
  }
}
