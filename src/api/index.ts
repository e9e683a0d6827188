export { ApiServer, buildRouter } from './server';
export { STATUS, statusOf } from './errors';
export { specFromDocker } from './container-request';
export { parseDetachKeys, DEFAULT_DETACH_KEYS } from './detach-keys';
