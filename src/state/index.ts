export { writeFileAtomic, writeJSONAtomic, readJSON, fsyncDir } from './atomic';
export { KeyedMutex } from './mutex';
