/** The operator logs as the gateway does: JSON lines. */
export { createLogger, errorText, type Logger } from '../../gateway/src/operator-contract.ts';
