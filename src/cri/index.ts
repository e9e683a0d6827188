export { CriServer, type CriServerOptions } from './server';
export { SpdySession, SpdyStream, SPDY_DICTIONARY } from './spdy';
