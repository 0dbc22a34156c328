/**
 * Real headless Chromium driving the demo page, and the SDK build the page
 * imports. No browser is downloaded: Chromium is the system package that
 * `npm run e2e:setup` installs (CHROMIUM_PATH overrides its path).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SDK_ENTRY = `${ROOT}client/dist/index.js`;
const SDK_SOURCES = `${ROOT}client/src/`;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Builds the client SDK (the page imports its output from `/demo/sdk/`) when its
 * sources are newer than the build, and fails clearly when there is none.
 * `npm test` builds it before the suite, so test files do not rebuild it under
 * each other's pages.
 */
export function buildSdk(): void {
  const scripts = (JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { scripts: Record<string, string> }).scripts;
  if (scripts['client:build'] !== undefined && newestSource() > builtAt()) {
    execFileSync('npm', ['run', '-s', 'client:build'], { cwd: ROOT, stdio: 'inherit' });
  }
  if (!existsSync(SDK_ENTRY)) {
    throw new Error(`the demo page imports the client SDK from ${SDK_ENTRY}, which does not exist: build it with \`npm run client:build\``);
  }
}

function newestSource(): number {
  if (!existsSync(SDK_SOURCES)) return 0;
  const files = readdirSync(SDK_SOURCES, { recursive: true, encoding: 'utf8' });
  return Math.max(0, ...files.map((f) => statSync(`${SDK_SOURCES}${f}`).mtimeMs));
}

function builtAt(): number {
  return existsSync(SDK_ENTRY) ? statSync(SDK_ENTRY).mtimeMs : -1;
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: run \`npm run e2e:setup\` (apt-get install chromium) or set CHROMIUM_PATH`);
  // Root in a container has no user namespaces for Chromium's sandbox.
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

/** How long a wait on the page lasts by default: generous, as the suite shares the machine's cores. */
const WAIT = 15_000;

/** One browser context (its own cookies, its own network) with the demo page logged in as one user. */
export class ChatPage {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Uncaught exceptions in the page: a test ends by expecting none. */
  readonly errors: string[] = [];

  private constructor(context: BrowserContext, page: Page) {
    this.context = context;
    this.page = page;
    page.on('pageerror', (err) => this.errors.push(err.message));
  }

  /** Opens `/demo/` at `baseUrl` and logs in through the form. `heartbeatMs` is the page's client heartbeat. */
  static async logIn(browser: Browser, baseUrl: string, user: string, device: string, heartbeatMs = 30_000): Promise<ChatPage> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    const chat = new ChatPage(context, await context.newPage());
    await chat.page.goto(`${baseUrl}/demo/?heartbeat_ms=${heartbeatMs}`);
    await chat.page.fill('#login input[name=user]', user);
    await chat.page.fill('#login input[name=device]', device);
    await chat.page.click('#login button');
    await chat.state('connected');
    return chat;
  }

  /** Waits until the connection badge shows `state` (and `text`, when given). */
  async state(state: string, text?: RegExp, timeout = WAIT): Promise<void> {
    await this.page.locator(`#connection[data-state="${state}"]`, text === undefined ? {} : { hasText: text }).waitFor({ timeout });
  }

  async notConnected(timeout = WAIT): Promise<void> {
    await this.page.locator('#connection:not([data-state="connected"])').waitFor({ timeout });
  }

  /** Opens a conversation through the "new chat" form. */
  async openChat(kind: 'user' | 'group', id: string): Promise<void> {
    await this.page.fill('#new-chat input[name=peer]', id);
    await this.page.selectOption('#new-chat select[name=kind]', kind);
    await this.page.click('#new-chat button');
    await this.page.locator('#conversation-title', { hasText: id }).waitFor();
  }

  /** Selects a conversation from the list, waiting until it is there (built from an incoming message). */
  async select(title: string, timeout = WAIT): Promise<void> {
    const button = this.conversationButton(title);
    await button.waitFor({ timeout });
    await button.click();
  }

  conversationButton(title: string): Locator {
    return this.page.locator('#conversations button', { has: this.page.locator('.name', { hasText: title }) });
  }

  async send(content: string): Promise<void> {
    await this.page.fill('#composer input[name=content]', content);
    await this.page.press('#composer input[name=content]', 'Enter');
  }

  /** The open conversation's messages whose content contains `content`. */
  message(content: string): Locator {
    return this.page.locator('#messages li.msg', { has: this.page.locator('.content', { hasText: content }) });
  }

  /** Waits until the own message `content` shows a status matching `status`; returns the status text. */
  async status(content: string, status: RegExp, timeout = WAIT): Promise<string> {
    const node = this.message(content).locator('.status', { hasText: status });
    await node.waitFor({ timeout });
    return node.innerText();
  }

  async shows(text: string, timeout = WAIT): Promise<void> {
    await this.page.locator('#messages li', { hasText: text }).first().waitFor({ timeout });
  }

  async activity(text: string | RegExp, timeout = WAIT): Promise<void> {
    await this.page.locator('#activity li', { hasText: text }).first().waitFor({ timeout });
  }

  close(): Promise<void> {
    return this.context.close();
  }
}

/** The sequence number in a status text such as `delivered #7 · read by bob`. */
export function sequenceOf(status: string): number {
  const match = /#(\d+)/.exec(status);
  if (match === null) throw new Error(`no sequence number in status "${status}"`);
  return Number(match[1]);
}
