/*
 * berth-proxy: the host side of one container's published ports, in user space.
 *
 * berthd's port forwarding is NAT (netavark's DNAT rules), which only reaches a container
 * over the address family it has. A container with only an IPv4 address still gets its
 * ports on the host's IPv6 addresses, as Docker's userland proxy gives them: this program
 * listens there and relays each connection (TCP) or each peer's datagrams (UDP) to the
 * container's IPv4 address. It also listens on the IPv4 host addresses, so the ports are held
 * on the host (a host process cannot take one while the container has it); NAT answers
 * those before they reach this program.
 *
 *   berth-proxy SPEC...     SPEC = proto,listen-ip,listen-port,target-ip,target-port
 *
 * proto is tcp or udp. Every listener is bound before anything is relayed; then one line
 * goes to descriptor 1, "ok" or the first failure as "fail N STEP: ERROR" (N counts the
 * specs from 1; ERROR in Go's words, as dockerd reports them: "fail 2 bind: address already
 * in use"), and descriptor 1 is closed. The exit status is 0 after "ok" and 1 after a
 * failure, 2 for bad arguments.
 *
 * berthd starts it in a session of its own so that it outlives berthd as the container does,
 * and ends it with SIGTERM or SIGKILL when the container's network is taken down.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_BYTES 65536
#define MAX_SPECS 256
/* A UDP peer with no traffic either way for this long loses its relay socket (Docker's 90 s). */
#define UDP_IDLE_SECONDS 90
/* At most this many UDP peers per listener; the oldest goes first beyond it. */
#define UDP_MAX_FLOWS 1024

enum kind { K_TCP_LISTEN, K_UDP_LISTEN, K_TCP_END, K_UDP_FLOW };

union addr {
  struct sockaddr sa;
  struct sockaddr_in in4;
  struct sockaddr_in6 in6;
  struct sockaddr_storage ss;
};

struct listener {
  enum kind kind;
  int fd;
  /* Out of descriptors: not watched until resume_at (a readable listener would spin). */
  bool paused;
  union addr target;
  socklen_t target_len;
  struct flow *flows;
  int nflows;
};

struct conn;

/* One side of a relayed TCP connection: 0 the client, 1 the container. */
struct end {
  enum kind kind;
  struct conn *c;
  int side;
};

struct conn {
  struct end ends[2];
  int fd[2];
  char *buf[2]; /* bytes read from fd[i], waiting to be written to fd[1 - i] */
  size_t len[2], off[2];
  bool eof[2];      /* fd[i] has no more to read */
  bool shut[2];     /* fd[i] has been shut for writing */
  bool connecting;  /* fd[1] has not finished its connect yet */
  bool dead;        /* closed; freed once the current batch of events is handled */
  struct conn *next_dead;
};

struct flow {
  enum kind kind;
  struct listener *l;
  int fd; /* connected to the target */
  union addr peer;
  socklen_t peer_len;
  time_t last;
  struct flow *next;
  bool dead;
  struct flow *next_dead;
};

static int ep;
/* Closed in this batch of events: a later event of the same batch may still name them. */
static struct conn *dead_conns;
static struct flow *dead_flows;

static void die_usage(const char *why) {
  dprintf(2, "berth-proxy: %s\nusage: berth-proxy proto,listen-ip,listen-port,target-ip,target-port...\n", why);
  exit(2);
}

static bool parse_addr(const char *ip, const char *port, union addr *a, socklen_t *len) {
  char *end;
  long p = strtol(port, &end, 10);
  if (*port == '\0' || *end != '\0' || p < 0 || p > 65535) return false;
  memset(a, 0, sizeof *a);
  if (strchr(ip, ':')) {
    a->in6.sin6_family = AF_INET6;
    a->in6.sin6_port = htons((uint16_t)p);
    if (inet_pton(AF_INET6, ip, &a->in6.sin6_addr) != 1) return false;
    *len = sizeof a->in6;
  } else {
    a->in4.sin_family = AF_INET;
    a->in4.sin_port = htons((uint16_t)p);
    if (inet_pton(AF_INET, ip, &a->in4.sin_addr) != 1) return false;
    *len = sizeof a->in4;
  }
  return true;
}

/* Go's words for an errno, as Docker's proxy reports them: strerror with a lower-case first letter. */
static void go_error(char *out, size_t n, int err) {
  snprintf(out, n, "%s", strerror(err));
  out[0] = (char)tolower((unsigned char)out[0]);
}

static void set_interest(int fd, void *ptr, uint32_t events) {
  struct epoll_event ev = { .events = events, .data.ptr = ptr };
  if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0 && errno == ENOENT) epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static void watch(int fd, void *ptr, uint32_t events) {
  struct epoll_event ev = { .events = events, .data.ptr = ptr };
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Milliseconds of the monotonic clock. */
static long long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* When paused listeners are watched again; 0 when none is paused. */
static long long resume_at;
#define PAUSE_MS 100

/*
 * accept fails for want of descriptors or memory while connections wait: the listener stays
 * readable, so it is left unwatched for PAUSE_MS instead of being retried at once, over and
 * over (the waiting clients stay queued and are taken once descriptors are free again).
 */
static void pause_listener(struct listener *l) {
  struct epoll_event ev = { .events = 0, .data.ptr = l };
  epoll_ctl(ep, EPOLL_CTL_MOD, l->fd, &ev);
  l->paused = true;
  if (!resume_at) resume_at = now_ms() + PAUSE_MS;
}

static void resume_listeners(struct listener *ls, int n) {
  for (int i = 0; i < n; i++) {
    if (!ls[i].paused) continue;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &ls[i] };
    epoll_ctl(ep, EPOLL_CTL_MOD, ls[i].fd, &ev);
    ls[i].paused = false;
  }
  resume_at = 0;
}

/* ---- TCP ------------------------------------------------------------------------- */

static void conn_close(struct conn *c) {
  for (int i = 0; i < 2; i++) close(c->fd[i]);
  c->dead = true;
  c->next_dead = dead_conns;
  dead_conns = c;
}

static void conn_free(struct conn *c) {
  free(c->buf[0]);
  free(c->buf[1]);
  free(c);
}

/* What each side waits for now: reading while its buffer is empty, writing while the other side's has bytes. */
static void conn_update(struct conn *c) {
  for (int i = 0; i < 2; i++) {
    uint32_t ev = 0;
    if (i == 1 && c->connecting) {
      ev = EPOLLOUT;
    } else {
      if (!c->eof[i] && c->len[i] == 0) ev |= EPOLLIN;
      if (c->len[1 - i] > 0) ev |= EPOLLOUT;
    }
    set_interest(c->fd[i], &c->ends[i], ev);
  }
}

/* Writes what side `from` read to the other side; false when the connection is over. */
static bool conn_flush(struct conn *c, int from) {
  int to = 1 - from;
  if (to == 1 && c->connecting) return true;
  while (c->len[from] > 0) {
    ssize_t w = send(c->fd[to], c->buf[from] + c->off[from], c->len[from], MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN || errno == EINTR) return true;
      return false;
    }
    c->off[from] += (size_t)w;
    c->len[from] -= (size_t)w;
  }
  c->off[from] = 0;
  if (c->eof[from] && !c->shut[to]) {
    shutdown(c->fd[to], SHUT_WR);
    c->shut[to] = true;
  }
  return true;
}

static void tcp_event(struct end *e, uint32_t events) {
  struct conn *c = e->c;
  int s = e->side;
  if (c->dead) return;
  if (s == 1 && c->connecting) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      conn_close(c);
      return;
    }
    c->connecting = false;
    conn_update(c);
    return;
  }
  if ((events & EPOLLIN) && c->len[s] == 0 && !c->eof[s]) {
    ssize_t r = recv(c->fd[s], c->buf[s], BUF_BYTES, 0);
    if (r > 0) {
      c->len[s] = (size_t)r;
    } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
      if (r < 0) {
        conn_close(c);
        return;
      }
      c->eof[s] = true;
    }
    if (!conn_flush(c, s)) {
      conn_close(c);
      return;
    }
  }
  if (events & EPOLLOUT) {
    if (!conn_flush(c, 1 - s)) {
      conn_close(c);
      return;
    }
  }
  if ((events & (EPOLLERR | EPOLLHUP)) && !(events & (EPOLLIN | EPOLLOUT))) {
    conn_close(c);
    return;
  }
  if (c->eof[0] && c->eof[1] && c->len[0] == 0 && c->len[1] == 0) {
    conn_close(c);
    return;
  }
  conn_update(c);
}

static void tcp_accept(struct listener *l) {
  for (;;) {
    int cfd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) pause_listener(l);
      return;
    }
    int ufd = socket(l->target.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ufd < 0) {
      close(cfd);
      continue;
    }
    struct conn *c = calloc(1, sizeof *c);
    char *b0 = malloc(BUF_BYTES), *b1 = malloc(BUF_BYTES);
    if (!c || !b0 || !b1) {
      free(c);
      free(b0);
      free(b1);
      close(cfd);
      close(ufd);
      continue;
    }
    c->fd[0] = cfd;
    c->fd[1] = ufd;
    c->buf[0] = b0;
    c->buf[1] = b1;
    for (int i = 0; i < 2; i++) c->ends[i] = (struct end){ .kind = K_TCP_END, .c = c, .side = i };
    watch(cfd, &c->ends[0], 0);
    watch(ufd, &c->ends[1], 0);
    int one = 1;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(ufd, &l->target.sa, l->target_len) < 0) {
      if (errno != EINPROGRESS) {
        conn_close(c);
        continue;
      }
      c->connecting = true;
    }
    conn_update(c);
  }
}

/* ---- UDP ------------------------------------------------------------------------- */

static void flow_drop(struct flow *f) {
  struct flow **p = &f->l->flows;
  while (*p && *p != f) p = &(*p)->next;
  if (*p) *p = f->next;
  f->l->nflows--;
  close(f->fd);
  f->dead = true;
  f->next_dead = dead_flows;
  dead_flows = f;
}

static bool same_peer(const union addr *a, socklen_t alen, const union addr *b, socklen_t blen) {
  return alen == blen && memcmp(a, b, alen) == 0;
}

static struct flow *flow_for(struct listener *l, const union addr *peer, socklen_t peer_len) {
  struct flow *oldest = NULL;
  for (struct flow *f = l->flows; f; f = f->next) {
    if (same_peer(&f->peer, f->peer_len, peer, peer_len)) return f;
    if (!oldest || f->last <= oldest->last) oldest = f;
  }
  if (l->nflows >= UDP_MAX_FLOWS && oldest) flow_drop(oldest);
  int fd = socket(l->target.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return NULL;
  if (connect(fd, &l->target.sa, l->target_len) < 0) {
    close(fd);
    return NULL;
  }
  struct flow *f = calloc(1, sizeof *f);
  if (!f) {
    close(fd);
    return NULL;
  }
  f->kind = K_UDP_FLOW;
  f->l = l;
  f->fd = fd;
  memcpy(&f->peer, peer, peer_len);
  f->peer_len = peer_len;
  f->next = l->flows;
  l->flows = f;
  l->nflows++;
  watch(fd, f, EPOLLIN);
  return f;
}

static void udp_from_peer(struct listener *l, char *buf) {
  for (;;) {
    union addr peer;
    socklen_t peer_len = sizeof peer;
    ssize_t r = recvfrom(l->fd, buf, BUF_BYTES, 0, &peer.sa, &peer_len);
    if (r < 0) return;
    struct flow *f = flow_for(l, &peer, peer_len);
    if (!f) continue;
    f->last = time(NULL);
    send(f->fd, buf, (size_t)r, MSG_NOSIGNAL);
  }
}

static void udp_from_target(struct flow *f, char *buf) {
  if (f->dead) return;
  for (;;) {
    ssize_t r = recv(f->fd, buf, BUF_BYTES, 0);
    if (r < 0) {
      /* ECONNREFUSED: nothing listens in the container yet; the peer may try again. */
      return;
    }
    f->last = time(NULL);
    sendto(f->l->fd, buf, (size_t)r, MSG_NOSIGNAL, &f->peer.sa, f->peer_len);
  }
}

static void udp_sweep(struct listener *ls, int n) {
  time_t now = time(NULL);
  for (int i = 0; i < n; i++) {
    struct flow *f = ls[i].flows;
    while (f) {
      struct flow *next = f->next;
      if (now - f->last >= UDP_IDLE_SECONDS) flow_drop(f);
      f = next;
    }
  }
}

/* ---- setup ----------------------------------------------------------------------- */

static void report(const char *line) {
  dprintf(1, "%s\n", line);
  int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, 1);
    dup2(null, 2);
    close(null);
  }
}

int main(int argc, char **argv) {
  if (argc < 2) die_usage("no port to forward");
  if (argc - 1 > MAX_SPECS) die_usage("too many ports");
  signal(SIGPIPE, SIG_IGN);
  if (chdir("/") < 0) return 1;
  /* Two descriptors per relayed connection: as many as the hard limit allows. */
  struct rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  static struct listener ls[MAX_SPECS];
  int n = 0;
  for (int i = 1; i < argc; i++) {
    char *spec = strdup(argv[i]);
    char *f[5];
    int k = 0;
    for (char *save = NULL, *t = strtok_r(spec, ",", &save); t && k < 5; t = strtok_r(NULL, ",", &save)) f[k++] = t;
    if (k != 5 || (strcmp(f[0], "tcp") != 0 && strcmp(f[0], "udp") != 0)) die_usage(argv[i]);
    union addr listen_at;
    socklen_t listen_len;
    struct listener *l = &ls[n++];
    if (!parse_addr(f[1], f[2], &listen_at, &listen_len) || !parse_addr(f[3], f[4], &l->target, &l->target_len)) die_usage(argv[i]);
    bool tcp = f[0][0] == 't';
    bool v6 = listen_at.sa.sa_family == AF_INET6;
    l->kind = tcp ? K_TCP_LISTEN : K_UDP_LISTEN;
    l->fd = socket(listen_at.sa.sa_family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    const char *step = "socket";
    bool ok = l->fd >= 0;
    if (ok && v6) ok = setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) == 0;
    if (ok && tcp) ok = setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0;
    if (ok) {
      step = "bind";
      ok = bind(l->fd, &listen_at.sa, listen_len) == 0;
    }
    if (ok && tcp) {
      step = "listen";
      ok = listen(l->fd, 4096) == 0;
    }
    if (!ok) {
      char why[128], line[256];
      go_error(why, sizeof why, errno);
      snprintf(line, sizeof line, "fail %d %s: %s", i, step, why);
      report(line);
      return 1;
    }
    free(spec);
  }
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) {
    report("epoll_create1 failed");
    return 1;
  }
  for (int i = 0; i < n; i++) watch(ls[i].fd, &ls[i], EPOLLIN);
  report("ok");
  static char udp_buf[BUF_BYTES];
  struct epoll_event evs[64];
  time_t swept = time(NULL);
  for (;;) {
    long long wait = 10000;
    if (resume_at) {
      wait = resume_at - now_ms();
      if (wait <= 0) {
        resume_listeners(ls, n);
        wait = 10000;
      }
    }
    int k = epoll_wait(ep, evs, 64, (int)wait);
    if (k < 0 && errno != EINTR) return 1;
    for (int i = 0; i < k; i++) {
      enum kind *kind = evs[i].data.ptr;
      switch (*kind) {
      case K_TCP_LISTEN: tcp_accept((struct listener *)kind); break;
      case K_UDP_LISTEN: udp_from_peer((struct listener *)kind, udp_buf); break;
      case K_UDP_FLOW: udp_from_target((struct flow *)kind, udp_buf); break;
      case K_TCP_END: tcp_event((struct end *)kind, evs[i].events); break;
      }
    }
    while (dead_conns) {
      struct conn *c = dead_conns;
      dead_conns = c->next_dead;
      conn_free(c);
    }
    if (time(NULL) - swept >= 10) {
      udp_sweep(ls, n);
      swept = time(NULL);
    }
    while (dead_flows) {
      struct flow *f = dead_flows;
      dead_flows = f->next_dead;
      free(f);
    }
  }
}
