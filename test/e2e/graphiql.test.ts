import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, startTestGateway, uniqueTenant, type TestGateway } from '../support/gateway.js';
import { createShopSchemas } from '../support/segments.js';

function chromiumPath(): string | null {
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

const executablePath = chromiumPath();
// CI installs Debian's chromium; a developer machine without it skips this file.
const describeWithBrowser = executablePath ? describe : describe.skip;

let gw: TestGateway;
let browser: Browser;
let key: string;

describeWithBrowser('GraphiQL in a real browser', () => {
  beforeAll(async () => {
    gw = await startTestGateway();
    const keys = await gw.tenantWithKeys(uniqueTenant('browser'));
    key = keys.editor;
    const schemas = await createShopSchemas(gw.url, key);
    await gql(gw.url, key, 'mutation($input: CreateSegmentInput!) { createSegment(input: $input) { segment { id } } }', {
      input: { name: 'seen_in_the_browser', baseSchemaId: schemas.customers },
    });
    browser = await chromium.launch({
      executablePath: executablePath!,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await gw?.close();
  });

  it('runs a segments query with the key set in the headers editor', async () => {
    const page = await browser.newPage();
    await page.goto(`${gw.url}/graphql`);
    await page.waitForSelector('.graphiql-container', { timeout: 30_000 });

    // Headers tab: type the key header into its editor.
    await page.getByRole('tab', { name: 'Headers' }).or(page.getByText('Headers', { exact: true })).first().click();
    const headersEditor = page.locator('.graphiql-editor-tool .monaco-editor, .graphiql-editor-tool .graphiql-editor').last();
    await headersEditor.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Backspace');
    await page.keyboard.type(`{"Authorization": "Bearer ${key}"`);

    // Query editor: replace the welcome query.
    const queryEditor = page.locator('.graphiql-query-editor .monaco-editor, .graphiql-query-editor').first();
    await queryEditor.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Backspace');
    await page.keyboard.type('{ segments(first: 5) { totalCount edges { node { name customerCount');

    // The editor opens its completion popup asynchronously, sometimes after a
    // first Escape; it would swallow the click on the run button. Close it until
    // it stays closed, then run.
    const suggestions = page.locator('.suggest-widget.visible');
    await expect
      .poll(
        async () => {
          await page.keyboard.press('Escape');
          await page.waitForTimeout(200);
          return suggestions.count();
        },
        { timeout: 20_000 },
      )
      .toBe(0);
    await page.locator('.graphiql-execute-button').click();
    const response = page.locator('.graphiql-response');
    await expect.poll(async () => response.innerText(), { timeout: 20_000 }).toContain('seen_in_the_browser');
    const text = (await response.innerText()).replace(/\s+/g, ' ');
    expect(text).toMatch(/"totalCount": 1/);

    const out = path.resolve('test-results');
    await mkdir(out, { recursive: true });
    await page.screenshot({ path: path.join(out, 'graphiql.png'), fullPage: true });
  }, 90_000);
});
