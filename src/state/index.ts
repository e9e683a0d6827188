export { writeFileAtomic, writeJSONAtomic, readJSON, fsyncDir } from './atomic';
