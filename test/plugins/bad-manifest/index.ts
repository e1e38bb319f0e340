import { chartOfAccounts } from '../coa-partner'

/** A working module behind an invalid manifest: refused at discovery all the same. */
export { chartOfAccounts }
