export { LoopbackNetwork, containerResolvConf, type LoopbackAttachment, type NetworkFiles } from './loopback';
