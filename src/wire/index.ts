export * from './stream';
export * from './types';
export * from './json-lines';
export * from './system-info';
export * from './human';
export * from './progress';
