/** `pgbulk load --help` as a fenced Markdown block. */
export function usageBlock(): Promise<string>
/** README text with the block between the CLI usage markers replaced. */
export function replaceUsage(text: string, block: string): string
