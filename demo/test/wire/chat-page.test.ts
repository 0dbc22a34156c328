/**
 * The dev demo page in real headless Chromium against a real gateway in dev
 * mode: two users in two browser contexts log in with dev tokens, exchange
 * private and group messages, see acks, read receipts and membership changes,
 * and one of them goes offline and catches up. A gateway without dev mode
 * serves none of it.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startGateway, type RunningGateway } from '../../../gateway/test/support/gateway.ts';
import { buildSdk, ChatPage, launchChromium, sequenceOf } from '../browser.ts';

describe('demo page in headless Chromium, one dev gateway', () => {
  let browser: Browser;
  let gw: RunningGateway;
  const pages: ChatPage[] = [];
  const logIn = async (user: string, device: string, heartbeatMs?: number): Promise<ChatPage> => {
    const chat = await ChatPage.logIn(browser, gw.httpUrl, user, device, heartbeatMs);
    pages.push(chat);
    return chat;
  };
  const join = async (group: string, user: string): Promise<void> => {
    const res = await fetch(`${gw.httpUrl}/v1/groups/${group}/members/${user}`, { method: 'PUT', headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(201);
  };

  beforeAll(async () => {
    buildSdk();
    browser = await launchChromium();
    gw = await startGateway({ DEV_MODE: 'true' });
  }, 120_000);
  afterAll(async () => {
    await Promise.allSettled(pages.map((p) => p.close()));
    await browser?.close();
    await gw?.stop();
  });

  it('exchanges private and group messages with acks, read receipts, membership changes and an offline catch-up', async () => {
    const alice = await logIn('alice', 'laptop');
    // A short client heartbeat: an offline socket is noticed after three silent intervals.
    const bob = await logIn('bob', 'phone', 1000);
    await alice.page.locator('#whoami', { hasText: 'alice on laptop' }).waitFor();

    // Private: pending -> delivered with a sequence number; content rendered as text, never as HTML.
    const markup = '<img src=x onerror="window.injected=1"> hello bob';
    await alice.openChat('user', 'bob');
    await alice.send(markup);
    const first = sequenceOf(await alice.status(markup, /^delivered #\d+$/));
    // Unread until Bob opens the conversation.
    await bob.conversationButton('@ alice').locator('.unread', { hasText: /^1$/ }).waitFor();
    await bob.select('@ alice');
    await bob.message(markup).waitFor();
    expect(await bob.conversationButton('@ alice').locator('.unread').innerText()).toBe('');
    expect(await bob.message(markup).locator('.sender').innerText()).toBe('alice');
    expect(await bob.page.locator('#messages img').count()).toBe(0);
    expect(await bob.page.evaluate('window.injected')).toBeUndefined();

    // Bob has the conversation open: the page marks it read and Alice sees the receipt.
    await alice.status(markup, /read by bob/);
    await alice.activity(`bob read up to your message #${first} in @ bob`);
    await bob.send('hi alice');
    const reply = sequenceOf(await bob.status('hi alice', /^delivered #\d+/));
    expect(reply).toBeGreaterThan(first);
    await alice.message('hi alice').waitFor();
    await bob.status('hi alice', /read by alice/);

    // A user who never connected: the message is kept and acked offline.
    await alice.openChat('user', 'carol');
    await alice.send('for carol later');
    await alice.status('for carol later', /^offline #\d+$/);

    // Group: membership changes reach the members' pages, then a group message and its acks.
    await join('team', 'alice');
    await join('team', 'bob');
    await alice.activity('bob joined team');
    await bob.activity('you joined team');
    await alice.select('# team');
    await alice.shows('bob joined team');
    await alice.send('hello team');
    await alice.status('hello team', /^delivered #\d+/);
    await bob.select('# team');
    await bob.message('hello team').waitFor();
    expect(await bob.message('hello team').locator('.sender').innerText()).toBe('alice');

    // A group the sender is not in: the send fails with the spec's error code and says so.
    await alice.openChat('group', 'strangers');
    await alice.send('let me in');
    await alice.status('let me in', /^failed: INVALID_RECIPIENT$/);

    // Bob goes offline: his page notices, keeps what he writes pending, and catches up when the network is back.
    await bob.select('@ alice');
    await alice.select('@ bob');
    await bob.context.setOffline(true);
    await bob.notConnected();
    await alice.send('while you were away');
    await alice.status('while you were away', /^(delivered|offline) #\d+$/);
    await bob.send('written offline');
    await bob.status('written offline', /^pending$/);
    await bob.context.setOffline(false);
    // The page was seen disconnected above: connected again is the reconnect.
    await bob.state('connected', /reconnect/, 20_000);
    await bob.status('written offline', /^delivered #\d+/);
    await bob.message('while you were away').waitFor();
    await alice.message('written offline').waitFor();
    // Nothing is shown twice after the reconnect.
    for (const content of [markup, 'hi alice', 'while you were away', 'written offline']) {
      expect(await bob.message(content).count(), content).toBe(1);
    }
    await bob.activity(/reconnecting/);

    if (process.env.DEMO_SCREENSHOT !== undefined) {
      mkdirSync(dirname(process.env.DEMO_SCREENSHOT), { recursive: true });
      await alice.page.screenshot({ path: process.env.DEMO_SCREENSHOT });
    }
    expect(alice.errors).toEqual([]);
    expect(bob.errors).toEqual([]);
  }, 90_000);

  it('shows a login error for an id the gateway refuses and mints nothing for it', async () => {
    const res = await fetch(`${gw.httpUrl}/demo/token?user_id=${encodeURIComponent('bad id')}&device_id=d`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error_code: string }).error_code).toBe('INVALID_MESSAGE_FORMAT');

    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${gw.httpUrl}/demo/`);
    // The form's own pattern stops a bad id first; without it the gateway's answer is shown.
    await page.evaluate(`document.querySelector('#login input[name=user]').removeAttribute('pattern')`);
    await page.fill('#login input[name=user]', 'bad id');
    await page.click('#login button');
    await page.locator('#login-error', { hasText: 'INVALID_MESSAGE_FORMAT' }).waitFor();
    expect(await page.locator('#chat').isHidden()).toBe(true);
    await context.close();
  });
});

describe('demo token endpoint with a key the gateway cannot sign with', () => {
  it('refuses to mint in dev mode when tokens are verified with a public key', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const gw = await startGateway({ DEV_MODE: 'true', JWT_SECRET: '', JWT_PUBLIC_KEY: pem });
    try {
      const res = await fetch(`${gw.httpUrl}/demo/token?user_id=alice&device_id=d`);
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error_code: string }).error_code).toBe('DEV_TOKENS_DISABLED');
    } finally {
      await gw.stop();
    }
  });
});

describe('demo page outside dev mode', () => {
  it('answers 404 for the page, the SDK and the token endpoint', async () => {
    const gw = await startGateway();
    try {
      for (const path of ['/demo/', '/demo/index.html', '/demo/app.js', '/demo/sdk/index.js', '/demo/token?user_id=alice&device_id=d']) {
        const res = await fetch(`${gw.httpUrl}${path}`);
        expect(res.status, path).toBe(404);
        expect(await res.json(), path).toEqual({ error_code: 'NOT_FOUND', error_message: 'no such endpoint' });
      }
    } finally {
      await gw.stop();
    }
  });
});
