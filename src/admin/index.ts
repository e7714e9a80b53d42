export {ADMIN_NEEDS_TOKEN, assertAdminConfig} from './config.js'
export {ADMIN_API_PREFIX, ADMIN_PAGE_DIR, ADMIN_PAGE_PREFIX, adminRoutes, type AdminRoutesOptions} from './routes.js'
export {providerRun} from './run.js'
export {
  ADMIN_DEFAULT_PROVIDER,
  AdminError,
  AdminService,
  type AdminConfig,
  type AdminRun,
  type AdminRunRequest,
  type AdminServiceOptions,
  type ProviderSummary,
  type TestReport,
  type TryRequest,
  type TryResult,
} from './service.js'
