/*
 * The C epoll reference server: the most a server can do on this machine, and the proof that the bench's
 * load generator out-runs it. One thread, epoll, no framework: it accepts, answers `GET /events?user=`
 * with SSE headers and a comment in one write, keeps the socket in a table by user and in a list of all,
 * and on each `POST /messages` (Herald's body: one message or an array; `to.all` or `to.users`) encodes
 * the frame once and writes that same buffer to every recipient's socket, then answers 202.
 *
 * It takes only what the bench sends: the JSON reader skips what it does not need and does not unescape
 * `data` (the bench's data has no escapes). Prints `listening <port>` once it listens on $PORT (0: any).
 *
 * Build: gcc -O2 -o epoll-reference epoll-reference.c (the bench does it at start).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FD 65536
#define BUCKETS 65536
#define MAX_PENDING (4 << 20) /* a subscriber further behind than this is closed */
#define MAX_RECIPIENTS 1000

static const char HEADERS[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n\r\n:\n\n";
static const char NOT_FOUND[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";

struct conn {
  int open, subscriber;
  char *in;
  size_t in_len, in_cap;
  char *out; /* bytes a full socket buffer did not take yet */
  size_t out_len;
  char user[136];
  uint32_t hash;
  int next_in_bucket; /* fd, -1 ends */
  int list_index;     /* position in `subscribers` */
};

static struct conn conns[MAX_FD];
static int buckets[BUCKETS];
static int subscribers[MAX_FD];
static int subscriber_count;
static int ep;
static uint64_t sequence;

static uint32_t hash_of(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t k = 0; k < n; k++) h = (h ^ (uint8_t)s[k]) * 16777619u;
  return h;
}

static void close_conn(int fd) {
  struct conn *c = &conns[fd];
  if (c->subscriber) {
    int *link = &buckets[c->hash % BUCKETS];
    while (*link != fd) link = &conns[*link].next_in_bucket;
    *link = c->next_in_bucket;
    int last = subscribers[--subscriber_count];
    subscribers[c->list_index] = last;
    conns[last].list_index = c->list_index;
  }
  free(c->in);
  free(c->out);
  memset(c, 0, sizeof *c);
  close(fd);
}

/* Writes what the socket takes now and keeps the rest; a subscriber too far behind is closed. */
static void send_bytes(int fd, const char *p, size_t n) {
  struct conn *c = &conns[fd];
  if (c->out_len == 0) {
    ssize_t w = write(fd, p, n);
    if (w == (ssize_t)n) return;
    if (w < 0 && errno != EAGAIN) return; /* the close comes through epoll */
    if (w > 0) p += w, n -= (size_t)w;
  }
  if (c->out_len + n > MAX_PENDING) {
    close_conn(fd);
    return;
  }
  c->out = realloc(c->out, c->out_len + n);
  memcpy(c->out + c->out_len, p, n);
  c->out_len += n;
}

static void flush_pending(int fd) {
  struct conn *c = &conns[fd];
  if (c->out_len == 0) return;
  ssize_t w = write(fd, c->out, c->out_len);
  if (w <= 0) return;
  memmove(c->out, c->out + w, c->out_len - (size_t)w);
  c->out_len -= (size_t)w;
}

/* ---------------------------------------------------------------- a JSON reader for the bench's bodies */

struct reader {
  const char *p, *end;
};

static void skip_ws(struct reader *r) {
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t')) r->p++;
}

/* A string's raw bytes between its quotes. */
static int read_string(struct reader *r, const char **start, size_t *len) {
  skip_ws(r);
  if (r->p >= r->end || *r->p != '"') return 0;
  const char *s = ++r->p;
  while (r->p < r->end && *r->p != '"') r->p += *r->p == '\\' ? 2 : 1;
  if (r->p >= r->end) return 0;
  *start = s;
  *len = (size_t)(r->p - s);
  r->p++;
  return 1;
}

static int skip_value(struct reader *r) {
  skip_ws(r);
  if (r->p >= r->end) return 0;
  const char *s;
  size_t n;
  if (*r->p == '"') return read_string(r, &s, &n);
  if (*r->p == '{' || *r->p == '[') {
    int depth = 0;
    while (r->p < r->end) {
      char ch = *r->p;
      if (ch == '"') {
        if (!read_string(r, &s, &n)) return 0;
        continue;
      }
      if (ch == '{' || ch == '[') depth++;
      if (ch == '}' || ch == ']') depth--;
      r->p++;
      if (depth == 0) return 1;
    }
    return 0;
  }
  while (r->p < r->end && *r->p != ',' && *r->p != '}' && *r->p != ']') r->p++;
  return 1;
}

static int expect_char(struct reader *r, char ch) {
  skip_ws(r);
  if (r->p >= r->end || *r->p != ch) return 0;
  r->p++;
  return 1;
}

/* Iterates an object's members: calls `member` with each key; it reads or skips the value. */
#define EACH_MEMBER(r, key, keylen, body)                                                                   \
  do {                                                                                                       \
    if (!expect_char(r, '{')) return 0;                                                                      \
    skip_ws(r);                                                                                              \
    if ((r)->p < (r)->end && *(r)->p == '}') {                                                               \
      (r)->p++;                                                                                              \
      break;                                                                                                 \
    }                                                                                                        \
    for (;;) {                                                                                               \
      const char *key;                                                                                       \
      size_t keylen;                                                                                         \
      if (!read_string(r, &key, &keylen) || !expect_char(r, ':')) return 0;                                  \
      body;                                                                                                  \
      skip_ws(r);                                                                                            \
      if ((r)->p < (r)->end && *(r)->p == ',') {                                                             \
        (r)->p++;                                                                                            \
        continue;                                                                                            \
      }                                                                                                      \
      if (!expect_char(r, '}')) return 0;                                                                    \
      break;                                                                                                 \
    }                                                                                                        \
  } while (0)

#define IS(key, keylen, literal) ((keylen) == sizeof(literal) - 1 && memcmp(key, literal, keylen) == 0)

static char *frame;
static size_t frame_cap;

/* One message: reads its `to` and `data`, encodes the frame once and writes it to every recipient. */
static int deliver_message(struct reader *r) {
  int all = 0;
  const char *users[MAX_RECIPIENTS];
  size_t user_lens[MAX_RECIPIENTS];
  size_t user_count = 0;
  const char *data = NULL;
  size_t data_len = 0;
  EACH_MEMBER(r, key, keylen, {
    if (IS(key, keylen, "to")) {
      EACH_MEMBER(r, tkey, tkeylen, {
        if (IS(tkey, tkeylen, "all")) {
          skip_ws(r);
          all = r->end - r->p >= 4 && memcmp(r->p, "true", 4) == 0;
          if (!skip_value(r)) return 0;
        } else if (IS(tkey, tkeylen, "users")) {
          if (!expect_char(r, '[')) return 0;
          for (;;) {
            skip_ws(r);
            if (r->p < r->end && *r->p == ']') {
              r->p++;
              break;
            }
            if (user_count == MAX_RECIPIENTS || !read_string(r, &users[user_count], &user_lens[user_count]))
              return 0;
            user_count++;
            skip_ws(r);
            if (r->p < r->end && *r->p == ',') r->p++;
          }
        } else if (!skip_value(r)) {
          return 0;
        }
      });
    } else if (IS(key, keylen, "data")) {
      skip_ws(r);
      const char *start = r->p;
      if (r->p < r->end && *r->p == '"') {
        if (!read_string(r, &data, &data_len)) return 0;
      } else {
        if (!skip_value(r)) return 0;
        data = start;
        data_len = (size_t)(r->p - start);
      }
    } else if (!skip_value(r)) {
      return 0;
    }
  });
  if (data == NULL) return 0;
  size_t n = data_len + 8;
  if (n > frame_cap) {
    frame_cap = n * 2;
    frame = realloc(frame, frame_cap);
  }
  memcpy(frame, "data: ", 6);
  memcpy(frame + 6, data, data_len);
  memcpy(frame + 6 + data_len, "\n\n", 2);
  sequence++;
  if (all) {
    /* Backwards: a subscriber closed meanwhile is swapped in from the end, already written to. */
    for (int k = subscriber_count - 1; k >= 0; k--) {
      if (k >= subscriber_count) continue;
      send_bytes(subscribers[k], frame, n);
    }
    return 1;
  }
  for (size_t u = 0; u < user_count; u++) {
    uint32_t h = hash_of(users[u], user_lens[u]);
    for (int fd = buckets[h % BUCKETS]; fd >= 0;) {
      int next = conns[fd].next_in_bucket;
      if (conns[fd].hash == h && strlen(conns[fd].user) == user_lens[u] &&
          memcmp(conns[fd].user, users[u], user_lens[u]) == 0)
        send_bytes(fd, frame, n);
      fd = next;
    }
  }
  return 1;
}

static int publish(const char *body, size_t len) {
  struct reader r = {body, body + len};
  skip_ws(&r);
  if (r.p < r.end && *r.p == '[') {
    r.p++;
    for (;;) {
      skip_ws(&r);
      if (r.p < r.end && *r.p == ']') return 1;
      if (!deliver_message(&r)) return 0;
      skip_ws(&r);
      if (r.p < r.end && *r.p == ',') r.p++;
    }
  }
  return deliver_message(&r);
}

/* ---------------------------------------------------------------- HTTP */

static void subscribe(int fd, const char *request_line, size_t len) {
  struct conn *c = &conns[fd];
  const char *user = memmem(request_line, len, "user=", 5);
  size_t n = 0;
  if (user != NULL) {
    user += 5;
    while (user + n < request_line + len && user[n] != '&' && user[n] != ' ' && n < sizeof c->user - 1) n++;
    memcpy(c->user, user, n);
  } else {
    memcpy(c->user, "anonymous", n = 9);
  }
  c->user[n] = '\0';
  c->hash = hash_of(c->user, n);
  c->next_in_bucket = buckets[c->hash % BUCKETS];
  buckets[c->hash % BUCKETS] = fd;
  c->list_index = subscriber_count;
  subscribers[subscriber_count++] = fd;
  c->subscriber = 1;
  free(c->in);
  c->in = NULL;
  c->in_len = c->in_cap = 0;
  send_bytes(fd, HEADERS, sizeof HEADERS - 1);
}

/* Handles every complete request in the connection's input; returns 0 once the connection is gone. */
static int handle_requests(int fd) {
  struct conn *c = &conns[fd];
  size_t used = 0;
  while (c->open && !c->subscriber) {
    char *start = c->in + used;
    size_t left = c->in_len - used;
    char *head_end = memmem(start, left, "\r\n\r\n", 4);
    if (head_end == NULL) break;
    size_t head = (size_t)(head_end - start) + 4;
    char *line_end = memchr(start, '\r', head);
    if (left >= 4 && memcmp(start, "GET ", 4) == 0) {
      subscribe(fd, start, (size_t)(line_end - start));
      return 1;
    }
    size_t length = 0;
    for (char *p = start; p < head_end; p++) {
      if ((*p == 'c' || *p == 'C') && strncasecmp(p, "content-length:", 15) == 0) {
        length = strtoul(p + 15, NULL, 10);
        break;
      }
    }
    if (left < head + length) break;
    used += head + length;
    if (left >= 15 && memcmp(start, "POST /messages ", 15) == 0 && publish(start + head, length)) {
      char answer[160];
      char body[48];
      int b = snprintf(body, sizeof body, "{\"id\":\"%llu\"}", (unsigned long long)sequence);
      int a = snprintf(answer, sizeof answer,
                       "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", b,
                       body);
      send_bytes(fd, answer, (size_t)a);
    } else {
      send_bytes(fd, NOT_FOUND, sizeof NOT_FOUND - 1);
    }
  }
  if (c->open && used > 0) {
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
  }
  return c->open;
}

static void on_readable(int fd) {
  struct conn *c = &conns[fd];
  char scratch[4096];
  for (;;) {
    if (c->subscriber) {
      /* A subscriber sends nothing more; read to see its FIN. */
      ssize_t r = read(fd, scratch, sizeof scratch);
      if (r > 0 && (size_t)r == sizeof scratch) continue;
      if (r > 0) return;
      if (r == 0 || errno != EAGAIN) close_conn(fd);
      return;
    }
    if (c->in_cap - c->in_len < 16384) {
      c->in_cap = c->in_cap * 2 + 16384;
      c->in = realloc(c->in, c->in_cap);
    }
    size_t room = c->in_cap - c->in_len;
    ssize_t r = read(fd, c->in + c->in_len, room);
    if (r > 0) {
      c->in_len += (size_t)r;
      if (!handle_requests(fd)) return;
      /* A short read drained the socket: with edge triggering, later bytes bring a new event. */
      if ((size_t)r < room) return;
      continue;
    }
    if (r == 0 || errno != EAGAIN) close_conn(fd);
    return;
  }
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  for (int k = 0; k < BUCKETS; k++) buckets[k] = -1;
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(getenv("PORT") ? getenv("PORT") : "0"))};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 4096) < 0) {
    perror("listen");
    return 1;
  }
  socklen_t size = sizeof addr;
  getsockname(listener, (struct sockaddr *)&addr, &size);
  printf("listening %d\n", ntohs(addr.sin_port));
  fflush(stdout);
  ep = epoll_create1(0);
  struct epoll_event lev = {.events = EPOLLIN, .data.fd = listener};
  epoll_ctl(ep, EPOLL_CTL_ADD, listener, &lev);
  struct epoll_event events[1024];
  for (;;) {
    int n = epoll_wait(ep, events, 1024, -1);
    for (int k = 0; k < n; k++) {
      int fd = events[k].data.fd;
      if (fd == listener) {
        for (;;) {
          int client = accept4(listener, NULL, NULL, SOCK_NONBLOCK);
          if (client < 0) break;
          if (client >= MAX_FD) {
            close(client);
            continue;
          }
          setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          memset(&conns[client], 0, sizeof conns[client]);
          conns[client].open = 1;
          conns[client].next_in_bucket = -1;
          struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.fd = client};
          epoll_ctl(ep, EPOLL_CTL_ADD, client, &ev);
        }
        continue;
      }
      if (!conns[fd].open) continue;
      if (events[k].events & EPOLLOUT) flush_pending(fd);
      if (events[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(fd);
    }
  }
}
