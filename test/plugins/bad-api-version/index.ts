import { chartOfAccounts } from '../coa-partner'

/** A working module for a contract version the core does not support: refused at discovery. */
export { chartOfAccounts }
