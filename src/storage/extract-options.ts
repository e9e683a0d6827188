/** What `docker cp` extractions are given (ContainerFs.extract), as plain data: it travels to a worker thread. */

/** A volume or bind mount of the container, as cp sees it. */
export interface FsMount {
  /** Absolute, clean container path. */
  destination: string;
  /** Host path of what is mounted there. */
  source: string;
  rw: boolean;
}

/** One contiguous range of a user-namespace id map (runtime's IdMap, as plain data: it travels to a worker thread). */
export interface IdRange {
  containerID: number;
  hostID: number;
  size: number;
}

export interface ExtractOptions {
  /** Refuse to replace a directory with a non-directory or the reverse (dockerd's noOverwriteDirNonDir). */
  noOverwriteDirNonDir: boolean;
  /** Owner of every extracted entry (copyUIDGID), as the container sees it; the tar's owners when absent. */
  owner?: { uid: number; gid: number };
  /** Container ids → host ids (user-namespace remapping); identity when absent. */
  idMap?: { uids: readonly IdRange[]; gids: readonly IdRange[] };
  /** Longest entry name or link target, in bytes. Default 4096. */
  maxPathLength?: number;
  /**
   * Host path of a journal file: the container path of each directory that gets
   * temporary names is appended to it (one a line) before the first such name is made,
   * so that those a crash leaves behind can be removed later (removeLeftovers).
   */
  journal?: string;
}
