export { writeFileAtomic, writeJSONAtomic, readJSON, fsyncDir, fsyncFd } from './atomic';
export { KeyedMutex } from './mutex';
