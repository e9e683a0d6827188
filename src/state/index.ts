export { writeFileAtomic, writeJSONAtomic, readJSON, fsyncDir, fsyncFd } from './atomic';
export { KeyedMutex } from './mutex';
export { deleteInBackground } from './background-delete';
