export { startDashboard, defaultAssetsDir } from './server';
export type { Dashboard, DashboardOptions } from './server';
export { ROUTES, matchRoute } from './allow-list';
export type { Route } from './allow-list';
export { negotiateVersion, pickVersion } from './negotiate';
