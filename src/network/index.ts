export { LoopbackNetwork, containerResolvConf, type LoopbackAttachment, type NetworkFiles } from './loopback';
export { CniNetwork, type CniAttachment, type CniPortMapping, type CniResult } from './cni';
