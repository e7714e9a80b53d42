/** The languages the engine runs: the registry lives in src/languages/ (kept here for existing importers). */
export * from '../languages/index.js'
