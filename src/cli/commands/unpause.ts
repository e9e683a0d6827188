export { unpauseCommand } from './pause';
