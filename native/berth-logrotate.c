/*
 * berth-logrotate.so: loaded into conmon (LD_PRELOAD) for a container whose log keeps
 * several files (`--log-opt max-size=S --log-opt max-file=N`, N > 1).
 *
 * conmon bounds its k8s-file log by itself (--log-size-max S): when a write would take
 * the file past S, it opens `<log>.tmp` and renames it over `<log>`, and the full file is
 * gone. Loaded into conmon, this library sees that rename first and shifts the files
 * (`<log>.N-2` to `<log>.N-1`, ..., `<log>` to `<log>.1`), so the full file is kept and
 * at most N files remain, each at most S bytes: Docker's rotation of json-file logs, done
 * by the process that writes the log, so also while berthd is down.
 *
 * With BERTH_LOG_COMPRESS=1 (`--log-opt compress=true`) the kept files are gzipped as
 * dockerd keeps them: `<log>.1.gz` … `<log>.N-1.gz`. Right after a rotation a child of
 * conmon compresses `<log>.1` (and any other kept file still plain) through gzip(1) into
 * `<log>.I.gz.tmp`, renames that to `<log>.I.gz` and only then unlinks `<log>.I`, so a
 * reader always finds one whole copy. The gzip header carries the plain file's identity
 * (FCOMMENT `berth-log-key:INODE:BIRTH_NS`), so that a reader that already read the plain
 * file knows the compressed one. The child holds an flock on the log's directory while it
 * works, and a rotation takes the same lock before it moves files, so a rotation never
 * renames a file from under the compressor; a rotation due meanwhile waits, as dockerd's does.
 *
 * Configuration comes from the environment and is removed from it when the library is
 * loaded, so that what conmon starts (runc, the container) never sees it:
 *   BERTH_LOG_PATH      the log's path, exactly as given to conmon's -l k8s-file:PATH
 *   BERTH_LOG_MAX_FILE  N
 *   BERTH_LOG_COMPRESS  1 to gzip the kept files
 * Any other rename goes through untouched. The chain ends at the first index with neither
 * file (readers stop there too).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char log_path[4096];
static char log_dir[4096];
static int max_file;
static int compress;
static int (*next_rename)(const char *, const char *);

__attribute__((constructor)) static void berth_logrotate_init(void) {
  const char *path = getenv("BERTH_LOG_PATH");
  const char *n = getenv("BERTH_LOG_MAX_FILE");
  if (path && n && strlen(path) < sizeof(log_path) - 16) {
    char *end;
    long v = strtol(n, &end, 10);
    if (*end == '\0' && v > 1) {
      strcpy(log_path, path);
      max_file = v > INT_MAX ? INT_MAX : (int)v;
      const char *c = getenv("BERTH_LOG_COMPRESS");
      compress = c && strcmp(c, "1") == 0;
      strcpy(log_dir, path);
      char *slash = strrchr(log_dir, '/');
      if (slash == log_dir) slash[1] = '\0';
      else if (slash) *slash = '\0';
      else strcpy(log_dir, ".");
    }
  }
  unsetenv("BERTH_LOG_PATH");
  unsetenv("BERTH_LOG_MAX_FILE");
  unsetenv("BERTH_LOG_COMPRESS");
  unsetenv("LD_PRELOAD");
}

/* Whether `from` is `<log>.tmp` and `to` is `<log>`: conmon starting its log afresh. */
static int starts_afresh(const char *from, const char *to) {
  size_t len = strlen(log_path);
  return max_file > 1 && from && to && strcmp(to, log_path) == 0 && strncmp(from, log_path, len) == 0 &&
         strcmp(from + len, ".tmp") == 0;
}

/* An flock on the log's directory, shared by rotations and the compressor; -1 when it cannot be had. */
static int lock_dir(void) {
  int fd = open(log_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  while (flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      close(fd);
      return -1;
    }
  }
  return fd;
}

static int kept(int i, int gz) {
  char p[4200];
  snprintf(p, sizeof p, "%s.%d%s", log_path, i, gz ? ".gz" : "");
  return access(p, F_OK) == 0;
}

/* `<log>.I` and `<log>.I.gz` to index I+1, from the last one present down to 1 (the oldest
 * past N-1 go), then `<log>` to `<log>.1`. Only the chain there is moves along, so a large N
 * costs no renames of files that do not exist. */
static void shift_kept_files(void) {
  char older[4200], newer[4200];
  int top = 1;
  while (top < max_file - 1 && (kept(top, 0) || kept(top, 1))) top++;
  for (int i = top; i >= 1; i--) {
    for (int gz = 0; gz <= 1; gz++) {
      const char *ext = gz ? ".gz" : "";
      /* Index 1 gets `<log>` itself, which is never compressed. */
      if (i == 1) snprintf(newer, sizeof newer, "%s", gz ? "" : log_path);
      else snprintf(newer, sizeof newer, "%s.%d%s", log_path, i - 1, ext);
      snprintf(older, sizeof older, "%s.%d%s", log_path, i, ext);
      if (newer[0] && access(newer, F_OK) == 0) next_rename(newer, older);
      /* Its twin of the other kind takes index I: this one would stand for the wrong file. */
      else unlink(older);
    }
  }
}

/* gzip -n -c of `src_fd` into `out_fd`, its header rewritten to carry `comment`. 0 on success. */
static int gzip_into(int src_fd, int out_fd, const char *comment) {
  int p[2];
  if (pipe(p) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    dup2(src_fd, 0);
    dup2(p[1], 1);
    close(p[0]);
    close(p[1]);
    char *argv[] = {"gzip", "-n", "-c", NULL};
    execv("/bin/gzip", argv);
    execv("/usr/bin/gzip", argv);
    _exit(127);
  }
  close(p[1]);
  unsigned char buf[65536];
  size_t have = 0;
  int ok = 1, header_done = 0;
  for (;;) {
    ssize_t n = read(p[0], buf + have, sizeof buf - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    have += (size_t)n;
    size_t off = 0;
    if (!header_done) {
      if (have < 10) continue;
      /* gzip -n writes a bare 10-byte header: ID1 ID2 CM FLG MTIME(4) XFL OS. */
      if (buf[0] != 0x1f || buf[1] != 0x8b || buf[3] != 0) ok = 0;
      unsigned char h[10];
      memcpy(h, buf, 10);
      h[3] = 0x10; /* FCOMMENT */
      if (ok && (write(out_fd, h, 10) != 10 || write(out_fd, comment, strlen(comment) + 1) != (ssize_t)(strlen(comment) + 1))) ok = 0;
      header_done = 1;
      off = 10;
    }
    if (ok && have > off && write(out_fd, buf + off, have - off) != (ssize_t)(have - off)) ok = 0;
    have = 0;
  }
  close(p[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return ok && header_done && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Every kept file still plain becomes `<log>.I.gz`; run in a child of conmon, under the lock. */
static void compress_kept_files(void) {
  char plain[4200], gz[4200], tmp[4200], comment[128];
  for (int i = 1; i < max_file; i++) {
    snprintf(plain, sizeof plain, "%s.%d", log_path, i);
    int src = open(plain, O_RDONLY | O_CLOEXEC);
    if (src < 0) {
      if (kept(i, 1)) continue;
      break;
    }
    struct statx st;
    if (statx(src, "", AT_EMPTY_PATH, STATX_INO | STATX_BTIME, &st) != 0) {
      close(src);
      continue;
    }
    snprintf(comment, sizeof comment, "berth-log-key:%llu:%lld", (unsigned long long)st.stx_ino,
             (long long)st.stx_btime.tv_sec * 1000000000LL + st.stx_btime.tv_nsec);
    snprintf(gz, sizeof gz, "%s.%d.gz", log_path, i);
    snprintf(tmp, sizeof tmp, "%s.%d.gz.tmp", log_path, i);
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (out < 0) {
      close(src);
      continue;
    }
    int ok = gzip_into(src, out, comment) == 0;
    close(src);
    if (close(out) != 0) ok = 0;
    if (ok && next_rename(tmp, gz) == 0) unlink(plain);
    else unlink(tmp);
  }
}

static void start_compressor(void) {
  pid_t pid = fork();
  if (pid != 0) return; /* conmon goes on; it reaps the child with its other children */
  /* None of conmon's pipes and sockets stays open in here (an attach would miss its EOF). */
  close_range(3, ~0U, 0);
  int lock = lock_dir();
  compress_kept_files();
  if (lock >= 0) close(lock);
  _exit(0);
}

int rename(const char *from, const char *to) {
  if (!next_rename) next_rename = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
  if (!next_rename) {
    errno = ENOSYS;
    return -1;
  }
  if (starts_afresh(from, to)) {
    int saved = errno;
    int lock = lock_dir();
    shift_kept_files();
    errno = saved;
    int r = next_rename(from, to);
    saved = errno;
    if (lock >= 0) close(lock);
    if (compress) start_compressor();
    errno = saved;
    return r;
  }
  return next_rename(from, to);
}
