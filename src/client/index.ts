export * from './host';
export * from './errors';
export * from './transport';
export * from './streams';
export * from './engine-client';
