export * from './errors';
export * from './log';
export * from './ids';
export * from './streams';
export * from './env';
export * from './compression';
export * from './reference';
export * from './filters';
