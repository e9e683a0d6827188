/*
 * berth-exec: starts one more process in a running container, for berthd's attached
 * execs without a terminal or stdin (health checks, `docker exec CTR cmd`). It does what
 * `runc exec` does for such a process, in one small C program instead of two Go runtimes
 * (`runc exec` and `runc init`) and a fresh libseccomp compilation of the profile per exec.
 *
 * berthd passes everything it would have put in process.json as arguments, reads the
 * container's cgroups from runc's state, and keeps the container's seccomp filter in a
 * cache file: the filter is read once from the container's init (PTRACE_SECCOMP_GET_FILTER,
 * the filter runc itself loaded) and loaded as it is into every exec'd process.
 *
 *   berth-exec -p PID -s STARTTIME -f PIDFILE [-c CGROUP_DIR]... [-S SECCOMP_CACHE]
 *              -u UID -g GID [-G GID,GID...] -B BOUNDING -E EFFECTIVE -P PERMITTED
 *              -I INHERITABLE -A AMBIENT [-r RES:SOFT:HARD]... [-n] [-o OOM_SCORE_ADJ]
 *              [-k KEYRING] [-w CWD] [-m UMASK] -- ARGS...
 *
 * The process's environment is berth-exec's own. Capability sets are hexadecimal masks,
 * rlimit values decimal (-1 for unlimited). The order of the steps is runc's: join the
 * cgroups and namespaces, a new session keyring, no_new_privs, the seccomp filter (last of
 * all with no_new_privs), the capability bounding set, groups and ids, the capability sets,
 * the working directory, then the program looked up in $PATH and executed.
 *
 * Exit status: the process's own (128+N when signal N ended it) once it has run; 255 with
 * runc's wording on stderr when it could not be started (no pid file is written then); 111
 * with "berth-exec: unsupported: ..." when this program cannot do what was asked and berthd
 * should use `runc exec` instead (a container whose filter cannot be read, a traced init).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PTRACE_SEIZE
#define PTRACE_SEIZE 0x4206
#endif
#ifndef PTRACE_INTERRUPT
#define PTRACE_INTERRUPT 0x4207
#endif
#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif
#ifndef PTRACE_SECCOMP_GET_METADATA
#define PTRACE_SECCOMP_GET_METADATA 0x420d
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SECCOMP_FILTER_FLAG_LOG
#define SECCOMP_FILTER_FLAG_LOG (1UL << 1)
#endif
#ifndef SECCOMP_FILTER_FLAG_SPEC_ALLOW
#define SECCOMP_FILTER_FLAG_SPEC_ALLOW (1UL << 2)
#endif

#define EXIT_UNSUPPORTED 111
#define EXIT_FAILED 255
#define MAX_LIST 64
#define CACHE_MAGIC 0x31465342u /* "BSF1" */

struct rlim {
  int resource;
  struct rlimit value;
};

static struct {
  pid_t pid;
  unsigned long long start;
  const char *pid_file;
  const char *cgroups[MAX_LIST];
  int ncgroups;
  const char *seccomp_cache;
  uid_t uid;
  gid_t gid;
  gid_t groups[MAX_LIST];
  int ngroups;
  uint64_t bounding, effective, permitted, inheritable, ambient;
  struct rlim rlimits[MAX_LIST];
  int nrlimits;
  int no_new_privs;
  const char *oom_score_adj;
  const char *keyring;
  const char *cwd;
  mode_t umask;
  char **argv;
} opt = { .umask = 022 };

/* The seccomp filter to load, and the flags it was loaded with in the init. */
static struct sock_filter *filter;
static unsigned short filter_len;
static unsigned long filter_flags;

static pid_t child;

/* An errno's text as Go prints it (and so runc): strerror's words, first letter in lower case. */
static const char *errtext(int e) {
  static char buf[128];
  snprintf(buf, sizeof buf, "%s", strerror(e));
  if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z')) buf[0] += 'a' - 'A';
  return buf;
}

static void die(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (code == EXIT_UNSUPPORTED) fputs("berth-exec: unsupported: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(code);
}

/* Writes a message for the parent to the error pipe and ends the child. */
static int errpipe = -1;
static void fail(const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if (n >= (int)sizeof buf) n = sizeof buf - 1;
  if (write(errpipe, buf, n) < 0) { /* the parent is gone; nothing to tell */ }
  _exit(EXIT_FAILED);
}

static uint64_t parse_mask(const char *s) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 16);
  if (errno || *end || !*s) die(2, "berth-exec: bad capability mask %s", s);
  return v;
}

static long long parse_num(const char *s, const char *what) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || !*s) die(2, "berth-exec: bad %s %s", what, s);
  return v;
}

static void parse_args(int argc, char **argv) {
  int i;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--")) {
      i++;
      break;
    }
    if (a[0] != '-' || !a[1] || a[2]) die(2, "berth-exec: unknown argument %s", a);
    if (a[1] == 'n') {
      opt.no_new_privs = 1;
      continue;
    }
    if (i + 1 >= argc) die(2, "berth-exec: %s needs a value", a);
    const char *v = argv[++i];
    switch (a[1]) {
    case 'p': opt.pid = (pid_t)parse_num(v, "pid"); break;
    case 's': opt.start = (unsigned long long)parse_num(v, "start time"); break;
    case 'f': opt.pid_file = v; break;
    case 'c':
      if (opt.ncgroups == MAX_LIST) die(2, "berth-exec: too many cgroups");
      opt.cgroups[opt.ncgroups++] = v;
      break;
    case 'S': opt.seccomp_cache = v; break;
    case 'u': opt.uid = (uid_t)parse_num(v, "uid"); break;
    case 'g': opt.gid = (gid_t)parse_num(v, "gid"); break;
    case 'G': {
      char *copy = strdup(v), *save = NULL;
      for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (opt.ngroups == MAX_LIST) die(2, "berth-exec: too many groups");
        opt.groups[opt.ngroups++] = (gid_t)parse_num(t, "gid");
      }
      break;
    }
    case 'B': opt.bounding = parse_mask(v); break;
    case 'E': opt.effective = parse_mask(v); break;
    case 'P': opt.permitted = parse_mask(v); break;
    case 'I': opt.inheritable = parse_mask(v); break;
    case 'A': opt.ambient = parse_mask(v); break;
    case 'r': {
      long long res, soft, hard;
      char extra;
      if (opt.nrlimits == MAX_LIST) die(2, "berth-exec: too many rlimits");
      if (sscanf(v, "%lld:%lld:%lld%c", &res, &soft, &hard, &extra) != 3) die(2, "berth-exec: bad rlimit %s", v);
      struct rlim *r = &opt.rlimits[opt.nrlimits++];
      r->resource = (int)res;
      r->value.rlim_cur = soft < 0 ? RLIM_INFINITY : (rlim_t)soft;
      r->value.rlim_max = hard < 0 ? RLIM_INFINITY : (rlim_t)hard;
      break;
    }
    case 'o': opt.oom_score_adj = v; break;
    case 'k': opt.keyring = v; break;
    case 'w': opt.cwd = v; break;
    case 'm': opt.umask = (mode_t)strtoul(v, NULL, 8); break;
    default: die(2, "berth-exec: unknown argument %s", a);
    }
  }
  if (i >= argc) die(2, "berth-exec: no command");
  if (!opt.pid || !opt.pid_file) die(2, "berth-exec: -p and -f are required");
  opt.argv = argv + i;
}

/* Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. */
static unsigned long long start_time(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return 0;
  p += 2; /* field 3 */
  for (int field = 3; field < 22 && p; field++) {
    p = strchr(p, ' ');
    if (p) p++;
  }
  return p ? strtoull(p, NULL, 10) : 0;
}

/* Whether the process runs under a seccomp filter ("Seccomp:\t2" in its status). */
static int has_filter(pid_t pid) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *p = strstr(buf, "\nSeccomp:");
  if (!p) return 0;
  return atoi(p + 9) == 2;
}

struct cache_header {
  uint32_t magic;
  uint32_t pid;
  uint64_t start;
  uint64_t flags;
  uint32_t len;
  uint32_t pad;
};

static void on_alarm(int sig) { (void)sig; }

/*
 * Reads the oldest seccomp filter of the init (the one runc loaded; the container's own
 * programs may have stacked more on it) through ptrace: seize, interrupt, read, detach.
 * The init's blocking call, if any, is restarted by the kernel as after any stop.
 */
static void read_filter_of_init(void) {
  int has = has_filter(opt.pid);
  if (has < 0) die(EXIT_FAILED, "exec failed: container process %d is gone", opt.pid);
  if (!has) return;
  if (ptrace(PTRACE_SEIZE, opt.pid, 0, 0) < 0) die(EXIT_UNSUPPORTED, "cannot trace the container's init: %s", errtext(errno));
  struct sigaction sa = { .sa_handler = on_alarm };
  sigaction(SIGALRM, &sa, NULL);
  int status;
  if (ptrace(PTRACE_INTERRUPT, opt.pid, 0, 0) < 0) die(EXIT_UNSUPPORTED, "cannot stop the container's init: %s", errtext(errno));
  alarm(2); /* a frozen (paused) init never stops for us */
  if (waitpid(opt.pid, &status, __WALL) != opt.pid) die(EXIT_UNSUPPORTED, "the container's init did not stop: %s", errtext(errno));
  alarm(0);
  long oldest = -1, count = 0;
  for (long i = 0; i < 1024; i++) {
    long n = ptrace(PTRACE_SECCOMP_GET_FILTER, opt.pid, (void *)i, NULL);
    if (n < 0) break;
    oldest = i;
    count = n;
  }
  if (oldest < 0 || count <= 0 || count > BPF_MAXINSNS) {
    ptrace(PTRACE_DETACH, opt.pid, 0, 0);
    die(EXIT_UNSUPPORTED, "cannot read the container's seccomp filter: %s", errtext(errno));
  }
  filter = calloc(count, sizeof *filter);
  if (ptrace(PTRACE_SECCOMP_GET_FILTER, opt.pid, (void *)oldest, filter) != count) {
    ptrace(PTRACE_DETACH, opt.pid, 0, 0);
    die(EXIT_UNSUPPORTED, "cannot read the container's seccomp filter: %s", errtext(errno));
  }
  struct { uint64_t filter_off, flags; } meta = { (uint64_t)oldest, 0 };
  if (ptrace(PTRACE_SECCOMP_GET_METADATA, opt.pid, (void *)sizeof meta, &meta) < 0) meta.flags = 0;
  ptrace(PTRACE_DETACH, opt.pid, 0, 0);
  filter_len = (unsigned short)count;
  filter_flags = meta.flags;
}

/*
 * The container's filter, from the cache file when it was read from this same init,
 * else from the init (and then saved for the next exec). A lock on the file keeps two
 * execs from tracing the init at once.
 */
static void load_filter(void) {
  if (!opt.seccomp_cache) return;
  int fd = open(opt.seccomp_cache, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) die(EXIT_UNSUPPORTED, "cannot open %s: %s", opt.seccomp_cache, errtext(errno));
  while (flock(fd, LOCK_EX) < 0)
    if (errno != EINTR) die(EXIT_UNSUPPORTED, "cannot lock %s: %s", opt.seccomp_cache, errtext(errno));
  struct cache_header h;
  ssize_t n = pread(fd, &h, sizeof h, 0);
  if (n == (ssize_t)sizeof h && h.magic == CACHE_MAGIC && h.pid == (uint32_t)opt.pid && h.start == opt.start && h.len <= BPF_MAXINSNS) {
    if (h.len) {
      filter = calloc(h.len, sizeof *filter);
      if (pread(fd, filter, h.len * sizeof *filter, sizeof h) == (ssize_t)(h.len * sizeof *filter)) {
        filter_len = (unsigned short)h.len;
        filter_flags = h.flags;
        close(fd);
        return;
      }
      free(filter);
      filter = NULL;
    } else {
      close(fd);
      return;
    }
  }
  read_filter_of_init();
  struct cache_header out = { CACHE_MAGIC, (uint32_t)opt.pid, opt.start, filter_flags, filter_len, 0 };
  if (ftruncate(fd, 0) == 0 && pwrite(fd, &out, sizeof out, 0) == (ssize_t)sizeof out && filter_len)
    if (pwrite(fd, filter, filter_len * sizeof *filter, sizeof out) < 0) { /* the next exec reads the init again */ }
  close(fd);
}

static void load_seccomp(void) {
  if (!filter_len) return;
  struct sock_fprog prog = { .len = filter_len, .filter = filter };
  unsigned long flags = filter_flags & (SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW);
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog) < 0) fail("error loading seccomp filter into kernel: %s", errtext(errno));
}

static const char *ns_names[] = { "user", "ipc", "uts", "net", "cgroup", "mnt" };
#define NNS (sizeof ns_names / sizeof *ns_names)

/* Opens the init's namespaces that differ from ours (those are the container's own). */
static void open_namespaces(int fds[NNS], int *pidns) {
  char path[64], mine[64], theirs[64];
  for (size_t i = 0; i <= NNS; i++) {
    const char *name = i < NNS ? ns_names[i] : "pid";
    snprintf(path, sizeof path, "/proc/%d/ns/%s", opt.pid, name);
    snprintf(mine, sizeof mine, "/proc/self/ns/%s", name);
    ssize_t a = readlink(path, theirs, sizeof theirs - 1);
    if (a < 0) {
      if (errno == ENOENT && strcmp(name, "cgroup")) die(EXIT_FAILED, "exec failed: container process %d is gone", opt.pid);
      if (i < NNS) fds[i] = -1;
      continue;
    }
    theirs[a] = 0;
    char own[64];
    ssize_t b = readlink(mine, own, sizeof own - 1);
    own[b < 0 ? 0 : b] = 0;
    int fd = -1;
    if (strcmp(own, theirs)) {
      fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) die(EXIT_FAILED, "exec failed: cannot open %s: %s", path, errtext(errno));
    }
    if (i < NNS) fds[i] = fd;
    else *pidns = fd;
  }
}

static const char *lookup_home(uid_t uid) {
  static char home[4096];
  FILE *f = fopen("/etc/passwd", "re");
  if (!f) return "/";
  char line[4096];
  const char *found = "/";
  while (fgets(line, sizeof line, f)) {
    char *fields[7];
    int n = 0;
    char *p = line;
    fields[n++] = p;
    while (n < 7 && (p = strchr(p, ':'))) {
      *p++ = 0;
      fields[n++] = p;
    }
    if (n < 7) continue;
    char *end;
    unsigned long id = strtoul(fields[2], &end, 10);
    if (*end || id != uid) continue;
    fields[5][strcspn(fields[5], "\n")] = 0;
    snprintf(home, sizeof home, "%s", fields[5]);
    found = home;
    break;
  }
  fclose(f);
  return found;
}

/* The file to execute as Go's exec.LookPath finds it (what runc uses), with its error text. */
static const char *look_path(const char *file, char *buf, size_t size) {
  struct stat st;
  if (strchr(file, '/')) {
    if (stat(file, &st) < 0) fail("exec failed: unable to start container process: exec: \"%s\": stat %s: %s", file, file, errtext(errno));
    if (S_ISDIR(st.st_mode) || !(st.st_mode & 0111)) fail("exec failed: unable to start container process: exec: \"%s\": permission denied", file);
    return file;
  }
  const char *path = getenv("PATH");
  if (path && *file) {
    const char *p = path;
    for (;;) {
      const char *colon = strchr(p, ':');
      size_t len = colon ? (size_t)(colon - p) : strlen(p);
      if (len == 0) snprintf(buf, size, "./%s", file);
      else snprintf(buf, size, "%.*s/%s", (int)len, p, file);
      if (stat(buf, &st) == 0 && !S_ISDIR(st.st_mode) && (st.st_mode & 0111)) return buf;
      if (!colon) break;
      p = colon + 1;
    }
  }
  fail("exec failed: unable to start container process: exec: \"%s\": executable file not found in $PATH", file);
  return NULL;
}

static int last_cap(void) {
  int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return CAP_LAST_CAP;
  char buf[16] = { 0 };
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  return n > 0 ? atoi(buf) : CAP_LAST_CAP;
}

static void write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, text, strlen(text)) < 0) fail("exec failed: unable to start container process: write %s: %s", path, errtext(errno));
  close(fd);
}

/*
 * How the process joins each of the container's cgroups. Writing a pid to `cgroup.procs`
 * moves a whole thread group, under a global lock whose first writer waits for an RCU grace
 * period (8-15 ms on this VM when no other move happened just before): most of an exec's
 * time here, and what `runc exec` pays. Two ways around it, both with the same result for a
 * single-threaded process:
 * - a cgroup v2 directory is joined at creation (clone3 with CLONE_INTO_CGROUP);
 * - in a cgroup v1 hierarchy, the process writes 0 (itself, one thread) to `tasks`, which
 *   the kernel does without that lock.
 * Anything else, or a kernel without clone3, goes through `cgroup.procs` as runc does.
 */
#define CGROUP_SUPER_MAGIC_V1 0x27e0ebL
#define CGROUP_SUPER_MAGIC_V2 0x63677270L
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#define BERTH_CLONE_INTO_CGROUP 0x200000000ULL
enum cg_kind { CG_PROCS, CG_TASKS, CG_AT_CREATION };
static enum cg_kind cg_kinds[MAX_LIST];

/* The layout of struct clone_args up to its `cgroup` field (clone3 takes its size). */
struct clone_args_v2 {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

/* Sorts the cgroups by kind; the fd of the (first) cgroup v2 directory, or -1. */
static int classify_cgroups(void) {
  int v2 = -1;
  for (int i = 0; i < opt.ncgroups; i++) {
    cg_kinds[i] = CG_PROCS;
    int fd = open(opt.cgroups[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) continue; /* the write in the child reports it */
    struct statfs st;
    long type = fstatfs(fd, &st) == 0 ? (long)st.f_type : 0;
    if (type == CGROUP_SUPER_MAGIC_V1) cg_kinds[i] = CG_TASKS;
    else if (type == CGROUP_SUPER_MAGIC_V2 && v2 < 0) {
      cg_kinds[i] = CG_AT_CREATION;
      v2 = fd;
      continue;
    }
    close(fd);
  }
  return v2;
}

/*
 * fork(), or clone3 into the cgroup v2 directory `v2` when there is one. The child of clone3
 * only makes system calls and executes the program (glibc's fork bookkeeping is not needed
 * for that). When clone3 cannot do it, the v2 cgroup is joined through cgroup.procs instead.
 */
static pid_t fork_into(int v2) {
  if (v2 >= 0) {
    struct clone_args_v2 a;
    memset(&a, 0, sizeof a);
    a.flags = BERTH_CLONE_INTO_CGROUP;
    a.exit_signal = SIGCHLD;
    a.cgroup = (uint64_t)v2;
    long r = syscall(SYS_clone3, &a, sizeof a);
    if (r >= 0) return (pid_t)r;
    for (int i = 0; i < opt.ncgroups; i++)
      if (cg_kinds[i] == CG_AT_CREATION) cg_kinds[i] = CG_PROCS;
  }
  return fork();
}

/* Everything from the fork on, in the child: it ends in execve or in fail(). */
static void run_child(int nsfds[NNS], int cap_last) {
  /* The cgroups and oom score first, while the host's /sys and /proc are still ours. */
  for (int i = 0; i < opt.ncgroups; i++) {
    if (cg_kinds[i] == CG_AT_CREATION) continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", opt.cgroups[i], cg_kinds[i] == CG_TASKS ? "tasks" : "cgroup.procs");
    write_file(path, "0");
  }
  if (opt.oom_score_adj) write_file("/proc/self/oom_score_adj", opt.oom_score_adj);
  for (int i = 0; i < opt.nrlimits; i++)
    if (setrlimit(opt.rlimits[i].resource, &opt.rlimits[i].value) < 0)
      fail("exec failed: unable to start container process: error setting rlimit type %d: %s", opt.rlimits[i].resource, errtext(errno));
  for (size_t i = 0; i < NNS; i++) {
    if (nsfds[i] < 0) continue;
    if (setns(nsfds[i], 0) < 0) fail("exec failed: unable to start container process: cannot join the %s namespace: %s", ns_names[i], errtext(errno));
    close(nsfds[i]);
  }
  if (opt.keyring && syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, opt.keyring) < 0 && errno != ENOSYS)
    fail("exec failed: unable to start container process: unable to join session keyring: %s", errtext(errno));
  if (opt.no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    fail("exec failed: unable to start container process: cannot set no_new_privs: %s", errtext(errno));
  if (!opt.no_new_privs) load_seccomp();
  int chdir_later = 0;
  if (opt.cwd && chdir(opt.cwd) < 0) {
    if (errno != EACCES && errno != EPERM)
      fail("exec failed: unable to start container process: chdir to cwd (\"%s\") set in config.json failed: %s", opt.cwd, errtext(errno));
    chdir_later = 1;
  }
  for (int c = 0; c <= cap_last; c++)
    if (!(opt.bounding >> c & 1) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
      fail("exec failed: unable to start container process: cannot drop capability %d from the bounding set: %s", c, errtext(errno));
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) fail("exec failed: unable to start container process: keepcaps: %s", errtext(errno));
  if (setgroups(opt.ngroups, opt.groups) < 0) fail("exec failed: unable to start container process: setgroups: %s", errtext(errno));
  if (setresgid(opt.gid, opt.gid, opt.gid) < 0) fail("exec failed: unable to start container process: setgid: %s", errtext(errno));
  if (setresuid(opt.uid, opt.uid, opt.uid) < 0) fail("exec failed: unable to start container process: setuid: %s", errtext(errno));
  prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct data[2] = {
    { (uint32_t)opt.effective, (uint32_t)opt.permitted, (uint32_t)opt.inheritable },
    { (uint32_t)(opt.effective >> 32), (uint32_t)(opt.permitted >> 32), (uint32_t)(opt.inheritable >> 32) },
  };
  if (syscall(SYS_capset, &hdr, data) < 0) fail("exec failed: unable to start container process: capset: %s", errtext(errno));
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  for (int c = 0; c <= cap_last && c < 64; c++)
    if (opt.ambient >> c & 1) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0);
  if (chdir_later && chdir(opt.cwd) < 0)
    fail("exec failed: unable to start container process: chdir to cwd (\"%s\") set in config.json failed: %s", opt.cwd, errtext(errno));
  if (!getenv("HOME")) setenv("HOME", lookup_home(opt.uid), 1);
  umask(opt.umask);
  char buf[4096];
  const char *file = look_path(opt.argv[0], buf, sizeof buf);
  if (opt.no_new_privs) load_seccomp();
  if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
    for (int fd = 3; fd < 1024; fd++)
      if (fd != errpipe) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execv(file, opt.argv);
  fail("exec failed: unable to start container process: exec %s: %s", file, errtext(errno));
}

static void forward(int sig) {
  if (child > 0) kill(child, sig);
}

static void write_pid_file(pid_t pid) {
  char tmp[4096], text[32];
  snprintf(tmp, sizeof tmp, "%s.tmp", opt.pid_file);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int n = snprintf(text, sizeof text, "%d", pid);
  if (fd < 0 || write(fd, text, n) != n || close(fd) < 0 || rename(tmp, opt.pid_file) < 0) {
    kill(pid, SIGKILL);
    die(EXIT_FAILED, "exec failed: cannot write the pid file %s: %s", opt.pid_file, errtext(errno));
  }
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  if (start_time(opt.pid) != opt.start) die(EXIT_FAILED, "exec failed: container process %d is gone", opt.pid);
  int nsfds[NNS], pidns = -1;
  open_namespaces(nsfds, &pidns);
  /* The namespaces are held open now: if the pid was reused since berthd read it, say so. */
  if (start_time(opt.pid) != opt.start) die(EXIT_FAILED, "exec failed: container process %d is gone", opt.pid);
  load_filter();
  int cap_last = last_cap();
  if (pidns >= 0) {
    if (setns(pidns, CLONE_NEWPID) < 0) die(EXIT_FAILED, "exec failed: cannot join the pid namespace: %s", errtext(errno));
    close(pidns);
  }
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0) die(EXIT_FAILED, "exec failed: pipe: %s", errtext(errno));
  int v2 = classify_cgroups();
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  child = fork_into(v2);
  if (child < 0) die(EXIT_FAILED, "exec failed: fork: %s", errtext(errno));
  if (child == 0) {
    close(pipefd[0]);
    errpipe = pipefd[1];
    for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
    run_child(nsfds, cap_last);
  }
  close(pipefd[1]);
  if (v2 >= 0) close(v2);
  for (size_t i = 0; i < NNS; i++)
    if (nsfds[i] >= 0) close(nsfds[i]);
  /* Signals berthd sends to this process go on to the container's process, as with runc. */
  struct sigaction sa = { .sa_handler = forward };
  int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT };
  for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++) sigaction(forwarded[i], &sa, NULL);
  sigprocmask(SIG_SETMASK, &old, NULL);
  char msg[4096];
  size_t got = 0;
  for (;;) {
    ssize_t n = read(pipefd[0], msg + got, sizeof msg - 1 - got);
    if (n > 0 && (got += n) < sizeof msg - 1) continue;
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  close(pipefd[0]);
  int status;
  if (got) {
    msg[got] = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
    fprintf(stderr, "%s\n", msg);
    return EXIT_FAILED;
  }
  write_pid_file(child);
  while (waitpid(child, &status, 0) < 0)
    if (errno != EINTR) return EXIT_FAILED;
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}
