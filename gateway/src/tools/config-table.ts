/**
 * Writes the README's "Configuration" table from the config table
 * (config/config.ts), the one home of every variable's default, bounds and
 * meaning:
 *   npm run config:readme
 * config.test.ts fails when the README and the table differ.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { configTable } from '../config/config.ts';

const README = new URL('../../../README.md', import.meta.url);
const SECTION = '\n## Configuration\n';
const HEADER = '| Variable | Default |';

/** The README text with its configuration table replaced by the one the config table gives. */
export function withConfigTable(readme: string): string {
  const start = readme.indexOf(HEADER, readme.indexOf(SECTION));
  if (readme.indexOf(SECTION) === -1 || start === -1) throw new Error(`README.md has no configuration table (a line starting "${HEADER}" under "## Configuration")`);
  const end = readme.indexOf('\n\n', start);
  return readme.slice(0, start) + configTable() + (end === -1 ? '\n' : readme.slice(end));
}

export function readReadme(): string {
  return readFileSync(README, 'utf8');
}

if (import.meta.main) {
  writeFileSync(README, withConfigTable(readReadme()));
  console.log('README.md: configuration table written');
}
