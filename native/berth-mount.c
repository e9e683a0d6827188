/*
 * berth-mount.so: mount(2) from another working directory, loaded into berthd (koffi).
 *
 * overlayfs keeps its layer paths as given and writes them back into every line of
 * /proc/<pid>/mountinfo. runc reads that file four times per container (runc create twice,
 * runc init twice), and the kernel formats each line anew at every read, escaping each byte:
 * with 500 containers mounted and absolute paths that was 270 KB and 6 ms per read. Paths
 * relative to the snapshot's own directory cut a line by half.
 *
 * Relative paths are resolved against the caller's cwd. berthd must not chdir (its other
 * threads resolve paths too), so the mount runs in a short thread of its own that first
 * unshares its fs_struct (cwd, root, umask: CLONE_FS) from the process, then changes
 * directory and mounts. The thread's copy goes with it.
 *
 * berth_mount_in(dir, source, target, fstype, flags, data) returns 0 or the errno of the
 * step that failed (unshare, chdir or mount), or pthread_create's error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

struct job {
  const char *dir, *source, *target, *fstype, *data;
  unsigned long flags;
  int err;
};

static void *run(void *arg) {
  struct job *j = arg;
  if (unshare(CLONE_FS) < 0 || chdir(j->dir) < 0 || mount(j->source, j->target, j->fstype, j->flags, j->data) < 0) j->err = errno;
  return NULL;
}

int berth_mount_in(const char *dir, const char *source, const char *target, const char *fstype, unsigned long flags, const char *data) {
  struct job j = { dir, source, target, fstype, data, flags, 0 };
  pthread_t t;
  int rc = pthread_create(&t, NULL, run, &j);
  if (rc != 0) return rc;
  pthread_join(t, NULL);
  return j.err;
}
