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
 * Configuration comes from the environment and is removed from it when the library is
 * loaded, so that what conmon starts (runc, the container) never sees it:
 *   BERTH_LOG_PATH      the log's path, exactly as given to conmon's -l k8s-file:PATH
 *   BERTH_LOG_MAX_FILE  N
 * Any other rename goes through untouched. The chain ends at the first file missing from
 * it (readers stop there too).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char log_path[4096];
static int max_file;
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
    }
  }
  unsetenv("BERTH_LOG_PATH");
  unsetenv("BERTH_LOG_MAX_FILE");
  unsetenv("LD_PRELOAD");
}

/* Whether `from` is `<log>.tmp` and `to` is `<log>`: conmon starting its log afresh. */
static int starts_afresh(const char *from, const char *to) {
  size_t len = strlen(log_path);
  return max_file > 1 && from && to && strcmp(to, log_path) == 0 && strncmp(from, log_path, len) == 0 &&
         strcmp(from + len, ".tmp") == 0;
}

int rename(const char *from, const char *to) {
  if (!next_rename) next_rename = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
  if (!next_rename) {
    errno = ENOSYS;
    return -1;
  }
  if (starts_afresh(from, to)) {
    int saved = errno;
    char older[4200], newer[4200];
    /* Only the chain there is moves along: `.1` … `.k` (k the last one present, at most
     * N-1), so a large N costs no renames of files that do not exist. */
    int top = 1;
    while (top < max_file - 1) {
      snprintf(older, sizeof older, "%s.%d", log_path, top);
      if (access(older, F_OK) != 0) break;
      top++;
    }
    for (int i = top; i >= 1; i--) {
      if (i == 1)
        snprintf(newer, sizeof newer, "%s", log_path);
      else
        snprintf(newer, sizeof newer, "%s.%d", log_path, i - 1);
      snprintf(older, sizeof older, "%s.%d", log_path, i);
      next_rename(newer, older);
    }
    errno = saved;
  }
  return next_rename(from, to);
}
