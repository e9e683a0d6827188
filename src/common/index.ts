export * from './errors';
export * from './log';
export * from './ids';
export * from './streams';
export * from './filters';
