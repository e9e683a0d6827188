/*
 * berth-monns: starts a container's monitor (conmon) in a mount namespace of its own
 * that holds none of the other containers' mounts.
 *
 *   berth-monns [--detach DIR]... [--keep PATH]... [--setenv NAME=VALUE]... -- PROGRAM ARG...
 *
 * runc reads /proc/self/mountinfo four times per container it creates, and the kernel
 * formats every line of it anew at each read. In berthd's namespace each running
 * container adds its root file system's overlay and the bind mount that holds its
 * network namespace, so with 500 running a start cost runc about twice what it cost
 * with none. Here, in a copy of the caller's namespace:
 *   1. every mount becomes a slave: mounts the host makes later still reach this copy (a
 *      container's rslave binds need them), nothing made here goes back to the host;
 *   2. each PATH that is a mount point below a DIR is cloned (open_tree);
 *   3. each DIR, a mount point of its own (berthd binds the container roots' dir and the
 *      network namespaces' dir onto themselves), is detached with everything below it,
 *      in one call, which uncovers the same directories of the file system beneath;
 *   4. the clones are attached again at their paths (move_mount);
 * then PROGRAM is executed, with each NAME=VALUE added to its environment (set here rather
 * than in this program's own, so that an LD_PRELOAD meant for PROGRAM is not loaded into
 * this one first). A DIR that is not a mount point is left alone, and so are
 * the PATHs below it. Failing before anything was detached, it goes on in the copy as it
 * is (the mounts are all there, only more of them); failing to attach a clone again, it
 * exits 127 with the reason on stderr, as the container's root would be missing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif

#define MAX_PATHS 16

struct keep {
  const char *path;
  int dir;   /* index into dirs, or -1 */
  int fd;    /* the clone, or -1 */
};

static int below(const char *path, const char *dir) {
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') n--;
  return strncmp(path, dir, n) == 0 && path[n] == '/';
}

static int mount_root(const char *path) {
  struct statx st;
  if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &st) != 0) return 0;
  return (st.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (st.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

static void usage(void) {
  fprintf(stderr, "usage: berth-monns [--detach DIR]... [--keep PATH]... [--setenv NAME=VALUE]... -- PROGRAM ARG...\n");
  exit(127);
}

int main(int argc, char **argv) {
  const char *dirs[MAX_PATHS];
  int detached[MAX_PATHS];
  struct keep keeps[MAX_PATHS];
  int ndirs = 0, nkeeps = 0, i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    }
    if (i + 1 >= argc) usage();
    if (strcmp(argv[i], "--detach") == 0 && ndirs < MAX_PATHS) {
      detached[ndirs] = 0;
      dirs[ndirs++] = argv[++i];
    } else if (strcmp(argv[i], "--setenv") == 0 && strchr(argv[i + 1], '=') != NULL) {
      if (putenv(argv[++i]) != 0) usage();
    } else if (strcmp(argv[i], "--keep") == 0 && nkeeps < MAX_PATHS) {
      keeps[nkeeps].path = argv[++i];
      keeps[nkeeps].dir = -1;
      keeps[nkeeps++].fd = -1;
    } else {
      usage();
    }
  }
  if (i >= argc) usage();
  char **prog = argv + i;

  if (unshare(CLONE_NEWNS) != 0) {
    fprintf(stderr, "berth-monns: unshare(CLONE_NEWNS): %s\n", strerror(errno));
    goto run;
  }
  if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) != 0) {
    fprintf(stderr, "berth-monns: making / a slave: %s\n", strerror(errno));
    goto run;
  }
  for (int d = 0; d < ndirs; d++) {
    if (!mount_root(dirs[d])) continue;
    int clones_ok = 1;
    for (int k = 0; k < nkeeps; k++) {
      if (!below(keeps[k].path, dirs[d]) || keeps[k].dir >= 0) continue;
      keeps[k].dir = d;
      if (!mount_root(keeps[k].path)) continue; /* a plain directory stays as it is */
      keeps[k].fd = (int)syscall(SYS_open_tree, AT_FDCWD, keeps[k].path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
      if (keeps[k].fd < 0) {
        fprintf(stderr, "berth-monns: open_tree %s: %s\n", keeps[k].path, strerror(errno));
        clones_ok = 0;
      }
    }
    if (!clones_ok) continue;
    if (umount2(dirs[d], MNT_DETACH) == 0) {
      detached[d] = 1;
    } else {
      fprintf(stderr, "berth-monns: detaching %s: %s\n", dirs[d], strerror(errno));
    }
  }
  for (int k = 0; k < nkeeps; k++) {
    if (keeps[k].dir < 0 || keeps[k].fd < 0 || !detached[keeps[k].dir]) continue;
    if (syscall(SYS_move_mount, keeps[k].fd, "", AT_FDCWD, keeps[k].path, MOVE_MOUNT_F_EMPTY_PATH) != 0) {
      fprintf(stderr, "berth-monns: attaching %s again: %s\n", keeps[k].path, strerror(errno));
      return 127;
    }
    close(keeps[k].fd);
  }

run:
  execv(prog[0], prog);
  fprintf(stderr, "berth-monns: exec %s: %s\n", prog[0], strerror(errno));
  return 127;
}
