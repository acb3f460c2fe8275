/** `pgbulk load --help` and `pgbulk redrive --help` as fenced Markdown blocks. */
export function usageBlock(): Promise<string>
/** README text with the block between the CLI usage markers replaced. */
export function replaceUsage(text: string, block: string): string
