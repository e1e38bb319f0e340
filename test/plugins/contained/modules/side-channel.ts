import fs from 'node:fs'
import { threadId } from 'node:worker_threads'

/**
 * What the containment fixtures report to the test: one line `<what> <thread id>` appended to the
 * file named by RECV_TEST_PLUGIN_LOG (set before the app and its pool start). Thread 0 is the main
 * thread.
 */
export function report(what: string): void {
  const file = process.env.RECV_TEST_PLUGIN_LOG
  if (file) fs.appendFileSync(file, `${what} ${threadId}\n`)
}
